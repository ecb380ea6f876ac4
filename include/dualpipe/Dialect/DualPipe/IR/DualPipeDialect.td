//===- DualPipeDialect.td - the dualpipe dialect -----------*- tablegen -*-===//
#ifndef DUALPIPE_DIALECT
#define DUALPIPE_DIALECT

include "mlir/IR/OpBase.td"

def DualPipe_Dialect : Dialect {
  let name = "dualpipe";
  let summary = "Pipeline-parallel training steps: stages, placement, schedule and communication";
  let description = [{
    The `dualpipe` dialect describes a training step cut into pipeline
    stages, where each stage runs (its placement), and the point-to-point
    transfers between ranks. Transfers carry upstream `!gpu.async.token`s so
    that upstream `gpu-async-region` and `gpu-to-llvm` thread and lower them
    together with kernel launches.
  }];
  let cppNamespace = "::dualpipe";
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::func::FuncDialect"];
  let useDefaultAttributePrinterParser = 1;
  // Every dualpipe.* attribute on an op, a region argument or a function
  // result is checked for its kind and place (DualPipe.h lists them).
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;
}

class DualPipe_Op<string mnemonic, list<Trait> traits = []>
    : Op<DualPipe_Dialect, mnemonic, traits>;

#endif // DUALPIPE_DIALECT
