//===- dualpipe-opt.cpp - mlir-opt with the dualpipe dialect and passes ---===//
#include "dualpipe/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  dualpipe::registerAllPasses();
  mlir::DialectRegistry registry;
  dualpipe::registerAllDialects(registry);
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "dualpipe optimizer driver\n", registry));
}
