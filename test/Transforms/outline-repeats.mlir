// RUN: dualpipe-opt %s --split-input-file --dualpipe-outline-repeats=min-ops=4 | FileCheck %s
// RUN: dualpipe-opt %s --split-input-file --dualpipe-outline-repeats=min-ops=4 -verify-diagnostics -o /dev/null
// RUN: dualpipe-opt %s --split-input-file --dualpipe-outline-repeats | FileCheck %s --check-prefix=LONG

#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>

// Three layers (matmul, bias, tanh) on their own parameters: one block
// function taking the input and the two parameters, the constant it
// captures cloned into it; the layers become a chain of calls and the
// constant only they used is gone from the model. With the default
// min-ops (16) the 5-op layer is too short and stays inline.
// CHECK-LABEL: func.func private @block(
// CHECK-SAME: %[[X:.*]]: tensor<4x8xf32>, %[[W:.*]]: tensor<8x8xf32>, %[[B:.*]]: tensor<8xf32>) -> tensor<4x8xf32>
// CHECK: %[[ZERO:.*]] = arith.constant 0.0
// CHECK: linalg.fill ins(%[[ZERO]]
// CHECK: %[[M:.*]] = linalg.matmul ins(%[[X]], %[[W]]
// CHECK: %[[H:.*]] = linalg.generic {{.*}} ins(%[[M]], %[[B]]
// CHECK: math.tanh
// CHECK: return %[[H]]
// CHECK-LABEL: func.func @mlp(
// CHECK-SAME: %[[IN:[^:]*]]: tensor<4x8xf32>
// CHECK-NOT: arith.constant
// CHECK: %[[C0:.*]] = call @block(%[[IN]], %arg1, %arg2)
// CHECK-NEXT: %[[C1:.*]] = call @block(%[[C0]], %arg3, %arg4)
// CHECK-NEXT: %[[C2:.*]] = call @block(%[[C1]], %arg5, %arg6)
// CHECK-NEXT: return %[[C2]]
// LONG-LABEL: func.func @mlp(
// LONG-NOT: call
// LONG-COUNT-3: linalg.matmul
// expected-remark @below {{outlined 3 repeated blocks of @mlp into 1 function}}
func.func @mlp(%x: tensor<4x8xf32> {dualpipe.input = "x"},
               %w0: tensor<8x8xf32> {dualpipe.param = "w0"}, %b0: tensor<8xf32> {dualpipe.param = "b0"},
               %w1: tensor<8x8xf32> {dualpipe.param = "w1"}, %b1: tensor<8xf32> {dualpipe.param = "b1"},
               %w2: tensor<8x8xf32> {dualpipe.param = "w2"}, %b2: tensor<8xf32> {dualpipe.param = "b2"})
    -> tensor<4x8xf32> attributes {dualpipe.model} {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<4x8xf32>
  %f0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %m0 = linalg.matmul ins(%x, %w0 : tensor<4x8xf32>, tensor<8x8xf32>) outs(%f0 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %g0 = tensor.empty() : tensor<4x8xf32>
  %h0 = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m0, %b0 : tensor<4x8xf32>, tensor<8xf32>) outs(%g0 : tensor<4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    %t = math.tanh %s : f32
    linalg.yield %t : f32
  } -> tensor<4x8xf32>
  %e1 = tensor.empty() : tensor<4x8xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %m1 = linalg.matmul ins(%h0, %w1 : tensor<4x8xf32>, tensor<8x8xf32>) outs(%f1 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %g1 = tensor.empty() : tensor<4x8xf32>
  %h1 = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m1, %b1 : tensor<4x8xf32>, tensor<8xf32>) outs(%g1 : tensor<4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    %t = math.tanh %s : f32
    linalg.yield %t : f32
  } -> tensor<4x8xf32>
  %e2 = tensor.empty() : tensor<4x8xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %m2 = linalg.matmul ins(%h1, %w2 : tensor<4x8xf32>, tensor<8x8xf32>) outs(%f2 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %g2 = tensor.empty() : tensor<4x8xf32>
  %h2 = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m2, %b2 : tensor<4x8xf32>, tensor<8xf32>) outs(%g2 : tensor<4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    %t = math.tanh %s : f32
    linalg.yield %t : f32
  } -> tensor<4x8xf32>
  return %h2 : tensor<4x8xf32>
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>

// Residual blocks whose scale differs (0.5, 0.25): the scale becomes an
// argument, not a constant of the block. Each block's output is read by the
// next block twice (its matmul and its residual add) and the last one's by
// the return: one result.
// CHECK-LABEL: func.func private @block(
// CHECK-SAME: %[[X:.*]]: tensor<4x4xf32>, %[[W:.*]]: tensor<4x4xf32>, %[[S:.*]]: f32) -> tensor<4x4xf32>
// CHECK: arith.mulf %{{.*}}, %[[S]]
// CHECK-LABEL: func.func @res(
// CHECK-DAG: %[[HALF:.*]] = arith.constant 5.0{{.*}}e-01
// CHECK-DAG: %[[QUARTER:.*]] = arith.constant 2.5{{.*}}e-01
// CHECK: %[[C0:.*]] = call @block(%arg0, %arg1, %[[HALF]])
// CHECK-NEXT: %[[C1:.*]] = call @block(%[[C0]], %arg2, %[[QUARTER]])
// CHECK-NEXT: return %[[C1]]
// expected-remark @below {{outlined 2 repeated blocks of @res into 1 function}}
func.func @res(%x: tensor<4x4xf32> {dualpipe.input = "x"},
               %w0: tensor<4x4xf32> {dualpipe.param = "w0"},
               %w1: tensor<4x4xf32> {dualpipe.param = "w1"})
    -> tensor<4x4xf32> attributes {dualpipe.model} {
  %zero = arith.constant 0.0 : f32
  %half = arith.constant 0.5 : f32
  %quarter = arith.constant 0.25 : f32
  %e0 = tensor.empty() : tensor<4x4xf32>
  %f0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<4x4xf32>) -> tensor<4x4xf32>
  %m0 = linalg.matmul ins(%x, %w0 : tensor<4x4xf32>, tensor<4x4xf32>) outs(%f0 : tensor<4x4xf32>) -> tensor<4x4xf32>
  %r0 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m0, %x : tensor<4x4xf32>, tensor<4x4xf32>) outs(%e0 : tensor<4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.mulf %a, %half : f32
    %t = arith.addf %s, %b : f32
    linalg.yield %t : f32
  } -> tensor<4x4xf32>
  %e1 = tensor.empty() : tensor<4x4xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<4x4xf32>) -> tensor<4x4xf32>
  %m1 = linalg.matmul ins(%r0, %w1 : tensor<4x4xf32>, tensor<4x4xf32>) outs(%f1 : tensor<4x4xf32>) -> tensor<4x4xf32>
  %r1 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m1, %r0 : tensor<4x4xf32>, tensor<4x4xf32>) outs(%e1 : tensor<4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.mulf %a, %quarter : f32
    %t = arith.addf %s, %b : f32
    linalg.yield %t : f32
  } -> tensor<4x4xf32>
  return %r1 : tensor<4x4xf32>
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>

// Four blocks with a stage boundary marker after the second: the marker
// stays where it is, both runs call the same function.
// CHECK-LABEL: func.func private @block(
// CHECK-NOT: func.func private
// CHECK-LABEL: func.func @marked(
// CHECK: %[[C0:.*]] = call @block(%arg0, %arg1)
// CHECK-NEXT: %[[C1:.*]] = call @block(%[[C0]], %arg2)
// CHECK-NEXT: %[[MARK:.*]] = dualpipe.stage_boundary %[[C1]]
// CHECK-NEXT: %[[C2:.*]] = call @block(%[[MARK]], %arg3)
// CHECK-NEXT: %[[C3:.*]] = call @block(%[[C2]], %arg4)
// CHECK-NEXT: return %[[C3]]
// expected-remark @below {{outlined 4 repeated blocks of @marked into 1 function}}
func.func @marked(%x: tensor<4x4xf32> {dualpipe.input = "x"},
                  %w0: tensor<4x4xf32> {dualpipe.param = "w0"},
                  %w1: tensor<4x4xf32> {dualpipe.param = "w1"},
                  %w2: tensor<4x4xf32> {dualpipe.param = "w2"},
                  %w3: tensor<4x4xf32> {dualpipe.param = "w3"})
    -> tensor<4x4xf32> attributes {dualpipe.model} {
  %zero = arith.constant 0.0 : f32
  %half = arith.constant 0.5 : f32
  %e0 = tensor.empty() : tensor<4x4xf32>
  %f0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<4x4xf32>) -> tensor<4x4xf32>
  %m0 = linalg.matmul ins(%x, %w0 : tensor<4x4xf32>, tensor<4x4xf32>) outs(%f0 : tensor<4x4xf32>) -> tensor<4x4xf32>
  %r0 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m0, %x : tensor<4x4xf32>, tensor<4x4xf32>) outs(%e0 : tensor<4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.mulf %a, %half : f32
    %t = arith.addf %s, %b : f32
    linalg.yield %t : f32
  } -> tensor<4x4xf32>
  %e1 = tensor.empty() : tensor<4x4xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<4x4xf32>) -> tensor<4x4xf32>
  %m1 = linalg.matmul ins(%r0, %w1 : tensor<4x4xf32>, tensor<4x4xf32>) outs(%f1 : tensor<4x4xf32>) -> tensor<4x4xf32>
  %r1 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m1, %r0 : tensor<4x4xf32>, tensor<4x4xf32>) outs(%e1 : tensor<4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.mulf %a, %half : f32
    %t = arith.addf %s, %b : f32
    linalg.yield %t : f32
  } -> tensor<4x4xf32>
  %mark = dualpipe.stage_boundary %r1 : tensor<4x4xf32>
  %e2 = tensor.empty() : tensor<4x4xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<4x4xf32>) -> tensor<4x4xf32>
  %m2 = linalg.matmul ins(%mark, %w2 : tensor<4x4xf32>, tensor<4x4xf32>) outs(%f2 : tensor<4x4xf32>) -> tensor<4x4xf32>
  %r2 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m2, %mark : tensor<4x4xf32>, tensor<4x4xf32>) outs(%e2 : tensor<4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.mulf %a, %half : f32
    %t = arith.addf %s, %b : f32
    linalg.yield %t : f32
  } -> tensor<4x4xf32>
  %e3 = tensor.empty() : tensor<4x4xf32>
  %f3 = linalg.fill ins(%zero : f32) outs(%e3 : tensor<4x4xf32>) -> tensor<4x4xf32>
  %m3 = linalg.matmul ins(%r2, %w3 : tensor<4x4xf32>, tensor<4x4xf32>) outs(%f3 : tensor<4x4xf32>) -> tensor<4x4xf32>
  %r3 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m3, %r2 : tensor<4x4xf32>, tensor<4x4xf32>) outs(%e3 : tensor<4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.mulf %a, %half : f32
    %t = arith.addf %s, %b : f32
    linalg.yield %t : f32
  } -> tensor<4x4xf32>
  return %r3 : tensor<4x4xf32>
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>

// Same ops on different shapes, or the same ops wired differently (the
// second copy reads the model input, not the first copy's result, in its
// generic): nothing to outline.
// CHECK-LABEL: func.func @differ(
// CHECK-NOT: call
// CHECK-COUNT-3: linalg.matmul
func.func @differ(%x: tensor<4x4xf32> {dualpipe.input = "x"},
                  %w0: tensor<4x4xf32> {dualpipe.param = "w0"},
                  %w1: tensor<4x4xf32> {dualpipe.param = "w1"},
                  %w2: tensor<4x8xf32> {dualpipe.param = "w2"})
    -> tensor<4x8xf32> attributes {dualpipe.model} {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<4x4xf32>
  %f0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<4x4xf32>) -> tensor<4x4xf32>
  %m0 = linalg.matmul ins(%x, %w0 : tensor<4x4xf32>, tensor<4x4xf32>) outs(%f0 : tensor<4x4xf32>) -> tensor<4x4xf32>
  %r0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m0 : tensor<4x4xf32>) outs(%e0 : tensor<4x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %t = math.tanh %a : f32
    linalg.yield %t : f32
  } -> tensor<4x4xf32>
  %e1 = tensor.empty() : tensor<4x4xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<4x4xf32>) -> tensor<4x4xf32>
  %m1 = linalg.matmul ins(%r0, %w1 : tensor<4x4xf32>, tensor<4x4xf32>) outs(%f1 : tensor<4x4xf32>) -> tensor<4x4xf32>
  %r1 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x4xf32>) outs(%e1 : tensor<4x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %t = math.tanh %a : f32
    linalg.yield %t : f32
  } -> tensor<4x4xf32>
  %e2 = tensor.empty() : tensor<4x8xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %m2 = linalg.matmul ins(%r1, %w2 : tensor<4x4xf32>, tensor<4x8xf32>) outs(%f2 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %r2 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m2 : tensor<4x8xf32>) outs(%e2 : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %t = math.tanh %a : f32
    linalg.yield %t : f32
  } -> tensor<4x8xf32>
  return %r2 : tensor<4x8xf32>
}

// -----

// A model that already calls its block: the calls are not grouped into
// blocks of blocks, and nothing else repeats.
// CHECK-LABEL: func.func private @layer(
// CHECK-NOT: func.func private
// CHECK-LABEL: func.func @calls(
// CHECK-COUNT-8: call @layer
func.func private @layer(%x: tensor<4xf32>, %w: tensor<4xf32>) -> tensor<4xf32> {
  %y = arith.mulf %x, %w : tensor<4xf32>
  return %y : tensor<4xf32>
}
func.func @calls(%x: tensor<4xf32> {dualpipe.input = "x"}, %w: tensor<4xf32> {dualpipe.param = "w"})
    -> tensor<4xf32> attributes {dualpipe.model} {
  %0 = func.call @layer(%x, %w) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %1 = func.call @layer(%0, %w) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %2 = func.call @layer(%1, %w) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %3 = func.call @layer(%2, %w) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %4 = func.call @layer(%3, %w) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %5 = func.call @layer(%4, %w) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %6 = func.call @layer(%5, %w) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %7 = func.call @layer(%6, %w) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %7 : tensor<4xf32>
}
