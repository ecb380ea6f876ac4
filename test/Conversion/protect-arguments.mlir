// RUN: dualpipe-opt %s --dualpipe-protect-arguments | FileCheck %s
// RUN: dualpipe-opt %s --dualpipe-protect-arguments --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" | FileCheck %s --check-prefix=BUF

// Tensor arguments of every defined function become read-only for one-shot
// bufferization; memrefs, scalars and declarations are left alone.
// CHECK-LABEL: func.func @stage(
// CHECK-SAME: %{{.*}}: tensor<4xf32> {bufferization.writable = false, dualpipe.param = "w"}
// CHECK-SAME: %{{.*}}: memref<4xf32>,
// CHECK-SAME: %{{.*}}: f32)
func.func @stage(%w: tensor<4xf32> {dualpipe.param = "w"}, %out: memref<4xf32>, %s: f32) -> tensor<4xf32> {
  %c = arith.constant 0 : index
  %r = tensor.insert %s into %w[%c] : tensor<4xf32>
  return %r : tensor<4xf32>
}
// CHECK: func.func private @external(tensor<4xf32>)
func.func private @external(tensor<4xf32>)

// So the insert into the argument writes a copy, not the caller's buffer.
// BUF-LABEL: func.func @stage(
// BUF: %[[COPY:.*]] = memref.alloc() {{.*}} : memref<4xf32>
// BUF: memref.copy %{{.*}}, %[[COPY]]
// BUF: memref.store %{{.*}}, %[[COPY]]
