//===- InitAll.h - everything a dualpipe tool registers ---------*- C++ -*-===//
//
// The one registration every tool uses: the dialects a model and its
// lowering may contain (upstream's, with their extensions, interfaces and
// LLVM IR translations, and the dualpipe dialect with its LLVM lowering
// interface), and every pass and named pipeline.
//
//===----------------------------------------------------------------------===//
#ifndef DUALPIPE_INITALL_H
#define DUALPIPE_INITALL_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace dualpipe {

/// Inserts every dialect, extension, interface and LLVM IR translation a
/// dualpipe compile uses into `registry`.
void registerAllDialects(mlir::DialectRegistry &registry);

/// Registers upstream's passes, every dualpipe pass and the named
/// pipelines (Pipelines.h) with the global pass registry.
void registerAllPasses();

} // namespace dualpipe

#endif // DUALPIPE_INITALL_H
