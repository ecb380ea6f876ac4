// RUN: dualpipe-opt %s --dualpipe-math-approximation | FileCheck %s

// f32 transcendentals become inline polynomials (arith and math.fma, no
// call), scalars and vectors alike.
// CHECK-LABEL: func.func @f32_scalars
// CHECK-NOT: math.tanh
// CHECK-NOT: math.exp
// CHECK-NOT: math.log
// CHECK-NOT: math.erf
// CHECK: math.fma
// CHECK-NOT: math.tanh
// CHECK-NOT: math.exp
// CHECK-NOT: math.log
// CHECK-NOT: math.erf
// CHECK: return
func.func @f32_scalars(%x: f32) -> (f32, f32, f32, f32, f32, f32, f32) {
  %0 = math.tanh %x : f32
  %1 = math.exp %x : f32
  %2 = math.expm1 %x : f32
  %3 = math.log %x : f32
  %4 = math.log1p %x : f32
  %5 = math.log2 %x : f32
  %6 = math.erf %x : f32
  return %0, %1, %2, %3, %4, %5, %6 : f32, f32, f32, f32, f32, f32, f32
}

// CHECK-LABEL: func.func @f32_vector
// CHECK-NOT: math.tanh
// CHECK: math.fma {{.*}} : vector<8xf32>
// CHECK-NOT: math.tanh
// CHECK: return
func.func @f32_vector(%x: vector<8xf32>) -> vector<8xf32> {
  %0 = math.tanh %x : vector<8xf32>
  return %0 : vector<8xf32>
}

// f64 keeps libm's precision; ops outside the set (sqrt, sin, cos) are
// left to convert-math-to-llvm / convert-math-to-libm.
// CHECK-LABEL: func.func @untouched
// CHECK-DAG: math.tanh %{{.*}} : f64
// CHECK-DAG: math.exp %{{.*}} : f64
// CHECK-DAG: math.log %{{.*}} : f64
// CHECK-DAG: math.sqrt %{{.*}} : f32
// CHECK-DAG: math.sin %{{.*}} : f32
// CHECK-DAG: math.cos %{{.*}} : f32
func.func @untouched(%d: f64, %x: f32) -> (f64, f64, f64, f32, f32, f32) {
  %0 = math.tanh %d : f64
  %1 = math.exp %d : f64
  %2 = math.log %d : f64
  %3 = math.sqrt %x : f32
  %4 = math.sin %x : f32
  %5 = math.cos %x : f32
  return %0, %1, %2, %3, %4, %5 : f64, f64, f64, f32, f32, f32
}

// The loops convert-linalg-to-loops leaves: the body's tanh is rewritten in
// place.
// CHECK-LABEL: func.func @in_loop
// CHECK: scf.for
// CHECK-NOT: math.tanh
// CHECK: memref.store
func.func @in_loop(%a: memref<64xf32>, %b: memref<64xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  scf.for %i = %c0 to %c64 step %c1 {
    %v = memref.load %a[%i] : memref<64xf32>
    %t = math.tanh %v : f32
    memref.store %t, %b[%i] : memref<64xf32>
  }
  return
}
