//===- Pipelines.cpp - named pass pipelines --------------------------------===//
#include "dualpipe/Conversion/Passes.h"
#include "dualpipe/Transforms/Passes.h"

#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/ErrorHandling.h"

using namespace mlir;

/// Upstream pass names are stable across releases where their C++ factory
/// names are not, so the upstream part of each pipeline is spelled as text.
static void appendTextual(OpPassManager &pm, llvm::StringRef text) {
  if (failed(parsePassPipeline(text, pm, llvm::errs())))
    llvm::report_fatal_error("dualpipe: a built-in pass pipeline failed to "
                             "parse; is every upstream pass registered?");
}

void dualpipe::buildCpuLoweringPipeline(OpPassManager &pm) {
  // Math: LLVM intrinsics first (rsqrt becomes 1/sqrt; libm has no rsqrtf),
  // libm calls for what LLVM has no intrinsic for (erf).
  pm.addPass(createDualPipeLowerCommToRuntime());
  appendTextual(pm, "convert-bufferization-to-memref,"
                    "func.func(convert-linalg-to-loops),lower-affine,"
                    "convert-scf-to-cf,expand-strided-metadata,"
                    "convert-math-to-llvm,convert-math-to-libm,"
                    "finalize-memref-to-llvm,convert-arith-to-llvm,"
                    "convert-index-to-llvm,convert-func-to-llvm,"
                    "convert-cf-to-llvm,reconcile-unrealized-casts");
  pm.addPass(createDualPipeEmitPackedEntryPoints());
  pm.addPass(createDualPipeStripAnnotations());
}

void dualpipe::buildForwardCpuPipeline(OpPassManager &pm) {
  pm.addPass(createDualPipePartition());
  appendTextual(pm, "one-shot-bufferize{bufferize-function-boundaries "
                    "function-boundary-type-conversion=identity-layout-map}");
  pm.addPass(createDualPipeBuildForwardPrograms());
  appendTextual(pm, "buffer-deallocation-pipeline,canonicalize");
  buildCpuLoweringPipeline(pm);
}

void dualpipe::registerDualPipePipelines() {
  PassPipelineRegistration<>(
      "dualpipe-lower-to-llvm-cpu",
      "Lower bufferized per-rank programs to LLVM-dialect IR for the CPU",
      [](OpPassManager &pm) { buildCpuLoweringPipeline(pm); });
  PassPipelineRegistration<>(
      "dualpipe-forward-cpu",
      "Walking skeleton: model with stage markers to per-rank forward "
      "programs in LLVM-dialect IR for the CPU",
      [](OpPassManager &pm) { buildForwardCpuPipeline(pm); });
}
