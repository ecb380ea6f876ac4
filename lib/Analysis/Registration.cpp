//===- Registration.cpp - register the analysis passes and pipelines ----===//
#include "dualpipe/Analysis/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

using namespace mlir;

void dualpipe::registerDualPipeAnalysisPasses() {
  registerDualPipeAnalysisGenPasses();
  PassPipelineRegistration<>(
      "dualpipe-import",
      "Bring a model to the input contract: TOSA to linalg, arith and tensor "
      "(upstream passes), then --dualpipe-check-contract",
      [](OpPassManager &pm) {
        if (failed(parsePassPipeline(
                "func.func(tosa-to-linalg-named,tosa-to-linalg,tosa-to-arith,"
                "tosa-to-tensor),canonicalize",
                pm, llvm::errs())))
          llvm::report_fatal_error(
              "dualpipe-import: the upstream TOSA passes are not registered");
        pm.addPass(createDualPipeCheckContract());
      });
}
