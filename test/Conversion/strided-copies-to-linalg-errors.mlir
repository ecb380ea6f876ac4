// RUN: dualpipe-opt %s --dualpipe-strided-copies-to-linalg -verify-diagnostics

// An unranked copy has no linalg.copy form: the pass says so instead of
// leaving a call of memrefCopy for the link to fail on.
func.func @unranked(%a: memref<*xf32>, %b: memref<*xf32>) {
  // expected-error @+1 {{copies an unranked memref, which memref-to-llvm lowers to a call of the C runner utils' memrefCopy that step.so does not link; cast both operands to ranked memrefs before the cpu lowering}}
  memref.copy %a, %b : memref<*xf32> to memref<*xf32>
  return
}
