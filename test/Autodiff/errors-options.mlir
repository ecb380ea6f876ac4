// RUN: not dualpipe-opt %s --dualpipe-partition --dualpipe-autodiff=loss=hinge 2>&1 | FileCheck %s --check-prefix=LOSS
// RUN: not dualpipe-opt %s --dualpipe-partition --dualpipe-autodiff=microbatches=0 2>&1 | FileCheck %s --check-prefix=MB
// RUN: not dualpipe-opt %s --dualpipe-partition --dualpipe-autodiff=recompute=all 2>&1 | FileCheck %s --check-prefix=RC
// RUN: not dualpipe-opt %s --dualpipe-partition --dualpipe-autodiff 2>&1 | FileCheck %s --check-prefix=NOLOSS
// RUN: not dualpipe-opt %s --dualpipe-autodiff=loss=mse 2>&1 | FileCheck %s --check-prefix=NOPIPE

// LOSS: error: unknown loss 'hinge'; use loss=mse or loss=cross_entropy, or omit loss= to use the module's dualpipe.loss function
// MB: error: microbatches=0 is not a micro-batch count; use an integer >= 1
// RC: error: unknown recompute policy 'all'; use recompute=none or recompute=elementwise
// NOLOSS: error: the last stage needs a loss: mark a func.func with dualpipe.loss, or pass loss=mse or loss=cross_entropy
// NOPIPE: error: no dualpipe.pipeline op: run --dualpipe-partition before --dualpipe-autodiff
func.func @m(%x: tensor<4xf32> {dualpipe.input = "x"}, %w: tensor<4xf32> {dualpipe.param = "w"}) -> tensor<4xf32> attributes {dualpipe.model} {
  %p = arith.mulf %x, %w : tensor<4xf32>
  return %p : tensor<4xf32>
}
