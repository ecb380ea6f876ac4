// RUN: dualpipe-opt %s --dualpipe-bufferize-callees-first -split-input-file -verify-diagnostics | FileCheck %s
// RUN: dualpipe-opt %s --dualpipe-bufferize-callees-first --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=FULL

// The callee is bufferized first; the rank program (dualpipe.rank) stays on
// tensors and calls its memref version: a read-only operand through a
// read_only to_buffer, the argument the callee writes (%acc) through a
// writable one. Result 0 is a fresh buffer; result 1 is %a itself (the
// operand stands for it); result 2 is a slice of %a (copied, so that the
// restrict to_tensor is true); result 3 is %acc after the callee's write;
// result 4 is a reshape of %a (the operand reshaped alike).
func.func private @callee(%a: tensor<4xf32> {bufferization.writable = false},
                          %acc: tensor<4xf32> {bufferization.writable = true})
    -> (tensor<4xf32>, tensor<4xf32>, tensor<2xf32>, tensor<4xf32>, tensor<2x2xf32>) {
  %e = tensor.empty() : tensor<4xf32>
  %fresh = linalg.add ins(%a, %a : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  %slice = tensor.extract_slice %a[0] [2] [1] : tensor<4xf32> to tensor<2xf32>
  %sum = linalg.add ins(%acc, %a : tensor<4xf32>, tensor<4xf32>) outs(%acc : tensor<4xf32>) -> tensor<4xf32>
  %view = tensor.expand_shape %a [[0, 1]] output_shape [2, 2] : tensor<4xf32> into tensor<2x2xf32>
  return %fresh, %a, %slice, %sum, %view : tensor<4xf32>, tensor<4xf32>, tensor<2xf32>, tensor<4xf32>, tensor<2x2xf32>
}

func.func @rank(%x: tensor<4xf32> {bufferization.writable = false},
                %o0: memref<4xf32>, %o1: memref<4xf32>, %o2: memref<2xf32>,
                %o3: memref<4xf32>, %o4: memref<2x2xf32>) attributes {dualpipe.rank = 0 : i64} {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  %r:5 = call @callee(%x, %acc) : (tensor<4xf32>, tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<2xf32>, tensor<4xf32>, tensor<2x2xf32>)
  bufferization.materialize_in_destination %r#0 in restrict writable %o0 : (tensor<4xf32>, memref<4xf32>) -> ()
  bufferization.materialize_in_destination %r#1 in restrict writable %o1 : (tensor<4xf32>, memref<4xf32>) -> ()
  bufferization.materialize_in_destination %r#2 in restrict writable %o2 : (tensor<2xf32>, memref<2xf32>) -> ()
  bufferization.materialize_in_destination %r#3 in restrict writable %o3 : (tensor<4xf32>, memref<4xf32>) -> ()
  bufferization.materialize_in_destination %r#4 in restrict writable %o4 : (tensor<2x2xf32>, memref<2x2xf32>) -> ()
  return
}

// CHECK-LABEL: func.func private @callee(
// CHECK-SAME: memref<4xf32>, %{{.*}}: memref<4xf32>) -> (memref<4xf32>, memref<4xf32>, memref<2xf32>, memref<4xf32>, memref<2x2xf32>)
// CHECK-LABEL: func.func @rank(
// CHECK-SAME: %[[X:[^:]*]]: tensor<4xf32>
// CHECK: %[[ACC:.*]] = linalg.fill
// CHECK: %[[A:.*]] = bufferization.to_buffer %[[X]] read_only : tensor<4xf32> to memref<4xf32>
// CHECK: %[[C:.*]] = bufferization.to_buffer %[[ACC]] : tensor<4xf32> to memref<4xf32>
// CHECK: %[[R:.*]]:5 = call @callee(%[[A]], %[[C]]) : (memref<4xf32>, memref<4xf32>) -> (memref<4xf32>, memref<4xf32>, memref<2xf32>, memref<4xf32>, memref<2x2xf32>)
// CHECK: %[[T0:.*]] = bufferization.to_tensor %[[R]]#0 restrict writable
// CHECK: %[[COPY:.*]] = memref.alloc() : memref<2xf32>
// CHECK: memref.copy %[[R]]#2, %[[COPY]]
// CHECK: %[[T2:.*]] = bufferization.to_tensor %[[COPY]] restrict writable
// CHECK: %[[T3:.*]] = bufferization.to_tensor %[[C]] restrict writable
// CHECK: %[[T4:.*]] = tensor.expand_shape %[[X]] {{\[\[}}0, 1]] output_shape [2, 2] : tensor<4xf32> into tensor<2x2xf32>
// CHECK: bufferization.materialize_in_destination %[[T0]]
// CHECK: bufferization.materialize_in_destination %[[X]]
// CHECK: bufferization.materialize_in_destination %[[T2]]
// CHECK: bufferization.materialize_in_destination %[[T3]]
// CHECK: bufferization.materialize_in_destination %[[T4]]

// After upstream's one-shot bufferization nothing is left on tensors, and
// the accumulator is the one buffer the callee wrote.
// FULL-LABEL: func.func @rank(
// FULL-NOT: tensor<
// FULL: %[[BUF:.*]] = memref.alloc() {{.*}} : memref<4xf32>
// FULL: linalg.fill {{.*}} outs(%[[BUF]] : memref<4xf32>)
// FULL: %[[R:.*]]:5 = call @callee(%{{.*}}, %[[BUF]])
// FULL-NOT: tensor<
// FULL: memref.copy %[[BUF]], %{{.*}} : memref<4xf32> to memref<4xf32>
// FULL-NOT: tensor<
// FULL: return

// -----

// A parameter a stage forward saves by returning what its block function
// returned of it: still the caller's operand, no copy.
func.func private @block(%w: tensor<4xf32> {bufferization.writable = false})
    -> (tensor<4xf32>, tensor<2x2xf32>) {
  %e = tensor.empty() : tensor<4xf32>
  %y = linalg.add ins(%w, %w : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  %v = tensor.expand_shape %w [[0, 1]] output_shape [2, 2] : tensor<4xf32> into tensor<2x2xf32>
  return %y, %v : tensor<4xf32>, tensor<2x2xf32>
}
func.func private @stage(%w: tensor<4xf32> {bufferization.writable = false})
    -> (tensor<4xf32>, tensor<4xf32>) {
  %r:2 = call @block(%w) : (tensor<4xf32>) -> (tensor<4xf32>, tensor<2x2xf32>)
  %c = tensor.collapse_shape %r#1 [[0, 1]] : tensor<2x2xf32> into tensor<4xf32>
  return %r#0, %c : tensor<4xf32>, tensor<4xf32>
}
func.func @rank(%w: tensor<4xf32> {bufferization.writable = false},
                %o0: memref<4xf32>, %o1: memref<4xf32>) attributes {dualpipe.rank = 0 : i64} {
  %r:2 = call @stage(%w) : (tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
  bufferization.materialize_in_destination %r#0 in restrict writable %o0 : (tensor<4xf32>, memref<4xf32>) -> ()
  bufferization.materialize_in_destination %r#1 in restrict writable %o1 : (tensor<4xf32>, memref<4xf32>) -> ()
  return
}

// CHECK-LABEL: func.func @rank(
// CHECK-SAME: %[[W:[^:]*]]: tensor<4xf32>
// CHECK: %[[R:.*]]:2 = call @stage(
// CHECK-NEXT: %[[T0:.*]] = bufferization.to_tensor %[[R]]#0 restrict writable
// CHECK-NEXT: %[[E:.*]] = tensor.expand_shape %[[W]] {{\[\[}}0, 1]] output_shape [2, 2] : tensor<4xf32> into tensor<2x2xf32>
// CHECK-NEXT: %[[C:.*]] = tensor.collapse_shape %[[E]] {{\[\[}}0, 1]] : tensor<2x2xf32> into tensor<4xf32>
// CHECK-NOT: memref.copy
// CHECK: bufferization.materialize_in_destination %[[T0]]
// CHECK: bufferization.materialize_in_destination %[[C]]

// -----

// A rank program's tensor call of a function the module does not define
// cannot be bufferized first.
func.func private @external(tensor<4xf32>) -> tensor<4xf32>

func.func @rank(%x: tensor<4xf32>, %o: memref<4xf32>) attributes {dualpipe.rank = 0 : i64} {
  // expected-error @below {{calls @external on tensors, which this module does not define: a rank program's callees must have bodies to be bufferized before it}}
  %r = call @external(%x) : (tensor<4xf32>) -> tensor<4xf32>
  bufferization.materialize_in_destination %r in restrict writable %o : (tensor<4xf32>, memref<4xf32>) -> ()
  return
}
