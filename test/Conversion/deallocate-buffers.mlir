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

// -----

// A rolled program: a loop that carries no buffer is a scope of its own.
// What its body allocates (a micro-batch's activations, a call's results)
// is freed in the body after its last use, without upstream's ownership
// indicators; the outer buffers it reads and writes in place live past the
// loop.

func.func private @fwd(%x: memref<4xf32>, %w: memref<4xf32>) -> (memref<4xf32>, memref<4xf32>)

// CHECK-LABEL: func.func @rolled
func.func @rolled(%in: memref<16x4xf32>, %w: memref<4xf32>, %out: memref<4xf32>) attributes {dualpipe.rank = 0 : i64} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  // CHECK: %[[ACC:.*]] = memref.alloc
  %acc = memref.alloc() : memref<4xf32>
  // CHECK: scf.for
  scf.for %m = %c0 to %c4 step %c1 {
    %row = memref.subview %in[%m, 0] [1, 4] [1, 1] : memref<16x4xf32> to memref<4xf32, strided<[1], offset: ?>>
    // CHECK: %[[X:.*]] = memref.alloc
    %x = memref.alloc() : memref<4xf32>
    // CHECK-NEXT: memref.copy %{{.*}}, %[[X]]
    memref.copy %row, %x : memref<4xf32, strided<[1], offset: ?>> to memref<4xf32>
    // CHECK-NEXT: %[[Y:.*]]:2 = func.call @fwd(%[[X]], %{{.*}})
    %y:2 = func.call @fwd(%x, %w) : (memref<4xf32>, memref<4xf32>) -> (memref<4xf32>, memref<4xf32>)
    // CHECK-NEXT: memref.dealloc %[[Y]]#1
    // CHECK-NEXT: memref.dealloc %[[X]]
    // CHECK-NEXT: memref.copy %[[Y]]#0, %[[ACC]]
    memref.copy %y#0, %acc : memref<4xf32> to memref<4xf32>
    // CHECK-NEXT: memref.dealloc %[[Y]]#0
    // CHECK-NEXT: }
  }
  // CHECK-NEXT: memref.copy %[[ACC]], %{{.*}}
  memref.copy %acc, %out : memref<4xf32> to memref<4xf32>
  // CHECK-NEXT: memref.dealloc %[[ACC]]
  // CHECK-NEXT: return
  // CHECK-NOT: bufferization.dealloc
  return
}

// The same with the sum carried as the loop's buffer, yielded unchanged
// (how one-shot bufferization leaves an in-place sum): still a scope, and
// the loop's result is the sum's buffer, freed after its last use.

// CHECK-LABEL: func.func @rolled_carried
func.func @rolled_carried(%in: memref<16x4xf32>, %w: memref<4xf32>, %out: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  // CHECK: %[[ACC:.*]] = memref.alloc
  %acc = memref.alloc() : memref<4xf32>
  // CHECK: %[[R:.*]] = scf.for {{.*}} iter_args(%[[S:.*]] = %[[ACC]])
  %r = scf.for %m = %c0 to %c4 step %c1 iter_args(%sum = %acc) -> (memref<4xf32>) {
    // CHECK: %[[Y:.*]]:2 = func.call @fwd
    %y:2 = func.call @fwd(%w, %w) : (memref<4xf32>, memref<4xf32>) -> (memref<4xf32>, memref<4xf32>)
    // CHECK-NEXT: memref.dealloc %[[Y]]#1
    // CHECK-NEXT: linalg.add ins(%[[S]], %[[Y]]#0 : {{.*}}) outs(%[[S]] :
    linalg.add ins(%sum, %y#0 : memref<4xf32>, memref<4xf32>) outs(%sum : memref<4xf32>)
    // CHECK-NEXT: memref.dealloc %[[Y]]#0
    // CHECK-NEXT: scf.yield %[[S]]
    scf.yield %sum : memref<4xf32>
  }
  // CHECK: memref.copy %[[R]], %{{.*}}
  memref.copy %r, %out : memref<4xf32> to memref<4xf32>
  // CHECK-NEXT: memref.dealloc %[[ACC]]
  // CHECK-NEXT: return
  // CHECK-NOT: bufferization.dealloc
  return
}

// -----

// A loop body that allocates and yields a buffer hands it to the next
// iteration: not a scope, so the function goes to upstream's pipeline
// (whose ownership-based deallocation leaves bufferization.dealloc ops
// lowered to memref.dealloc under conditions).

// CHECK-LABEL: func.func @carried
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %false)
// CHECK: memref.alloc
// CHECK: scf.if
// CHECK-NEXT: memref.dealloc
// CHECK: scf.yield %{{.*}}, %true
// CHECK: call @dealloc_helper
func.func @carried(%n: index, %out: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %a = memref.alloc() : memref<4xf32>
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %a) -> (memref<4xf32>) {
    %b = memref.alloc() : memref<4xf32>
    memref.copy %acc, %b : memref<4xf32> to memref<4xf32>
    scf.yield %b : memref<4xf32>
  }
  memref.copy %r, %out : memref<4xf32> to memref<4xf32>
  return
}
