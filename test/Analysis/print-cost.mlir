// The cost model, op by op. Numbers worked by hand:
//   fill 4x16 f32:        0 FLOPs, writes 256 bytes
//   matmul 4x8 * 8x16:    2*4*8*16 = 1024 FLOPs; reads 128 + 512, reads and
//                         writes the 256-byte accumulator: 1152 bytes
//   bias add (generic):   64 iterations x 1 addf = 64 FLOPs;
//                         256 + 64 in, 256 out = 576 bytes
//   gather (generic):     8 iterations, reads 8 x 4 bytes of the table,
//                         8 x 8 bytes of indices, writes 32 bytes = 128
//   exp on 4x16:          64 FLOPs, 256 in + 256 out = 512 bytes
// On h200 the matmul is memory bound: 1152 B / 4.8e12 B/s = 2.4e-10 s.
// RUN: dualpipe-opt %s --dualpipe-print-cost="device=h200" -o /dev/null | FileCheck %s
// RUN: dualpipe-opt %s --dualpipe-print-cost -o /dev/null | FileCheck %s --check-prefix=CPU
// RUN: not dualpipe-opt %s --dualpipe-print-cost="device=tpu" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD

// CHECK: cost of @m on h200: matmul 4.947e+14 FLOP/s (f32), 9.894e+14 (16-bit), vector 6.7e+13 FLOP/s, memory 4.8e+12 B/s
// CHECK-NEXT: op 0 linalg.fill flops=0 bytes=256
// CHECK-NEXT: op 1 linalg.matmul flops=1024 bytes=1152 time=2.4e-10 s matmul params=w
// CHECK-NEXT: op 2 linalg.generic flops=64 bytes=576 {{.*}} params=b
// CHECK-NEXT: op 3 linalg.generic flops=0 bytes=128 {{.*}} params=table
// CHECK-NEXT: op 4 math.exp flops=64 bytes=512
// CHECK-NEXT: op 5 arith.addf flops=64 bytes=768
// The activations crossing each possible cut (before op i): the zeroed
// accumulator (256) before the matmul, its result (256) before the bias
// add; the bias add's result %h is read by the last op, so it crosses
// every later cut, with the gather's result (32, a model output) and,
// before the last op, the exp's result (256).
// CHECK-NEXT: cut 1 bytes=256
// CHECK-NEXT: cut 2 bytes=256
// CHECK-NEXT: cut 3 bytes=256
// CHECK-NEXT: cut 4 bytes=288
// CHECK-NEXT: cut 5 bytes=544
// CHECK-NEXT: loss @loss flops=64 bytes=268
// CHECK-NEXT: params 3 tensors 640 bytes
// CHECK-NEXT: total ops=6 flops=1280 time=

// CPU: cost of @m on cpu:
// CPU: op 1 linalg.matmul flops=1024 bytes=1152 {{.*}} matmul

// BAD: unknown device profile 'tpu'; use cpu or h200
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
#one = affine_map<(d0) -> (d0)>
#all = affine_map<(d0, d1) -> ()>
module {
  func.func @m(%x: tensor<4x8xf32> {dualpipe.input = "x"}, %ids: tensor<8xi64> {dualpipe.input = "ids"},
               %w: tensor<8x16xf32> {dualpipe.param = "w"}, %b: tensor<16xf32> {dualpipe.param = "b"},
               %table: tensor<2x8xf32> {dualpipe.param = "table"}) -> (tensor<4x16xf32>, tensor<8xf32>) attributes {dualpipe.model} {
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty() : tensor<4x16xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
    %m = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%f : tensor<4x16xf32>) -> tensor<4x16xf32>
    %h = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]} ins(%m, %b : tensor<4x16xf32>, tensor<16xf32>) outs(%e : tensor<4x16xf32>) {
    ^bb0(%a: f32, %c: f32, %o: f32):
      %s = arith.addf %a, %c : f32
      linalg.yield %s : f32
    } -> tensor<4x16xf32>
    %e8 = tensor.empty() : tensor<8xf32>
    %g = linalg.generic {indexing_maps = [#one, #one], iterator_types = ["parallel"]} ins(%ids : tensor<8xi64>) outs(%e8 : tensor<8xf32>) {
    ^bb0(%i: i64, %o: f32):
      %r = arith.index_cast %i : i64 to index
      %c0 = arith.constant 0 : index
      %v = tensor.extract %table[%c0, %r] : tensor<2x8xf32>
      linalg.yield %v : f32
    } -> tensor<8xf32>
    %t = math.exp %h : tensor<4x16xf32>
    %y = arith.addf %t, %h : tensor<4x16xf32>
    return %y, %g : tensor<4x16xf32>, tensor<8xf32>
  }
  func.func @loss(%y: tensor<4x16xf32>, %g: tensor<8xf32>, %label: tensor<4x16xf32> {dualpipe.label = "y"}) -> tensor<f32> attributes {dualpipe.loss} {
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty() : tensor<f32>
    %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<f32>) -> tensor<f32>
    %sum = linalg.generic {indexing_maps = [#id, #all], iterator_types = ["reduction", "reduction"]} ins(%y : tensor<4x16xf32>) outs(%acc : tensor<f32>) {
    ^bb0(%a: f32, %o: f32):
      %r = arith.addf %o, %a : f32
      linalg.yield %r : f32
    } -> tensor<f32>
    return %sum : tensor<f32>
  }
}
