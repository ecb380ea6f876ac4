// Our send/recv implement GPU_AsyncOpInterface, so upstream gpu-async-region
// threads them into the token chain like any gpu op.
// RUN: dualpipe-opt %s --gpu-async-region | FileCheck %s

// CHECK-LABEL: func.func @exchange
func.func @exchange(%a: memref<4xf32>, %b: memref<4xf32>) attributes {dualpipe.rank = 0 : i64} {
  // CHECK: %[[T0:.*]] = gpu.wait async
  // CHECK: %[[T1:.*]] = dualpipe.send async [%[[T0]]] %{{.*}} to 1 : memref<4xf32>
  dualpipe.send %a to 1 : memref<4xf32>
  // CHECK: %[[T2:.*]] = dualpipe.recv async [%[[T1]]] %{{.*}} from 1 : tensor<4xf32> into memref<4xf32>
  dualpipe.recv %b from 1 : tensor<4xf32> into memref<4xf32>
  // CHECK: gpu.wait [%[[T2]]]
  return
}
