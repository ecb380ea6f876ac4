//===- CudaPipeline.cpp - the cuda target's lowering pipeline ------------===//
//
// Bufferized per-rank programs to LLVM-dialect IR whose kernels are an sm_90
// cubin in a gpu.binary. What each step does and why: docs/cuda.md.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"

#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/ErrorHandling.h"

using namespace mlir;

static void appendCudaText(OpPassManager &pm, const std::string &text) {
  if (failed(parsePassPipeline(text, pm, llvm::errs())))
    llvm::report_fatal_error("dualpipe: the cuda pass pipeline failed to "
                             "parse; is every upstream pass registered?");
}

void dualpipe::buildCudaLoweringPipeline(OpPassManager &pm,
                                         const CudaLoweringOptions &options) {
  // Copies become linalg.copy, all-reduces host calls.
  pm.addPass(createDualPipeCudaPrepare());
  // f32/f64 matmuls with a unit stride become cuBLAS calls (given the
  // kernels' stream after gpu-async-region below); the rest are kernels.
  {
    DualPipeLowerGemmToRuntimeOptions gemm;
    gemm.target = "cuda";
    pm.addPass(createDualPipeLowerGemmToRuntime(gemm));
  }
  // linalg on memrefs -> scf.parallel -> tiles of 16x16 threads -> gpu.launch
  // -> outlined kernels; then tokens: every kernel launch and every
  // send/recv becomes async on the function's stream, with a host wait
  // before each remaining host operation that has side effects.
  appendCudaText(pm,
                 "convert-bufferization-to-memref,"
                 "func.func(convert-linalg-to-parallel-loops,"
                 "scf-parallel-loop-tiling{parallel-loop-tile-sizes=16,16 "
                 "no-min-max-bounds=true},"
                 "gpu-map-parallel-loops,convert-parallel-loops-to-gpu),"
                 "gpu-kernel-outlining");
  // One gpu.module (one ptxas run, one cubin) for all kernels.
  pm.addPass(createDualPipeCudaMergeKernelModules());
  appendCudaText(pm, "func.func(gpu-async-region)");
  pm.addPass(createDualPipeCudaGemmOnStream());
  // Host allocations become managed memory.
  pm.addPass(createDualPipeCudaManagedMemory());
  // Kernels to NVVM, host to LLVM (gpu-to-llvm lowers the tokens, the
  // launches and, through our ConvertToLLVMPatternInterface, send/recv),
  // then the kernels to a cubin with ptxas.
  appendCudaText(
      pm, "lower-affine,convert-scf-to-cf,"
          "nvvm-attach-target{chip=" + options.chip + " features=" +
              options.features + " O=3},"
          "gpu.module(convert-gpu-to-nvvm,canonicalize,cse,"
          "reconcile-unrealized-casts),"
          "func.func(convert-math-to-llvm),convert-math-to-libm,"
          "expand-strided-metadata,"
          "gpu-to-llvm,"
          "gpu-module-to-binary{format=bin toolkit=" + options.toolkit + "},"
          "finalize-memref-to-llvm,convert-arith-to-llvm,"
          "convert-index-to-llvm,convert-func-to-llvm,convert-cf-to-llvm,"
          "reconcile-unrealized-casts");
  pm.addPass(createDualPipeEmitPackedEntryPoints());
  pm.addPass(createDualPipeStripAnnotations());
}

void dualpipe::registerDualPipeCudaPipelines() {
  PassPipelineRegistration<>(
      "dualpipe-lower-to-llvm-cuda",
      "Lower bufferized per-rank programs to LLVM-dialect IR for the cuda "
      "target (kernels as an sm_90 cubin in a gpu.binary)",
      [](OpPassManager &pm) { buildCudaLoweringPipeline(pm); });
}
