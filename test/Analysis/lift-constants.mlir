// Weights inlined as constants (as torch-mlir emits them) become named
// parameters; small and integer constants stay.
// RUN: rm -rf %t && mkdir -p %t
// RUN: dualpipe-opt %s --dualpipe-lift-constants="min-elements=16 weights-out=%t/w.safetensors" | FileCheck %s
// RUN: %python -c "import json, struct; b = open('%t/w.safetensors', 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8+n]); d = b[8+n:]; print(sorted((k, v['dtype'], v['shape'], v['data_offsets']) for k, v in h.items())); o = h['fc.weight']['data_offsets'][0]; print('fc.weight[1] =', struct.unpack('<f', d[o+4:o+8])[0]); o = h['const0']['data_offsets'][0]; print('const0[17] =', struct.unpack('<f', d[o+68:o+72])[0])" | FileCheck %s --check-prefix=FILE
// RUN: dualpipe-opt %s --dualpipe-lift-constants | FileCheck %s --check-prefix=DEFAULT
// RUN: dualpipe-opt %s --dualpipe-lift-constants="min-elements=16" --dualpipe-check-contract -o /dev/null

// CHECK-LABEL: func.func @m(
// CHECK-SAME: %[[X:[^:]*]]: tensor<4x4xf32> {dualpipe.input = "x"}
// CHECK-SAME: %[[W:[^:]*]]: tensor<4x4xf32> {dualpipe.param = "fc.weight"}
// CHECK-SAME: %[[C:[^:]*]]: tensor<4x8xf32> {dualpipe.param = "const0"}
// CHECK-NOT: arith.constant dense<{{.*}}> : tensor<4x4xf32>
// CHECK: arith.constant dense<1.000000e+00> : tensor<4xf32>
// CHECK: arith.constant dense<3> : tensor<4x4xi32>
// CHECK: linalg.matmul ins(%[[X]], %[[W]] :
// CHECK: linalg.matmul ins(%{{.*}}, %[[C]] :

// FILE: [('const0', 'F32', [4, 8], [64, 192]), ('fc.weight', 'F32', [4, 4], [0, 64])]
// FILE: fc.weight[1] = 2.0
// FILE: const0[17] = 0.5

// With the default threshold (64 elements) nothing here is large enough.
// DEFAULT-LABEL: func.func @m(
// DEFAULT-SAME: %{{.*}}: tensor<4x4xf32> {dualpipe.input = "x"}) -> tensor<4x8xf32>
#row = affine_map<(d0) -> (d0)>
func.func @m(%x: tensor<4x4xf32> {dualpipe.input = "x"}) -> tensor<4x8xf32> attributes {dualpipe.model} {
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]> : tensor<4x4xf32> loc("fc.weight")
  %c = arith.constant dense<0.5> : tensor<4x8xf32>
  %small = arith.constant dense<1.0> : tensor<4xf32>
  %ints = arith.constant dense<3> : tensor<4x4xi32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x4xf32>) -> tensor<4x4xf32>
  %h = linalg.matmul ins(%x, %w : tensor<4x4xf32>, tensor<4x4xf32>) outs(%f : tensor<4x4xf32>) -> tensor<4x4xf32>
  %b = tensor.empty() : tensor<4x4xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%h, %small, %ints : tensor<4x4xf32>, tensor<4xf32>, tensor<4x4xi32>) outs(%b : tensor<4x4xf32>) {
  ^bb0(%a: f32, %v: f32, %i: i32, %o: f32):
    %fi = arith.sitofp %i : i32 to f32
    %t = arith.addf %a, %v : f32
    %u = arith.addf %t, %fi : f32
    linalg.yield %u : f32
  } -> tensor<4x4xf32>
  %e2 = tensor.empty() : tensor<4x8xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %y = linalg.matmul ins(%s, %c : tensor<4x4xf32>, tensor<4x8xf32>) outs(%f2 : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
func.func @loss(%y: tensor<4x8xf32>) -> tensor<f32> attributes {dualpipe.loss} {
  %c = arith.constant dense<0.0> : tensor<f32>
  return %c : tensor<f32>
}
