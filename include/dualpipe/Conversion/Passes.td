//===- Passes.td - dualpipe lowering passes ----------------*- tablegen -*-===//
#ifndef DUALPIPE_CONVERSION_PASSES
#define DUALPIPE_CONVERSION_PASSES

include "mlir/Pass/PassBase.td"

def DualPipeLowerCommToRuntime
    : Pass<"dualpipe-lower-comm-to-runtime", "::mlir::ModuleOp"> {
  let summary = "Lower synchronous dualpipe.send/recv to calls into the runtime";
  let description = [{
    Replaces every synchronous `dualpipe.send` / `dualpipe.recv` on a memref
    with a call to the runtime's C ABI (`dualpipe_rt_send` /
    `dualpipe_rt_recv`: peer, tag, data pointer, byte count), declaring
    those functions once. Asynchronous forms (with a `!gpu.async.token`)
    belong to the cuda target and are rejected here.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::LLVM::LLVMDialect"];
}

def DualPipeEmitPackedEntryPoints
    : Pass<"dualpipe-emit-packed-entry-points", "::mlir::ModuleOp"> {
  let summary = "Give every C-interface entry point a one-pointer wrapper";
  let description = [{
    On LLVM-dialect IR, for every `_mlir_ciface_<name>` function whose name
    starts with `prefix`, adds `<name>_packed(ptr %args)`: argument i of the
    C-interface function is `args[i]` itself when it is a pointer (a memref
    descriptor), else the value `args[i]` points to. A runtime can then call
    any entry point without knowing its arity at compile time.
  }];
  let options = [
    Option<"prefix", "prefix", "std::string", /*default=*/"\"dualpipe_\"",
           "Only wrap entry points whose name starts with this">,
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def DualPipeStripAnnotations
    : Pass<"dualpipe-strip-annotations", "::mlir::ModuleOp"> {
  let summary = "Drop dualpipe ops and attributes before translation to LLVM IR";
  let description = [{
    The last step before `mlir-translate --mlir-to-llvmir`: erases the
    `dualpipe.pipeline` record and every `dualpipe.*` attribute on functions
    and their arguments, which LLVM IR has no place for (the manifest keeps
    what the runtime needs). Any other dualpipe op left at this point is an
    error: it was not lowered.
  }];
}

#endif // DUALPIPE_CONVERSION_PASSES
