// For every schedule on a 4-stage MLP, the actions of each rank in the IR
// (read back from the IR by --dualpipe-emit-schedule) are exactly what the
// schedule engine's tool prints for the same configuration.

// RUN: rm -rf %t && mkdir -p %t
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition --dualpipe-schedule="schedule=1f1b microbatches=8" --dualpipe-emit-schedule=%t/1f1b.csv -o /dev/null
// RUN: dualpipe-sched --schedule=1f1b --ranks=4 --microbatches=8 --emit=csv > %t/1f1b.ref
// RUN: diff %t/1f1b.csv %t/1f1b.ref
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition --dualpipe-schedule="schedule=zb1p microbatches=8" --dualpipe-emit-schedule=%t/zb1p.csv -o /dev/null
// RUN: dualpipe-sched --schedule=zb1p --ranks=4 --microbatches=8 --emit=csv > %t/zb1p.ref
// RUN: diff %t/zb1p.csv %t/zb1p.ref
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition --dualpipe-schedule="schedule=gpipe microbatches=8" --dualpipe-emit-schedule=%t/gpipe.csv -o /dev/null
// RUN: dualpipe-sched --schedule=gpipe --ranks=4 --microbatches=8 --emit=csv > %t/gpipe.ref
// RUN: diff %t/gpipe.csv %t/gpipe.ref
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition="placement=dualpipe" --dualpipe-schedule="schedule=dualpipe microbatches=10" --dualpipe-emit-schedule=%t/dualpipe.csv -o /dev/null
// RUN: dualpipe-sched --schedule=dualpipe --ranks=4 --microbatches=10 --emit=csv > %t/dualpipe.ref
// RUN: diff %t/dualpipe.csv %t/dualpipe.ref
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition="placement=dualpipev" --dualpipe-schedule="schedule=dualpipev microbatches=8" --dualpipe-emit-schedule=%t/dualpipev.csv -o /dev/null
// RUN: dualpipe-sched --schedule=dualpipev --ranks=2 --microbatches=8 --emit=csv > %t/dualpipev.ref
// RUN: diff %t/dualpipev.csv %t/dualpipev.ref
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition="placement=dualpipev" --dualpipe-schedule="schedule=zbv microbatches=8" --dualpipe-emit-schedule=%t/zbv.csv -o /dev/null
// RUN: dualpipe-sched --schedule=zbv --ranks=2 --microbatches=8 --emit=csv > %t/zbv.ref
// RUN: diff %t/zbv.csv %t/zbv.ref
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition="placement=interleaved ranks=2" --dualpipe-schedule="schedule=interleaved microbatches=4" --dualpipe-emit-schedule=%t/interleaved.csv -o /dev/null
// RUN: dualpipe-sched --schedule=interleaved --ranks=2 --chunks=2 --microbatches=4 --emit=csv > %t/interleaved.ref
// RUN: diff %t/interleaved.csv %t/interleaved.ref

// The emit= option of the pass writes the same file.
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition="placement=dualpipe" --dualpipe-schedule="schedule=dualpipe microbatches=10 emit=%t/opt.csv" -o /dev/null
// RUN: diff %t/opt.csv %t/dualpipe.ref

// The IR itself: programs in rank order, pairs as dualpipe.overlap.
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition="placement=dualpipe" --dualpipe-schedule="schedule=dualpipe microbatches=10" | FileCheck %s
// CHECK: dualpipe.schedule "dualpipe" ranks 4 microbatches 10 {
// CHECK-NEXT: dualpipe.program rank 0 {
// CHECK-NEXT: dualpipe.compute "F" stage 0 microbatch 0
// CHECK: dualpipe.overlap {
// CHECK-NEXT: dualpipe.compute "F" stage
// CHECK-NEXT: dualpipe.compute "B" stage
// CHECK-NEXT: }
// CHECK: dualpipe.program rank 3 {

// auto picks among the schedules that fit the placement and says why.
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition --dualpipe-schedule="schedule=auto microbatches=8" -o /dev/null 2>&1 | FileCheck %s --check-prefix=AUTO
// AUTO: remark: schedule=auto chose zb1p: least simulated step time at F=1, B=2, W=1, F&B=3 among gpipe {{.*}}; 1f1b {{.*}}; zb1p
