// Built-in losses that do not fit the model.
// RUN: not dualpipe-opt %s --dualpipe-check-contract="loss=cross_entropy" -o /dev/null 2>&1 | FileCheck %s --check-prefix=CE
// RUN: not dualpipe-opt %s --dualpipe-check-contract="loss=hinge" -o /dev/null 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: not dualpipe-opt %S/check-contract.mlir --dualpipe-check-contract="loss=mse" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BOTH

// CE: error: the built-in loss cross_entropy needs a floating-point result of rank >= 2 (logits [..., classes]), got 'tensor<4xf32>'
// UNKNOWN: error: unknown built-in loss 'hinge'; use mse or cross_entropy
// BOTH: error: loss=mse chooses a built-in loss, but @loss is marked dualpipe.loss; keep one
func.func @m(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<4xf32> attributes {dualpipe.model} {
  return %x : tensor<4xf32>
}
