//===- Passes.td - dualpipe automatic differentiation ------*- tablegen -*-===//
#ifndef DUALPIPE_AUTODIFF_PASSES
#define DUALPIPE_AUTODIFF_PASSES

include "mlir/Pass/PassBase.td"

def DualPipeAutodiff : Pass<"dualpipe-autodiff", "::mlir::ModuleOp"> {
  let summary = "Derive every stage's forward, backward-input (I), "
                "backward-weight (W) and full backward functions";
  let description = [{
    Runs after `--dualpipe-partition`. For every distinct stage function
    `@S` named by the `dualpipe.pipeline` op (stage functions carry
    `dualpipe.stage = k`; activation arguments come first and carry
    `dualpipe.from_stage`, then model arguments with `dualpipe.arg_index` and
    `dualpipe.param` or `dualpipe.input`) it creates, by reverse-mode
    automatic differentiation on tensors:

    - `@S_fwd`: the arguments of `@S`, then, for the last stage only, the
      label arguments (with their `dualpipe.label` names). Results: the
      results of `@S` (for the last stage instead the scalar loss of this
      micro-batch, unscaled, a rank-0 tensor of the model's element type:
      `tensor<f32>` for an f32 model), followed by the saved values, each
      with the result attribute `dualpipe.saved`. Attributes
      `dualpipe.stage = k`, `dualpipe.role = "forward"`, and
      `dualpipe.saved_bytes` (bytes of the saved values that are not
      parameters, i.e. the activation memory one micro-batch keeps alive
      until its backward).
    - `@S_bwd_i` (backward-input, role `"backward_input"`): arguments are one
      gradient per result of `@S` (none for the last stage: its seed 1/M is
      internal), then the saved values in `@S_fwd`'s order. Results: one
      gradient per activation argument of `@S` (in order; result attribute
      `dualpipe.grad_of_arg = <argument index>`), then the values
      backward-weight needs, each with `dualpipe.wsaved`.
    - `@S_bwd_w` (backward-weight, role `"backward_weight"`): arguments are
      the wsaved values in order; results are one gradient per parameter
      argument of `@S`, in argument order, each with
      `dualpipe.grad_of = "<param name>"`.
    - `@S_bwd` (full backward, role `"backward"`): arguments as `@S_bwd_i`;
      results are the activation-argument gradients, then the parameter
      gradients (same attributes).

    `@S` itself gains `dualpipe.autodiff = {forward = @S_fwd,
    backward_input = @S_bwd_i, backward_weight = @S_bwd_w, backward =
    @S_bwd}`. The model function (`dualpipe.model`) is left untouched as the
    reference. Model inputs and labels get no gradients. The first stage has
    no activation arguments, so its `_bwd_i` returns only wsaved values; a
    stage without parameters has a `_bwd_w` without results.
    `_bwd_i` followed by `_bwd_w` computes exactly the ops of `_bwd`: the
    split is a partition of the full backward's ops, so results agree
    bit for bit.

    The last stage function is the one named by the last entry of the
    pipeline's `stages`. It also applies the loss: the module's function
    marked `dualpipe.loss` (arguments: the model outputs, then labels with
    `dualpipe.label`; result: a rank-0 float tensor), or the built-in
    `loss=mse` (mean of squared differences over all elements) or
    `loss=cross_entropy` (mean over rows of `-sum(label * log_softmax(x))`
    over the last dimension, with a max-stabilised log-softmax; the label
    has the logits' shape: one-hot rows or probabilities). The built-in
    losses take one label argument named `"y"`. The backward seeds the loss
    with `1/microbatches`, so summing the parameter gradients over the
    micro-batches gives the gradient of the mean loss.

    Save or recompute: with `recompute=none` every value the backward uses
    is saved by the forward (constants and `tensor.empty`/`linalg.fill` of
    constants are recreated instead). With `recompute=elementwise`, values
    produced by elementwise ops (all-parallel `linalg.generic` and named
    elementwise ops with cheap arith/math bodies, elementwise arith/math on
    tensors) are recomputed in the backward from their operands whenever
    that lowers the saved activation bytes; `@S_fwd` then also carries
    `dualpipe.saved_bytes_without_recompute`.

    Rules: `linalg.generic` with projected-permutation indexing maps,
    parallel iterators and sum- or max/min-reduction iterators (the `outs`
    init receives its gradient; broadcast operands get gradients summed over
    the broadcast dimensions; a max-reduction sends its gradient to the
    first maximal element in row-major order of the reduction dimensions,
    or to the init when it is strictly greater than every element), with
    bodies of arith and math ops; `linalg.matmul` and
    `linalg.batch_matmul` directly; `linalg.transpose`, `linalg.fill`;
    other named linalg ops (broadcast, reduce, elementwise ops) through
    generalization; elementwise arith/math ops on tensors; `tensor.empty`,
    `extract_slice`, `insert_slice`, `expand_shape`, `collapse_shape`,
    `concat`, `pad` (constant padding) and `cast`. An op without a rule on
    the differentiated path is an error naming it and listing what is
    supported.
  }];
  let options = [
    Option<"loss", "loss", "std::string", /*default=*/"\"\"",
           "Loss of the last stage: mse, cross_entropy, or empty to use the "
           "module's dualpipe.loss function">,
    Option<"microbatches", "microbatches", "int64_t", /*default=*/"1",
           "Micro-batches per step (>= 1): the loss gradient is seeded with "
           "1/microbatches">,
    Option<"recompute", "recompute", "std::string", /*default=*/"\"none\"",
           "Save-or-recompute policy: none (save everything the backward "
           "uses) or elementwise (recompute cheap elementwise chains)">,
  ];
  let dependentDialects = ["::dualpipe::DualPipeDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

#endif // DUALPIPE_AUTODIFF_PASSES
