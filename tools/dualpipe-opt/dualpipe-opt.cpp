//===- dualpipe-opt.cpp - mlir-opt with the dualpipe dialect and passes ---===//
#include "dualpipe/Autodiff/Passes.h"
#include "dualpipe/Analysis/Passes.h"
#include "dualpipe/Conversion/Passes.h"
#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"
#include "dualpipe/Transforms/Passes.h"

#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  dualpipe::registerDualPipeTransformsPasses();
  dualpipe::registerDualPipeAnalysisPasses();
  dualpipe::registerDualPipeAutodiffPasses();
  dualpipe::registerEmitSchedulePass();
  dualpipe::registerDualPipeConversionPasses();
  dualpipe::registerDualPipePipelines();
  dualpipe::registerDualPipeCudaPipelines();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::registerAllToLLVMIRTranslations(registry);
  registry.insert<dualpipe::DualPipeDialect>();
  dualpipe::registerConvertDualPipeToLLVMInterface(registry);
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "dualpipe optimizer driver\n", registry));
}
