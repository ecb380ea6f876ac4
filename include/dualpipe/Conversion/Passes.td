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
    those functions once. A posted receive (`dualpipe.recv async` with no
    dependencies, whose token only synchronous `gpu.wait`s take, as
    `--dualpipe-lower-schedule` emits them) becomes `dualpipe_rt_irecv`,
    which returns a request, and each wait for it `dualpipe_rt_wait`. Other
    asynchronous forms belong to the cuda target and are rejected here.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::LLVM::LLVMDialect"];
}

def DualPipeLowerGemmToRuntime
    : Pass<"dualpipe-lower-gemm-to-runtime", "::mlir::ModuleOp"> {
  let summary = "Lower f32/f64 matmuls on memrefs to the runtime's BLAS GEMM";
  let description = [{
    On bufferized IR, replaces every `linalg.matmul` and
    `linalg.batch_matmul` whose three operands are memrefs (any layout,
    default memory space) of one element type, f32 or f64, and whose
    indexing maps are the default ones or have A and/or B transposed, with
    a call to the runtime (runtime/src/Gemm.cpp):

      `dualpipe_rt_matmul_<f32|f64>(A, B, C, transpose_a, transpose_b)`

    computing C += op(A) * op(B) as linalg does. The operands are passed as
    unranked memrefs (`memref.cast`) and the callee is declared with
    `llvm.emit_c_interface`, so the runtime receives pointers to
    {rank, descriptor} and reads sizes, strides and offset itself (the C
    symbol is `_mlir_ciface_dualpipe_rt_matmul_<f32|f64>`). With
    `fold-transposes`, an A or B that is a temporary filled only by a
    `linalg.transpose` of X (last two dimensions swapped) right before the
    matmul, and read by nothing else, becomes X with the transpose flag
    flipped; the transpose and the temporary are erased. Calls inside a
    region other than a function body are put in a `memref.alloca_scope`
    (each cast takes a stack slot). Integer or mixed-type matmuls, tensors,
    other maps (broadcasts) and other memory spaces are left alone, for
    `convert-linalg-to-loops`. A symbol of the callee's name that is not
    the expected declaration is an error.

    With `contractions` (cpu target), a `linalg.generic` on memrefs whose
    body is exactly `mulf(a0, a1)`, `addf(a2, ...)` and whose loops are one
    m, one n, one k and any batch loops (upstream's
    `linalg::inferContractionDims`), each operand indexed by a permutation
    of the loops it uses, becomes the same call: an `scf.for` over every
    batch loop but the last, rank-reducing `memref.subview`s fixing those,
    and `memref.transpose` views putting each operand in [batch,] row,
    column order (attention's `QK^T` and `PV` and their gradients). No data
    moves in the IR; the runtime copies only views with no unit stride in
    either matrix dimension.
  }];
  let options = [
    Option<"foldTransposes", "fold-transposes", "bool", /*default=*/"true",
           "Fold a linalg.transpose feeding only the matmul into its flag">,
    Option<"foldFills", "fold-fills", "bool", /*default=*/"true",
           "cpu: a linalg.fill of +0.0 into C right before the GEMM (nothing "
           "touching C in between, C allocated by the function) is erased "
           "and the call overwrites C (dualpipe_rt_matmul_into_*, beta = 0)">,
    Option<"contractions", "contractions", "bool", /*default=*/"true",
           "cpu: also lower linalg.generic contractions (one m, n and k "
           "loop, any batch loops, permuted maps) to the GEMM call on views">,
    Option<"target", "target", "std::string", /*default=*/"\"cpu\"",
           "cpu: dualpipe_rt_matmul_* (BLAS); cuda: "
           "dualpipe_rt_cuda_matmul_* (cuBLAS, given its stream later by "
           "--dualpipe-cuda-gemm-on-stream), only for operands with a "
           "static unit stride in one of their last two dimensions">,
  ];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::LLVM::LLVMDialect"];
}

def DualPipeCudaGemmOnStream
    : Pass<"dualpipe-cuda-gemm-on-stream", "::mlir::ModuleOp"> {
  let summary = "Give the cuda target's GEMM calls the kernels' stream";
  let description = [{
    After `gpu-async-region`, on the calls made by
    `--dualpipe-lower-gemm-to-runtime{target=cuda}`: appends a
    `!gpu.async.token` parameter to `dualpipe_rt_cuda_matmul_f32/f64` and
    passes each call the token of the kernels before it (the operand of the
    host `gpu.wait` that gpu-async-region put right before the call, which
    moves after the call), or a fresh `gpu.wait async` token (waited for
    after the call) when there is none. `gpu-to-llvm` turns the token into
    the stream pointer, so cuBLAS runs on the same stream as the kernels.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def DualPipeBarePointerCalls
    : Pass<"dualpipe-bare-pointer-calls", "::mlir::ModuleOp"> {
  let summary = "Pass static memrefs across calls as one pointer";
  let description = [{
    Before `convert-func-to-llvm`: gives every defined `func.func` whose
    memref arguments and results all have static shapes and strides
    upstream's `llvm.bareptr` attribute, so each memref crosses a call as
    its data pointer instead of a descriptor (5 + 2*rank values). A
    function is left with descriptors when a memref it returns may have an
    allocated pointer other than its aligned one (anything but an
    allocation, an argument, a call of a marked function, or a view of
    those that keeps both pointers; not `memref.view`): the bare convention keeps only one of them. The
    allocations themselves must use aligned allocation
    (`finalize-memref-to-llvm{use-aligned-alloc}`), as the cpu lowering
    does. Entry points marked so take bare pointers too;
    `--dualpipe-emit-packed-entry-points` wraps them.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def DualPipeStepHeapNoAlias
    : Pass<"dualpipe-step-heap-noalias", "::mlir::ModuleOp"> {
  let summary = "Mark the step heap's allocation function as returning fresh memory";
  let description = [{
    On LLVM-dialect IR: the declaration of `_mlir_memref_to_llvm_aligned_alloc`
    (what finalize-memref-to-llvm calls for memref.alloc with
    use-generic-functions; the runtime's step heap, runtime/src/StepAlloc.cpp,
    defines it) gets a `llvm.noalias` result, as malloc has in C: every
    call returns a block no other live pointer reaches. LLVM then knows
    that two buffers of a function are distinct, so a reduction into one
    buffer while reading another (a layer norm's two moments, a softmax's
    running maximum) keeps its accumulator in a register and is
    vectorized, instead of storing it after every element.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def DualPipeReturnThroughMemory
    : Pass<"dualpipe-return-through-memory", "::mlir::ModuleOp"> {
  let summary = "Return wide structs through a slot the caller passes";
  let description = [{
    On LLVM-dialect IR: a private function that returns a struct of more
    than `max-fields` fields (convert-func-to-llvm packs a function's
    results into one) instead takes a pointer to a slot as its new first
    argument, stores each field there and returns void. Each caller gets
    one slot per struct type (an alloca in its entry block) and loads the
    fields it extracts right after each call. Public functions, functions
    with a C interface and functions whose symbol is used other than by a
    direct call keep their signature.

    LLVM's SCCP is quadratic in the field count of a struct built field by
    field; a stage forward returns every buffer it saves for the backward.
  }];
  let options = [
    Option<"maxFields", "max-fields", "unsigned", /*default=*/"16",
           "Structs of at most this many fields are still returned">,
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def DualPipeInlineWideCalls
    : Pass<"dualpipe-inline-wide-calls", "::mlir::ModuleOp"> {
  let summary = "Inline a rank program's wide calls of functions only it calls";
  let description = [{
    On tensor-level rank programs (functions with `dualpipe.rank`): a
    `func.call` with more than `min-values` operands and results together,
    of a private function that has no other caller, is inlined with
    upstream's `inlineCall`, and the function erased (with the stage's
    `dualpipe.autodiff` record naming it, which nothing reads after
    `--dualpipe-lower-schedule`). The single-device
    reference's stage is called so, once per loop iteration for its forward
    and once for its backward, passing every saved buffer of every layer;
    one-shot bufferization is quadratic in a call's operands and results,
    and once inlined the loop body calls the block functions instead. A
    call whose body cannot be inlined stays.
  }];
  let options = [
    Option<"minValues", "min-values", "unsigned", /*default=*/"256",
           "Calls with at most this many operands and results together stay">,
  ];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

def DualPipeBufferizeCalleesFirst
    : Pass<"dualpipe-bufferize-callees-first", "::mlir::ModuleOp"> {
  let summary = "One-shot bufferization of every function but the rank programs, whose calls then go through to_buffer/to_tensor";
  let description = [{
    Runs upstream's one-shot module bufferization (function boundaries,
    identity layouts) on the module without its rank programs (functions
    with `dualpipe.rank`), then rewrites each rank program's calls of the
    bufferized functions as calls of their memref versions: an operand
    through `bufferization.to_buffer` (read-only unless the callee writes
    that argument), a result through a `restrict` `bufferization.to_tensor`
    (a result equivalent to a read-only argument is that operand; one that
    may alias an argument without being it is copied first). The rank
    programs are left on tensors for the one-shot bufferization that
    follows, which then analyses unary casts instead of calls with hundreds
    of operands and results (One-Shot Analysis is quadratic in a call's
    arity).
  }];
  let dependentDialects = ["::mlir::bufferization::BufferizationDialect",
                           "::mlir::memref::MemRefDialect"];
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

    An entry point converted with the bare-pointer convention (`<name>`
    with `llvm.bareptr` and `llvm.emit_c_interface`, which upstream gives no
    C-interface wrapper) is wrapped the same way: `args[i]` still points at
    a descriptor, and the wrapper passes its aligned pointer (field 1). The
    runtime's descriptors have offset 0 (runtime/src/session/Buffer.cpp).

    With `internalize` (the default), the packed entry points are then the
    module's only exported functions: every other function defined at the
    top level gets internal linkage, so two step modules (the pipeline and
    the single-device reference) link into one library.
  }];
  let options = [
    Option<"prefix", "prefix", "std::string", /*default=*/"\"dualpipe_\"",
           "Only wrap entry points whose name starts with this">,
    Option<"internalize", "internalize", "bool", /*default=*/"true",
           "Give every defined function but the packed entry points "
           "internal linkage">,
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def DualPipeDropUnreachableBodies
    : Pass<"dualpipe-drop-unreachable-bodies", "::mlir::ModuleOp"> {
  let summary = "Drop the bodies of private functions no call reaches";
  let description = [{
    After `--dualpipe-lower-schedule` the rank programs call the stages'
    derivative functions (and their `_acc` / `_into` forms) directly; the
    model function, the stage functions and whichever derivative forms the
    schedule does not use are reached by no call, only named by the
    `dualpipe.pipeline` record and the stages' `dualpipe.autodiff` records,
    which nothing reads once the schedule is lowered. Each private
    `func.func` with a body that no call reaches from a public function
    (through `func.call`s and any other symbol reference inside reached
    bodies) becomes a declaration, so bufferization and the lowering to
    LLVM do not process it (upstream's `symbol-dce` keeps them: the
    records count as uses). Public functions and everything they reach are
    unchanged.
  }];
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

def DualPipeLowerSchedule
    : Pass<"dualpipe-lower-schedule", "::mlir::ModuleOp"> {
  let summary = "Turn each rank's program into a function that runs the step";
  let description = [{
    For every `dualpipe.program` of the `dualpipe.schedule` (after
    `--dualpipe-autodiff`, `--dualpipe-schedule` and
    `--dualpipe-insert-comm`), builds `@<prefix><r>` on tensors:

    - arguments: the model's arguments, inputs with a leading dimension M
      times the micro-batch's (micro-batch m is rows m*b .. m*b+b-1), then
      the labels of the loss the same way; then output buffers (memrefs):
      the per-micro-batch losses `memref<Mxf32>` and one gradient buffer per
      parameter, in model order;
    - body: the program's actions in order. F calls the stage's forward,
      B/I/W its backward, backward-input and backward-weight, with
      activations and gradients from the same rank or from messages;
      parameter gradients are summed over micro-batches (a stage with two or
      more f32 parameters sums them in one flat accumulator that
      `@<callee>_acc`, a function next to its B or W, adds into in place;
      the rank program slices each parameter's gradient out of it at its
      all-reduce or output); a rank writes the gradient outputs of the
      parameters it holds only (the manifest's `param_ranks`); the losses of the
      micro-batches whose last stage runs here are written to the losses
      buffer (the others stay 0, so summing the buffers of all ranks gives
      every loss once); `dualpipe.allreduce_grads` becomes a
      `dualpipe.all_reduce` of the function's gradients (one, of the flat
      accumulator, when the stage packs them and shares no parameter with
      the rank's other stage).
    - messages: a send is `dualpipe.send` of each tensor of the message at
      its `p2p_group` (the runtime buffers it: a send never blocks). With
      `post-receives` (the default, and what the cpu target uses) a receive
      is posted where the schedule posts it: an asynchronous
      `dualpipe.recv` into a fresh buffer at its `p2p_group`, whose token a
      `gpu.wait` waits for at the first use of the message after its
      `wait_recv`, so the transfer runs while the rank computes. In an F&B
      pair (`dualpipe.overlap`) what the first half sends leaves before the
      second half computes. Waiting later and sending earlier than the
      schedule never blocks a rank where the schedule's order would not
      (sends are buffered), so `--dualpipe-verify`'s proof still holds.
      Without it, a receive is a blocking `dualpipe.recv` at its
      `wait_recv` (the form the cuda target's stream ordering expects).
      Each tensor of each message has its own tag
      (payload, stage, micro-batch, index), so receives never take another
      message's data even where a schedule consumes a link out of order.

    Ranks that do not own a parameter leave its gradient buffer at 0. The
    rank step functions are the module's interface: every other function
    defined in it (stage code, the model) becomes private.

    With `roll-microbatches`, a program that is one stage's F and B for
    micro-batch 0, 1, ..., M-1 in that order with nothing else (a 1-rank,
    1-stage 1F1B step: the single-device reference) becomes an `scf.for`
    over the micro-batches, whose body is micro-batch m's F and B, so its
    code does not grow with M; the losses and the summed gradients are the
    loop's carried values (each starts at 0, so its first sum adds the
    first micro-batch's gradient to 0).
  }];
  let options = [
    Option<"prefix", "prefix", "std::string", /*default=*/"\"dualpipe_rank\"",
           "Name prefix of the per-rank entry points">,
    Option<"postReceives", "post-receives", "bool", /*default=*/"true",
           "Post each receive at its p2p_group and wait at first use">,
    Option<"rollMicrobatches", "roll-microbatches", "bool",
           /*default=*/"false",
           "Lower a program of one stage's F, B per micro-batch as a loop">,
    Option<"flatLoopSumFrom", "flat-loop-sums-from", "unsigned",
           /*default=*/"256",
           "In a rolled loop, carry the stage's gradient sums as one flat "
           "accumulator from this many parameters on (each one carried "
           "alone below)">,
  ];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::bufferization::BufferizationDialect"];
}

def DualPipeBuildOptimizer
    : Pass<"dualpipe-build-optimizer", "::mlir::ModuleOp"> {
  let summary = "Compile the optimizer step (SGD, SGD with momentum, AdamW) into the module";
  let description = [{
    After `--dualpipe-lower-schedule`, adds `@<name>`: one function that
    applies the optimizer to every parameter of the model, in place, once the
    step's gradients are synchronized. Its arguments are memrefs, in this
    order: the parameters (in the order of the rank entry point
    `@<entry>`, `dualpipe.param` names), their gradients (`dualpipe.grad_of`),
    the optimizer state (`dualpipe.state` names: `<param>.momentum_buffer`
    for `momentum`, `<param>.exp_avg` and `<param>.exp_avg_sq` for `adamw`,
    none for `sgd`; zero-initialized by the caller) and `memref<2xf32>`
    scalars `[lr, t]` (`t` is the 1-based step number, used by AdamW's bias
    correction). The update is PyTorch's (`torch.optim.SGD` with
    `momentum`, dampening 0, no Nesterov; `torch.optim.AdamW`), element by
    element in one `linalg.generic` per parameter:

    - sgd: `p -= lr * (g + wd * p)`
    - momentum: `b = momentum * b + (g + wd * p); p -= lr * b`
    - adamw: `p *= 1 - lr * wd; m = beta1 * m + (1 - beta1) * g;`
      `v = beta2 * v + (1 - beta2) * g * g;`
      `p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)`

    Only f32 parameters are supported; anything else is an error naming the
    parameter. The function has `llvm.emit_c_interface`, so the lowering
    gives it a packed entry point `<name>_packed`.
  }];
  let options = [
    Option<"kind", "kind", "std::string", /*default=*/"\"sgd\"",
           "Optimizer: sgd, momentum or adamw">,
    Option<"lr", "lr", "double", /*default=*/"0.01",
           "Default learning rate (the caller passes the one it uses)">,
    Option<"momentum", "momentum", "double", /*default=*/"0.9",
           "Momentum factor (momentum)">,
    Option<"beta1", "beta1", "double", /*default=*/"0.9",
           "First-moment decay (adamw)">,
    Option<"beta2", "beta2", "double", /*default=*/"0.999",
           "Second-moment decay (adamw)">,
    Option<"eps", "eps", "double", /*default=*/"1e-8",
           "Denominator term (adamw)">,
    Option<"weightDecay", "weight-decay", "double", /*default=*/"0.0",
           "Weight decay (decoupled for adamw, L2 for sgd and momentum)">,
    Option<"entry", "entry", "std::string", /*default=*/"\"dualpipe_rank0\"",
           "The rank entry point whose dualpipe.param arguments are the "
           "parameters">,
    Option<"name", "name", "std::string",
           /*default=*/"\"dualpipe_optimizer\"",
           "Name of the optimizer function">,
  ];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::memref::MemRefDialect"];
}

def DualPipeScfToCf : Pass<"dualpipe-scf-to-cf"> {
  let summary = "convert-scf-to-cf in time linear in the function's size";
  let description = [{
    The same conversion as upstream `convert-scf-to-cf` (its patterns), run
    one outermost SCF op at a time from the last to the first. Upstream
    converts in program order, and each lowered loop moves every op after
    it into a new block, which makes it quadratic in the number of loop nests
    of a function; stage functions of deep models have thousands. Converting
    the last nest first moves only the ops between neighbouring nests.
  }];
  let dependentDialects = ["::mlir::cf::ControlFlowDialect",
                           "::mlir::arith::ArithDialect"];
}

def DualPipeMathApproximation : Pass<"dualpipe-math-approximation"> {
  let summary = "f32 tanh/exp/expm1/log/log1p/log2/erf as polynomial approximations";
  let description = [{
    Rewrites `math.tanh`, `math.exp`, `math.expm1`, `math.log`,
    `math.log1p`, `math.log2` and `math.erf` on f32 (scalars or vectors;
    f16/bf16 are computed in f32) with upstream MLIR's polynomial
    approximation patterns (`populateMathPolynomialApproximationPatterns`),
    which upstream only exposes through a test pass. The result is arith and
    `math.fma` code that LLVM can vectorize, instead of one libm call per
    element. f64 and every other math op are left for
    `convert-math-to-llvm` / `convert-math-to-libm`. The accuracy against
    libm is tested in test/Conversion/math-approximation-accuracy.mlir.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::vector::VectorDialect"];
}

def DualPipeVectorizeMaxReductions
    : Pass<"dualpipe-vectorize-max-reductions", "::mlir::func::FuncOp"> {
  let summary = "Vectorize max/min reductions over the innermost loop with upstream's linalg vectorizer";
  let description = [{
    On buffers: a linalg.generic whose loops are all parallel but the
    innermost, a reduction of static length (at most `max-length`) whose
    combiner is `arith.maximumf` or `arith.minimumf` (a softmax's running
    maximum, causal mask included), is tiled to one output element per
    iteration of scf.for loops over the parallel dimensions
    (scf::tileUsingSCF) and each tile vectorized whole
    (linalg::vectorize: transfer reads, the body on vectors, one
    vector.multi_reduction), with upstream's vector lowering patterns
    (multi-reduction to vector.reduction, transfers to loads and stores)
    applied after. LLVM does not vectorize these loops itself: its cost model
    rejects llvm.maximum reductions on x86, and InstCombine turns a masked
    maximum (max(acc, select(c, -inf, x))) into a select of the accumulator,
    which is no reduction it recognizes. Exact: maximumf and minimumf are
    associative and commutative (NaN and signed zeros included), so the
    vector order gives the scalar loop's result.
  }];
  let options = [
    Option<"maxLength", "max-length", "int64_t", /*default=*/"4096",
           "Longest reduction vectorized (one vector of this many elements)">,
  ];
  let dependentDialects = [
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect",
    "::mlir::affine::AffineDialect", "::mlir::arith::ArithDialect",
    "::mlir::memref::MemRefDialect"
  ];
}

def DualPipeLanePartialSums : Pass<"dualpipe-lane-partial-sums"> {
  let summary = "Sum contiguous f32/f64 reductions in a fixed number of vector lanes, so LLVM vectorizes them without reordering a single addition";
  let description = [{
    A `linalg.generic` on tensors of static shape whose innermost loop is a
    reduction of n = c * L iterations (other reduction loops, a loss's
    rows, stay outside the lanes), and each of whose outputs is
    a sum (the body yields an `arith.addf` of the output's running value and
    a term that does not depend on any running value; several outputs, as
    in a layer norm's moments, are fine; contractions are left to the GEMM
    lowering) becomes two ops:
    - the same body over loops (..., c, L): the reduction loop split into c
      blocks (reduction) of L lanes (parallel, the new innermost loop),
      summing into L-element partial outputs, initialized to zero; an
      input that walks the loop as one of its dimensions has that
      dimension reshaped into (c, L) (`tensor.expand_shape`, no copy; an
      input that walks it otherwise, e.g. with a stride, leaves the op as it
      is), and `linalg.index` of the split loop becomes c * L + l;
    - a sum of each output's L partials in lane order, added to the
      original output.
    L is 32 for n >= 1024 (a multiple of 32), 8 for n >= 16 (a multiple of
    8); other sums are left as they are, a strict left-to-right chain.

    The lanes are independent, so LLVM's vectorizers run them on vectors
    without any fast-math flag, and the rounding of every sum is a
    function of the IR alone. With `reassoc` on the combiners instead (the
    former --dualpipe-reassociate-reductions), LLVM chose the partial sums
    per loop from its cost model, and the same sum rounded differently in
    the pipeline's functions and in its single-rank reference: `dualpipe-run
    --check` failed on 48- and 96-layer GPTs (1.3e-5 and 1.6e-5 relative on
    an attention weight's gradient, issue #15). The L partial sums also keep
    a long sum's error growing as c + L terms instead of n
    (test/Integration/wide-mlp-f32-accuracy.test).
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect"];
}

def DualPipeSplitLongReductions : Pass<"dualpipe-split-long-reductions"> {
  let summary = "Sum long f32/f64 reductions in blocks (upstream split reduction), so their rounding error stays at PyTorch's level";
  let description = [{
    A `linalg.generic` on tensors with one output whose combiner is an
    `arith.addf` of the running value (a sum; contractions are left to the
    GEMM lowering) is rewritten when the loops `convert-linalg-to-loops`
    makes of it would add more than `min-chain` terms one after another
    into one element: the innermost loop, when it is a reduction, is run
    in partial sums per vector lane after `--dualpipe-lane-partial-sums`
    and does not count; every other
    reduction loop does (a column sum over the rows, the row partials of a
    loss over rows x a narrow width). Several reduction loops that are
    adjacent and contiguous in every operand are first collapsed into one
    (`linalg::collapseOpIterationDims`); the reduction loop of n iterations
    is then split with `linalg::splitReduction` into r blocks (r the
    largest power of two dividing n with r * r <= n; at least 8) summed
    into an r-element partial tensor, and a second sum over the r partials:
    two chains of about sqrt(n) instead of one of n. The blocks are the
    outer loop, so a contiguous reduction stays contiguous.

    Measured (issue #15, test/Integration/wide-mlp-f32-accuracy.test): a
    4-layer width-16 MLP over 65536 rows per micro-batch had its loss
    2.5e-6 relative off float64 without it (PyTorch float32: 2.2e-8) and
    its bias gradients 1.9e-6 (PyTorch: 4.3e-7); with it 8.3e-9 and
    4.3e-7. Reductions below `min-chain` (the bench models'
    64 to 512 rows, layer norms and softmaxes over a contiguous row) are
    unchanged.
  }];
  let options = [
    Option<"minChain", "min-chain", "int64_t", /*default=*/"1024",
           "split a sum whose sequential chain has at least this many terms">,
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect"];
}

def DualPipeProtectArguments
    : Pass<"dualpipe-protect-arguments", "::mlir::ModuleOp"> {
  let summary = "Mark every function's tensor arguments read-only for bufferization";
  let description = [{
    Sets `bufferization.writable = false` on the tensor arguments of every
    function, so one-shot bufferization never writes into a caller's buffer:
    the parameters and inputs the runtime passes are shared by all ranks.
    An argument that already carries `bufferization.writable` keeps it (the
    flat gradient accumulator of `--dualpipe-lower-schedule`'s `<callee>_acc`
    functions is written in place).
  }];
}


def DualPipeDeallocateBuffers
    : Pass<"dualpipe-deallocate-buffers", "::mlir::ModuleOp"> {
  let summary = "Free bufferized buffers at their last use in straight-line "
                "functions, the rest with upstream's deallocation pipeline";
  let description = [{
    Inserts the `memref.dealloc` of every buffer that bufferization
    allocated, keeping upstream's function-boundary ABI (a callee never
    frees its arguments; the caller owns every returned buffer, which never
    aliases an argument). A function that is one block whose owned buffers
    are all `memref.alloc`, `bufferization.clone` or call results (rank
    programs, stage and block functions) frees each right after the last
    use of it or of a view of it (views: `ViewLikeOpInterface` results, and
    the buffer results of region ops that allocate nothing, such as an
    `scf.for` carrying a buffer, which may view any owned buffer they use).
    The body of an `scf.for` that carries no buffer (a rolled program's
    loop over the micro-batches) is such a block of its own: what it
    allocates is freed in the body after its last use there, and the outer
    buffers it uses live until the loop's end.
    A returned buffer that is not an owned buffer returned once (an
    argument, a view, a global) is returned as a `bufferization.clone`, as
    upstream does. Every other function (more than one block, a buffer
    allocated inside a region, an op of unknown aliasing that takes an
    owned buffer and returns one, an unknown allocation) goes through
    upstream's `buffer-deallocation-pipeline`, the handled ones set aside
    (as private declarations) while it runs.

    Why not upstream's pipeline everywhere: a rank program calls stage
    functions with tens of results each, thousands of times; the ownership
    indicators and `bufferization.dealloc` ops it builds for that grow the
    function ten-fold and `buffer-deallocation-simplification` is
    superlinear in them (157 s of a 96-layer compile in bench/REPORT.md;
    45 s of 72 s lowering for a 12-layer GPT), while for straight-line code
    over owned buffers the last use is the answer.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::bufferization::BufferizationDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect"];
}

def DualPipeStridedCopiesToLinalg
    : Pass<"dualpipe-strided-copies-to-linalg", "::mlir::ModuleOp"> {
  let summary = "Non-contiguous memref.copy becomes linalg.copy (cpu target)";
  let description = [{
    On bufferized code, before the cpu lowering's convert-linalg-to-loops:
    every `memref.copy` whose source or target is not contiguous becomes a
    `linalg.copy`, so that it is lowered to a loop nest. Upstream's
    memref-to-llvm lowers such a copy (from bufferizing an
    `extract_slice` with a stride or on a non-leading dimension, or the
    `insert_slice` that is its gradient) to a call of `memrefCopy` from
    MLIR's C runner utils, which step.so does not link. A copy between two
    contiguous memrefs (an identity layout, or a static shape contiguous in
    row-major order: upstream's test for `llvm.memcpy`) is kept. A copy of
    an unranked memref is an error.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::memref::MemRefDialect"];
}

def DualPipeCudaPrepare : Pass<"dualpipe-cuda-prepare", "::mlir::ModuleOp"> {
  let summary = "Prepare bufferized step code for the cuda target";
  let description = [{
    The first step of the cuda lowering, on bufferized per-rank programs:
    every `memref.copy` becomes a `linalg.copy` (so that copies become
    kernels like the rest of the linalg code), and every
    `dualpipe.all_reduce` becomes a host call to the runtime's
    `dualpipe_rt_allreduce_sum_f32/f64` (the buffers are managed memory;
    `gpu-async-region` synchronises the stream before the call). Sends and
    receives are left for `gpu-async-region` and `gpu-to-llvm`.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::LLVM::LLVMDialect"];
}

def DualPipeCudaManagedMemory
    : Pass<"dualpipe-cuda-managed-memory", "::mlir::ModuleOp"> {
  let summary = "Host allocations of the cuda target become managed memory";
  let description = [{
    In host functions (not in `gpu.module`s), after `gpu-async-region`:
    `memref.alloc` becomes `gpu.alloc host_shared` (CUDA managed memory, so
    kernels and the remaining host operations can both touch it) and
    `memref.dealloc` becomes `gpu.dealloc` on a fresh stream followed by a
    synchronous `gpu.wait`.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def DualPipeCudaMergeKernelModules
    : Pass<"dualpipe-cuda-merge-kernel-modules", "::mlir::ModuleOp"> {
  let summary = "Put every outlined kernel into one gpu.module";
  let description = [{
    After `gpu-kernel-outlining` (one `gpu.module` per kernel): moves every
    kernel of a module that holds just that kernel into one
    `gpu.module @<name>`, renamed after its old module, and points the
    launches at it. One module means one ptxas run and one cubin per step
    library instead of one per kernel.
  }];
  let options = [
    Option<"name", "name", "std::string", /*default=*/"\"dualpipe_kernels\"",
           "Name of the merged gpu.module">,
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

#endif // DUALPIPE_CONVERSION_PASSES
