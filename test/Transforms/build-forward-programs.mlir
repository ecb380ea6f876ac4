// RUN: dualpipe-opt %s --dualpipe-build-forward-programs -split-input-file | FileCheck %s

func.func @m(%x: memref<4xf32> {dualpipe.input = "x"}, %w: memref<4xf32> {dualpipe.param = "w"}) -> memref<4xf32> attributes {dualpipe.model} {
  return %x : memref<4xf32>
}
func.func @m_stage0(%x: memref<4xf32> {dualpipe.arg_index = 0 : i64, dualpipe.input = "x"}) -> (memref<4xf32>, memref<2xf32>) {
  %a = memref.alloc() : memref<2xf32>
  return %x, %a : memref<4xf32>, memref<2xf32>
}
func.func @m_stage1(%a: memref<4xf32> {dualpipe.from_stage = 0 : i64}, %b: memref<2xf32> {dualpipe.from_stage = 0 : i64}, %w: memref<4xf32> {dualpipe.arg_index = 1 : i64, dualpipe.param = "w"}) -> memref<4xf32> {
  return %w : memref<4xf32>
}
dualpipe.pipeline "linear" ranks 2 stages [@m_stage0, @m_stage1] on [0, 1] model @m

// Every entry point takes the model's arguments, then one buffer per result.
// CHECK-LABEL: func.func @dualpipe_rank0(
// CHECK-SAME: %[[X:.*]]: memref<4xf32> {dualpipe.input = "x"}, %[[W:.*]]: memref<4xf32> {dualpipe.param = "w"}, %[[O:.*]]: memref<4xf32> {dualpipe.output = 0 : i64})
// CHECK-SAME: attributes {dualpipe.rank = 0 : i64, llvm.emit_c_interface}
// CHECK: %[[R:.*]]:2 = call @m_stage0(%[[X]])
// CHECK: dualpipe.send %[[R]]#0 to 1 : memref<4xf32>
// CHECK: dualpipe.send %[[R]]#1 to 1 tag 1 : memref<2xf32>
// CHECK-NEXT: return

// CHECK-LABEL: func.func @dualpipe_rank1(
// CHECK-SAME: %[[X1:.*]]: memref<4xf32> {dualpipe.input = "x"}, %[[W1:.*]]: memref<4xf32> {dualpipe.param = "w"}, %[[O1:.*]]: memref<4xf32> {dualpipe.output = 0 : i64})
// CHECK: %[[B0:.*]] = memref.alloc() : memref<4xf32>
// CHECK: dualpipe.recv %[[B0]] from 0 : tensor<4xf32> into memref<4xf32>
// CHECK: %[[B1:.*]] = memref.alloc() : memref<2xf32>
// CHECK: dualpipe.recv %[[B1]] from 0 tag 1 : tensor<2xf32> into memref<2xf32>
// CHECK: %[[Y:.*]] = call @m_stage1(%[[B0]], %[[B1]], %[[W1]])
// CHECK: memref.copy %[[Y]], %[[O1]]

// CHECK-LABEL: func.func @dualpipe_reference(
// CHECK: %[[Z:.*]] = call @m(
// CHECK: memref.copy %[[Z]],
