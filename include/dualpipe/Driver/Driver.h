//===- Driver.h - compile a model into a step library and manifest -*- C++ -*-===//
//
// What dualpipe-compile does, as a library: run the pass chain of
// Pipelines.h on a model (and on a copy of it for the single-device
// reference), read the manifest off the tensor-level IR, translate to LLVM
// IR, generate object code and link OUTDIR/step.so beside
// OUTDIR/manifest.json.
//
//===----------------------------------------------------------------------===//
#ifndef DUALPIPE_DRIVER_DRIVER_H
#define DUALPIPE_DRIVER_DRIVER_H

#include "dualpipe/Pipelines/Pipelines.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/LLVM.h"

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace dualpipe {

/// What a compile produces.
enum class EmitKind {
  Library, ///< OUTDIR/step.so + OUTDIR/manifest.json (+ schedule, memory plan)
  Mlir,    ///< the IR after the chain (or the stop point), on the output stream
  Llvm,    ///< the LLVM IR, on the output stream
};

/// Wall time per phase of a compile, for dualpipe-compile --time-phases.
class PhaseTimer {
public:
  /// Adds the time since the last mark (or the start) to `name`.
  void mark(const std::string &name);
  /// "dualpipe-compile: phase times (wall s): parse 0.01; ...; total 1.23".
  std::string summary() const;

private:
  std::vector<std::pair<std::string, double>> phases;
  std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
};

/// A whole compile.
struct CompileOptions {
  /// The training step; ignored for the forward-only skeleton.
  StepOptions step;
  /// The walking skeleton: forward only, one micro-batch, cut at the
  /// model's markers on `step.ranks` ranks (0: one per stage).
  bool forwardOnly = false;
  EmitKind emit = EmitKind::Library;
  std::string outDir;
  /// Target CPU of the object code (empty: the host's).
  std::string cpu;
  /// Threads for LLVM optimization and code generation (the module split
  /// into that many parts); 1 keeps one module and one object file.
  unsigned jobs = 1;
  /// Called on every pass manager before it runs (timing, IR printing).
  std::function<void(mlir::PassManager &)> instrument;
  /// Where phase times are marked (may be null).
  PhaseTimer *timer = nullptr;
};

/// What a successful compile reports.
struct CompileResult {
  int64_t numStages = 0, numRanks = 0;
  std::string library, manifest; ///< Paths written (EmitKind::Library).
};

/// Compiles `module` (parsed, in the input contract) as `options` say.
/// Diagnostics go to the context's handler, tool-level errors to
/// llvm::errs() as "dualpipe-compile: error: ...". IR and LLVM IR go to
/// `out`.
mlir::FailureOr<CompileResult> compileModel(mlir::ModuleOp module,
                                            const CompileOptions &options,
                                            llvm::raw_ostream &out);

/// Prints "dualpipe-compile: error: <message>" and returns failure().
mlir::LogicalResult compileError(const llvm::Twine &message);

} // namespace dualpipe

#endif // DUALPIPE_DRIVER_DRIVER_H
