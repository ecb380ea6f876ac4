// --dualpipe-schedule="schedule=auto" (#18) under the partition's per-stage
// costs: --dualpipe-partition="stage-costs=1" writes each stage's cost
// model figures (dualpipe.stage_cost), and auto simulates the candidates
// of the placement under them (F = forward, B = 2F, W = F; memory =
// parameters and gradients + peak saved activations). The model below has
// four stages (markers) of 3, 1, 3 and 1 equal layers: 3:1:3:1.

// RUN: dualpipe-opt %s --dualpipe-partition="placement=dualpipev stage-costs=1" -o - | FileCheck %s --check-prefix=ATTR
// ATTR: func.func @skew_stage0({{.*}} attributes {dualpipe.stage = 0 : i64, dualpipe.stage_cost = {activation_bytes = 36864 : i64, forward_s = 5.160960e-06 : f64, parameter_bytes = 49152 : i64}}
// ATTR: func.func @skew_stage1({{.*}} attributes {dualpipe.stage = 1 : i64, dualpipe.stage_cost = {activation_bytes = 12288 : i64, forward_s = 1.720320e-06 : f64, parameter_bytes = 16384 : i64}}

// At the reference costs (every stage F=1, B=2, W=1) ZB-V and V-Half tie
// at 37 and ZB-V comes first; under the per-stage costs V-Half is
// faster: 130.744 against 134.185 us, i.e. 76 against 78 units of
// 1.72032 us, which dualpipe-sched gives for F=3,1,3,1.
// RUN: dualpipe-opt %s --dualpipe-partition="placement=dualpipev" --dualpipe-schedule="schedule=auto microbatches=6" -o /dev/null 2>&1 | FileCheck %s --check-prefix=UNIFORM
// UNIFORM: remark: schedule=auto chose zbv: least simulated step time at F=1, B=2, W=1, F&B=3 among zbv 37; dualpipev 38; vhalf 37; vmin 39;
// RUN: dualpipe-opt %s --dualpipe-partition="placement=dualpipev stage-costs=1" --dualpipe-schedule="schedule=auto microbatches=6" -o /dev/null 2>&1 | FileCheck %s --check-prefix=COSTS
// COSTS: remark: schedule=auto chose vhalf: least simulated step time under the partition's per-stage costs (F = 5.16096,1.72032,5.16096,1.72032 us, B = 2F, W = F) among zbv 134.185 us, peak 278528 B; dualpipev 137.626 us, peak 290816 B; vhalf 130.744 us, peak 253952 B; vmin 135.905 us, peak 204800 B;
// RUN: dualpipe-sched --schedule=zbv --ranks=2 --microbatches=6 --cost=F=3,1,3,1,B=6,2,6,2,W=3,1,3,1,FB=3 --emit=summary | FileCheck %s --check-prefix=SCHED-ZBV
// SCHED-ZBV: "makespan": 78,
// RUN: dualpipe-sched --schedule=vhalf --ranks=2 --microbatches=6 --cost=F=3,1,3,1,B=6,2,6,2,W=3,1,3,1,FB=3 --emit=summary | FileCheck %s --check-prefix=SCHED-VHALF
// SCHED-VHALF: "makespan": 76,

// A memory budget: V-Half's 253952 bytes fit 260000, only V-Min's 204800
// fit 220000 (dualpipe-sched's peak with the same per-stage bytes), none
// fits 100000.
// RUN: dualpipe-opt %s --dualpipe-partition="placement=dualpipev stage-costs=1" --dualpipe-schedule="schedule=auto microbatches=6 memory-budget=260000" -o /dev/null 2>&1 | FileCheck %s --check-prefix=FITS
// FITS: remark: schedule=auto chose vhalf: {{.*}} within the memory budget of 260000 bytes per rank among zbv 134.185 us, peak 278528 B (over budget);
// RUN: dualpipe-opt %s --dualpipe-partition="placement=dualpipev stage-costs=1" --dualpipe-schedule="schedule=auto microbatches=6 memory-budget=220000" -o /dev/null 2>&1 | FileCheck %s --check-prefix=VMIN
// VMIN: remark: schedule=auto chose vmin: {{.*}} within the memory budget of 220000 bytes per rank
// RUN: dualpipe-sched --schedule=vmin --ranks=2 --microbatches=6 --cost=F=3,1,3,1,B=6,2,6,2,W=3,1,3,1,FB=3 --activation-bytes=36864,12288,36864,12288 --parameter-bytes=98304,32768,98304,32768 --emit=summary | %python -c "import json,sys; d=json.load(sys.stdin); print('peak', max(r['peak_activation_bytes']+r['parameter_bytes'] for r in d['ranks']))" | FileCheck %s --check-prefix=SCHED-VMIN
// SCHED-VMIN: peak 204800
// RUN: not dualpipe-opt %s --dualpipe-partition="placement=dualpipev stage-costs=1" --dualpipe-schedule="schedule=auto microbatches=6 memory-budget=100000" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NONE
// NONE: error: schedule=auto: no schedule fits the memory budget of 100000 bytes per rank; the smallest need is 204800 bytes

// Without the stages' costs a budget cannot be judged.
// RUN: dualpipe-opt %s --dualpipe-partition="placement=dualpipev" --dualpipe-schedule="schedule=auto microbatches=6 memory-budget=1000" -verify-diagnostics -o /dev/null

// expected-error @below {{schedule=auto memory-budget=1000 needs the stages' costs: partition with --dualpipe-partition="stage-costs=1" (dualpipe-compile does)}}
func.func @skew(%x: tensor<16x64xf32> {dualpipe.input = "x"}, %w0: tensor<64x64xf32> {dualpipe.param = "w0"}, %w1: tensor<64x64xf32> {dualpipe.param = "w1"}, %w2: tensor<64x64xf32> {dualpipe.param = "w2"}, %w3: tensor<64x64xf32> {dualpipe.param = "w3"}, %w4: tensor<64x64xf32> {dualpipe.param = "w4"}, %w5: tensor<64x64xf32> {dualpipe.param = "w5"}, %w6: tensor<64x64xf32> {dualpipe.param = "w6"}, %w7: tensor<64x64xf32> {dualpipe.param = "w7"}) -> tensor<16x64xf32> attributes {dualpipe.model} {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<16x64xf32>
  %f0 = linalg.fill ins(%z : f32) outs(%e : tensor<16x64xf32>) -> tensor<16x64xf32>
  %m0 = linalg.matmul ins(%x, %w0 : tensor<16x64xf32>, tensor<64x64xf32>) outs(%f0 : tensor<16x64xf32>) -> tensor<16x64xf32>
  %h0 = math.tanh %m0 : tensor<16x64xf32>
  %f1 = linalg.fill ins(%z : f32) outs(%e : tensor<16x64xf32>) -> tensor<16x64xf32>
  %m1 = linalg.matmul ins(%h0, %w1 : tensor<16x64xf32>, tensor<64x64xf32>) outs(%f1 : tensor<16x64xf32>) -> tensor<16x64xf32>
  %h1 = math.tanh %m1 : tensor<16x64xf32>
  %f2 = linalg.fill ins(%z : f32) outs(%e : tensor<16x64xf32>) -> tensor<16x64xf32>
  %m2 = linalg.matmul ins(%h1, %w2 : tensor<16x64xf32>, tensor<64x64xf32>) outs(%f2 : tensor<16x64xf32>) -> tensor<16x64xf32>
  %h2 = math.tanh %m2 : tensor<16x64xf32>
  %c0 = dualpipe.stage_boundary %h2 : tensor<16x64xf32>
  %f3 = linalg.fill ins(%z : f32) outs(%e : tensor<16x64xf32>) -> tensor<16x64xf32>
  %m3 = linalg.matmul ins(%c0, %w3 : tensor<16x64xf32>, tensor<64x64xf32>) outs(%f3 : tensor<16x64xf32>) -> tensor<16x64xf32>
  %h3 = math.tanh %m3 : tensor<16x64xf32>
  %c1 = dualpipe.stage_boundary %h3 : tensor<16x64xf32>
  %f4 = linalg.fill ins(%z : f32) outs(%e : tensor<16x64xf32>) -> tensor<16x64xf32>
  %m4 = linalg.matmul ins(%c1, %w4 : tensor<16x64xf32>, tensor<64x64xf32>) outs(%f4 : tensor<16x64xf32>) -> tensor<16x64xf32>
  %h4 = math.tanh %m4 : tensor<16x64xf32>
  %f5 = linalg.fill ins(%z : f32) outs(%e : tensor<16x64xf32>) -> tensor<16x64xf32>
  %m5 = linalg.matmul ins(%h4, %w5 : tensor<16x64xf32>, tensor<64x64xf32>) outs(%f5 : tensor<16x64xf32>) -> tensor<16x64xf32>
  %h5 = math.tanh %m5 : tensor<16x64xf32>
  %f6 = linalg.fill ins(%z : f32) outs(%e : tensor<16x64xf32>) -> tensor<16x64xf32>
  %m6 = linalg.matmul ins(%h5, %w6 : tensor<16x64xf32>, tensor<64x64xf32>) outs(%f6 : tensor<16x64xf32>) -> tensor<16x64xf32>
  %h6 = math.tanh %m6 : tensor<16x64xf32>
  %c2 = dualpipe.stage_boundary %h6 : tensor<16x64xf32>
  %f7 = linalg.fill ins(%z : f32) outs(%e : tensor<16x64xf32>) -> tensor<16x64xf32>
  %m7 = linalg.matmul ins(%c2, %w7 : tensor<16x64xf32>, tensor<64x64xf32>) outs(%f7 : tensor<16x64xf32>) -> tensor<16x64xf32>
  %h7 = math.tanh %m7 : tensor<16x64xf32>
  return %h7 : tensor<16x64xf32>
}
