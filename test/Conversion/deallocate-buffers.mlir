// RUN: dualpipe-opt %s --split-input-file --dualpipe-deallocate-buffers | FileCheck %s

// Straight-line code: each owned buffer (an allocation, a call's result) is
// freed right after the last use of it or of a view of it; arguments and
// views are never freed.

func.func private @produce(%a: memref<4xf32>) -> memref<4xf32>

// CHECK-LABEL: func.func @rank
func.func @rank(%in: memref<4xf32>, %out: memref<2x2xf32>) attributes {dualpipe.rank = 0 : i64} {
  // CHECK: %[[A:.*]] = memref.alloc
  %a = memref.alloc() : memref<4xf32>
  // CHECK-NEXT: memref.copy %{{.*}}, %[[A]]
  memref.copy %in, %a : memref<4xf32> to memref<4xf32>
  // CHECK-NEXT: %[[P:.*]] = call @produce(%[[A]])
  %p = call @produce(%a) : (memref<4xf32>) -> memref<4xf32>
  // CHECK-NEXT: memref.dealloc %[[A]]
  // CHECK-NEXT: %[[V:.*]] = memref.expand_shape %[[P]]
  %v = memref.expand_shape %p [[0, 1]] output_shape [2, 2] : memref<4xf32> into memref<2x2xf32>
  // CHECK-NEXT: memref.copy %[[V]], %{{.*}}
  memref.copy %v, %out : memref<2x2xf32> to memref<2x2xf32>
  // CHECK-NEXT: memref.dealloc %[[P]]
  // CHECK-NEXT: return
  return
}

// -----

// A buffer carried by an scf.for (which allocates nothing) lives until the
// loop's results are last used; a returned owned buffer is not freed, a
// returned argument is returned as a clone (the caller owns what it gets).

// CHECK-LABEL: func.func private @stage
func.func private @stage(%in: memref<4xf32>) -> (memref<4xf32>, memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  // CHECK: %[[A:.*]] = memref.alloc
  // CHECK: %[[R:.*]] = memref.alloc
  %a = memref.alloc() : memref<4xf32>
  %r = memref.alloc() : memref<4xf32>
  // CHECK: %[[L:.*]] = scf.for
  %l = scf.for %i = %c0 to %c4 step %c1 iter_args(%acc = %a) -> (memref<4xf32>) {
    %x = memref.load %in[%i] : memref<4xf32>
    memref.store %x, %acc[%i] : memref<4xf32>
    scf.yield %acc : memref<4xf32>
  }
  // CHECK: memref.copy %[[L]], %[[R]]
  memref.copy %l, %r : memref<4xf32> to memref<4xf32>
  // CHECK-NEXT: memref.dealloc %[[A]]
  // CHECK-NEXT: %[[C:.*]] = bufferization.clone %{{.*}}
  // CHECK-NEXT: return %[[R]], %[[C]]
  return %r, %in : memref<4xf32>, memref<4xf32>
}

// -----

// More than one block: upstream's ownership-based deallocation handles it
// (the conditional dealloc of what a branch may skip), while a straight-line
// function beside it is set aside and freed at its last use.

// CHECK-LABEL: func.func @branches
func.func @branches(%c: i1, %out: memref<4xf32>) {
  // CHECK: %[[A:.*]] = memref.alloc
  // CHECK: scf.if
  // CHECK-NEXT: memref.dealloc %[[A]]
  // CHECK: ^bb1:
  // CHECK-NEXT: memref.copy %[[A]]
  // CHECK-NEXT: memref.dealloc %[[A]]
  %a = memref.alloc() : memref<4xf32>
  cf.cond_br %c, ^bb1, ^bb2
^bb1:
  memref.copy %a, %out : memref<4xf32> to memref<4xf32>
  cf.br ^bb2
^bb2:
  return
}

// CHECK-LABEL: func.func @straight
func.func @straight(%out: memref<4xf32>) {
  // CHECK-NEXT: %[[B:.*]] = memref.alloc
  // CHECK-NEXT: memref.copy %[[B]]
  // CHECK-NEXT: memref.dealloc %[[B]]
  // CHECK-NEXT: return
  %b = memref.alloc() : memref<4xf32>
  memref.copy %b, %out : memref<4xf32> to memref<4xf32>
  return
}
