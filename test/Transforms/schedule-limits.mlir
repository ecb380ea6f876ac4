// --dualpipe-schedule bounds the micro-batch count before generating
// anything (issue #19): each action becomes ops, then code.
// RUN: not dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition --dualpipe-autodiff="loss=mse microbatches=2" --dualpipe-schedule="schedule=1f1b microbatches=2000000" -o /dev/null 2>&1 | FileCheck %s
// RUN: not dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition --dualpipe-autodiff="loss=mse microbatches=2" --dualpipe-schedule="schedule=1f1b microbatches=9000000000" -o /dev/null 2>&1 | FileCheck %s --check-prefix=HUGE
// CHECK: error: microbatches=2000000 on 4 stages makes about 24000000 actions, more than the 16777216 a compiled step can hold (each becomes ops, then code); use fewer micro-batches and run more steps
// HUGE: error: microbatches=9000000000 on 4 stages
