//===- InitAll.cpp - everything a dualpipe tool registers ----------------===//
#include "dualpipe/InitAll.h"

#include "dualpipe/Analysis/Passes.h"
#include "dualpipe/Autodiff/Passes.h"
#include "dualpipe/Conversion/Passes.h"
#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"
#include "dualpipe/Pipelines/Pipelines.h"
#include "dualpipe/Transforms/Passes.h"

#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

void dualpipe::registerAllDialects(mlir::DialectRegistry &registry) {
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::registerAllToLLVMIRTranslations(registry);
  registry.insert<DualPipeDialect>();
  registerConvertDualPipeToLLVMInterface(registry);
}

void dualpipe::registerAllPasses() {
  mlir::registerAllPasses();
  registerDualPipeAnalysisPasses();
  registerDualPipeAutodiffPasses();
  registerDualPipeTransformsPasses();
  registerEmitSchedulePass();
  registerDualPipeConversionPasses();
  registerDualPipePipelines();
}
