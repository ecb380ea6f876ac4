// RUN: dualpipe-opt %s --pass-pipeline='builtin.module(func.func(dualpipe-scf-to-cf))' | FileCheck %s
// The same result as upstream's conversion, block for block, up to names:
// RUN: dualpipe-opt %s --pass-pipeline='builtin.module(func.func(dualpipe-scf-to-cf))' | sed -e 's/\^bb[0-9]*/^BB/g' -e 's/%[0-9a-z_]*/%V/g' > %t.ours
// RUN: dualpipe-opt %s --pass-pipeline='builtin.module(func.func(convert-scf-to-cf))' | sed -e 's/\^bb[0-9]*/^BB/g' -e 's/%[0-9a-z_]*/%V/g' > %t.upstream
// RUN: diff %t.ours %t.upstream

// Three loop nests in a row (one with an scf.if inside), as a stage's
// loops are after convert-linalg-to-loops: every SCF op becomes blocks.
// CHECK-LABEL: func.func @nests(
// CHECK-NOT: scf.
// CHECK: cf.cond_br
// CHECK: cf.cond_br
// CHECK: cf.cond_br
// CHECK: cf.cond_br
// CHECK: return
func.func @nests(%a: memref<4x8xf32>, %b: memref<8xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  %zero = arith.constant 0.0 : f32
  scf.for %i = %c0 to %c4 step %c1 {
    scf.for %j = %c0 to %c8 step %c1 {
      memref.store %zero, %a[%i, %j] : memref<4x8xf32>
    }
  }
  %s = scf.for %j = %c0 to %c8 step %c1 iter_args(%acc = %zero) -> (f32) {
    %v = memref.load %b[%j] : memref<8xf32>
    %r = arith.addf %acc, %v : f32
    scf.yield %r : f32
  }
  scf.for %j = %c0 to %n step %c1 {
    %p = arith.cmpi ult, %j, %c8 : index
    scf.if %p {
      memref.store %s, %b[%j] : memref<8xf32>
    }
  }
  return
}

// Code without SCF is left alone.
// CHECK-LABEL: func.func @straight(
// CHECK-NEXT: arith.addf
// CHECK-NEXT: return
func.func @straight(%x: f32) -> f32 {
  %y = arith.addf %x, %x : f32
  return %y : f32
}
