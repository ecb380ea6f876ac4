// RUN: dualpipe-opt %s --dualpipe-return-through-memory=max-fields=2 -split-input-file | FileCheck %s

// A private function returning three fields stores them into the slot its
// callers pass first; each caller has one slot and loads what it extracts
// right after each call.
// CHECK-LABEL: llvm.func @wide(
// CHECK-SAME: %[[SLOT:.*]]: !llvm.ptr, %[[A:.*]]: !llvm.ptr, %[[B:.*]]: i64)
// CHECK-NOT: -> !llvm.struct
// CHECK-NOT: llvm.insertvalue
// CHECK-NOT: llvm.mlir.poison
// CHECK: %[[F0:.*]] = llvm.getelementptr %[[SLOT]][0, 2] : (!llvm.ptr) -> !llvm.ptr, !llvm.struct<(ptr, ptr, i64)>
// CHECK: llvm.store %[[B]], %[[F0]] : i64, !llvm.ptr
// CHECK: %[[F1:.*]] = llvm.getelementptr %[[SLOT]][0, 1]
// CHECK: llvm.store %[[A]], %[[F1]] : !llvm.ptr, !llvm.ptr
// CHECK: %[[F2:.*]] = llvm.getelementptr %[[SLOT]][0, 0]
// CHECK: llvm.store %[[A]], %[[F2]] : !llvm.ptr, !llvm.ptr
// CHECK: llvm.return{{$}}
llvm.func @wide(%a: !llvm.ptr, %b: i64) -> !llvm.struct<(ptr, ptr, i64)> attributes {sym_visibility = "private"} {
  %0 = llvm.mlir.poison : !llvm.struct<(ptr, ptr, i64)>
  %1 = llvm.insertvalue %a, %0[0] : !llvm.struct<(ptr, ptr, i64)>
  %2 = llvm.insertvalue %a, %1[1] : !llvm.struct<(ptr, ptr, i64)>
  %3 = llvm.insertvalue %b, %2[2] : !llvm.struct<(ptr, ptr, i64)>
  llvm.return %3 : !llvm.struct<(ptr, ptr, i64)>
}

// CHECK-LABEL: llvm.func @caller(
// CHECK: %[[ONE:.*]] = llvm.mlir.constant(1 : i64) : i64
// CHECK: %[[S:.*]] = llvm.alloca %[[ONE]] x !llvm.struct<(ptr, ptr, i64)> : (i64) -> !llvm.ptr
// CHECK: llvm.call @wide(%[[S]], %{{.*}}, %{{.*}}) : (!llvm.ptr, !llvm.ptr, i64) -> ()
// CHECK: %[[G:.*]] = llvm.getelementptr %[[S]][0, 2]
// CHECK: %[[X:.*]] = llvm.load %[[G]] : !llvm.ptr -> i64
// CHECK: llvm.call @wide(%[[S]], %{{.*}}, %[[X]])
// CHECK: %[[W:.*]] = llvm.load %[[S]] : !llvm.ptr -> !llvm.struct<(ptr, ptr, i64)>
// CHECK: llvm.return %[[W]]
llvm.func @caller(%p: !llvm.ptr, %n: i64) -> !llvm.struct<(ptr, ptr, i64)> {
  %r = llvm.call @wide(%p, %n) : (!llvm.ptr, i64) -> !llvm.struct<(ptr, ptr, i64)>
  %x = llvm.extractvalue %r[2] : !llvm.struct<(ptr, ptr, i64)>
  %s = llvm.call @wide(%p, %x) : (!llvm.ptr, i64) -> !llvm.struct<(ptr, ptr, i64)>
  llvm.return %s : !llvm.struct<(ptr, ptr, i64)>
}

// -----

// Public functions, narrow structs and functions whose address is taken
// keep their signatures.
// CHECK-LABEL: llvm.func @public_wide(
// CHECK-SAME: -> !llvm.struct<(i64, i64, i64)>
llvm.func @public_wide(%a: i64) -> !llvm.struct<(i64, i64, i64)> {
  %0 = llvm.mlir.poison : !llvm.struct<(i64, i64, i64)>
  llvm.return %0 : !llvm.struct<(i64, i64, i64)>
}
// CHECK-LABEL: llvm.func @narrow(
// CHECK-SAME: -> !llvm.struct<(i64, i64)>
llvm.func @narrow(%a: i64) -> !llvm.struct<(i64, i64)> attributes {sym_visibility = "private"} {
  %0 = llvm.mlir.poison : !llvm.struct<(i64, i64)>
  llvm.return %0 : !llvm.struct<(i64, i64)>
}
// CHECK-LABEL: llvm.func @address_taken(
// CHECK-SAME: -> !llvm.struct<(i64, i64, i64)>
llvm.func @address_taken(%a: i64) -> !llvm.struct<(i64, i64, i64)> attributes {sym_visibility = "private"} {
  %0 = llvm.mlir.poison : !llvm.struct<(i64, i64, i64)>
  llvm.return %0 : !llvm.struct<(i64, i64, i64)>
}
llvm.func @takes_address() -> !llvm.ptr {
  %f = llvm.mlir.addressof @address_taken : !llvm.ptr
  llvm.return %f : !llvm.ptr
}

// -----

// A result built other than field by field is stored whole.
// CHECK-LABEL: llvm.func @select_wide(
// CHECK-SAME: %[[SLOT:.*]]: !llvm.ptr,
// CHECK: %[[V:.*]] = llvm.select
// CHECK: llvm.store %[[V]], %[[SLOT]] : !llvm.struct<(i64, i64, i64)>, !llvm.ptr
// CHECK: llvm.return{{$}}
llvm.func @select_wide(%c: i1, %x: !llvm.struct<(i64, i64, i64)>, %y: !llvm.struct<(i64, i64, i64)>) -> !llvm.struct<(i64, i64, i64)> attributes {sym_visibility = "private"} {
  %v = llvm.select %c, %x, %y : i1, !llvm.struct<(i64, i64, i64)>
  llvm.return %v : !llvm.struct<(i64, i64, i64)>
}
