//===- Passes.td - model import and cost analysis passes ---*- tablegen -*-===//
#ifndef DUALPIPE_ANALYSIS_PASSES
#define DUALPIPE_ANALYSIS_PASSES

include "mlir/Pass/PassBase.td"

def DualPipePrintCost : Pass<"dualpipe-print-cost", "::mlir::ModuleOp"> {
  let summary = "Print the cost model of the dualpipe.model function";
  let description = [{
    Prints, to standard output, one line per op of the model function (in
    body order; constants and `tensor.empty` are recreated per stage and
    never cost anything): its FLOPs, bytes moved, roofline time on the
    device profile and the parameters it reads; then the bytes of the
    activations crossing every possible cut (before op `i`), the parameter
    bytes and the totals. The loss function, when there is one, is costed
    as part of the last stage. The module is not changed.

    ```
    dualpipe-opt model.mlir --dualpipe-print-cost="device=h200" -o /dev/null
    ```
  }];
  let options = [
    Option<"device", "device", "std::string", /*default=*/"\"cpu\"",
           "Device profile for the roofline: cpu or h200">,
  ];
}

def DualPipeCheckContract : Pass<"dualpipe-check-contract", "::mlir::ModuleOp"> {
  let summary = "Check a model against the input contract";
  let description = [{
    Checks the input contract of docs/architecture.md and reports every
    violation with its location: exactly one `dualpipe.model` function on
    ranked static tensors; every argument named once by `dualpipe.input` or
    `dualpipe.param`, with no name used twice (labels included); only
    linalg, arith, math and tensor ops (TOSA must be converted first, see
    `--dualpipe-import`); and a loss: a `dualpipe.loss` function taking the
    model's results then `dualpipe.label` arguments and returning a scalar
    `tensor<f32>`, or a built-in loss chosen with `loss=`.
  }];
  let options = [
    Option<"loss", "loss", "std::string", /*default=*/"\"\"",
           "Built-in loss instead of a dualpipe.loss function: mse or "
           "cross_entropy">,
    Option<"forwardOnly", "forward-only", "bool", /*default=*/"false",
           "The model is compiled forward only (the walking skeleton): no "
           "loss is needed">,
  ];
}

def DualPipeLiftConstants : Pass<"dualpipe-lift-constants", "::mlir::ModuleOp"> {
  let summary = "Turn large floating-point constants into named parameters";
  let description = [{
    For models captured with their weights inlined (as torch-mlir emits
    them), replaces every floating-point `arith.constant` of at least
    `min-elements` elements in the `dualpipe.model` function by a new
    argument marked `dualpipe.param`. The name is the constant's location
    name when it has one (`loc("fc1.weight")`), otherwise
    `<prefix><k>`; names never collide with existing ones. With
    `weights-out=FILE`, the lifted values are written to a safetensors file
    under those names so a run can load them with `--params`.
  }];
  let options = [
    Option<"minElements", "min-elements", "int64_t", /*default=*/"64",
           "Lift constants with at least this many elements">,
    Option<"prefix", "prefix", "std::string", /*default=*/"\"const\"",
           "Name prefix for lifted constants without a location name">,
    Option<"weightsOut", "weights-out", "std::string", /*default=*/"\"\"",
           "Write the lifted values to this safetensors file">,
  ];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

#endif // DUALPIPE_ANALYSIS_PASSES
