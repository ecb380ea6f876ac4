//===- DualPipeOps.td - dualpipe operations ----------------*- tablegen -*-===//
#ifndef DUALPIPE_OPS
#define DUALPIPE_OPS

include "dualpipe/Dialect/DualPipe/IR/DualPipeAttrs.td"
include "mlir/Dialect/GPU/IR/GPUBase.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// pipeline
//===----------------------------------------------------------------------===//

def DualPipe_PipelineOp : DualPipe_Op<"pipeline",
    [DeclareOpInterfaceMethods<SymbolUserOpInterface>, HasParent<"::mlir::ModuleOp">]> {
  let summary = "The stages of a model and the rank each stage runs on";
  let description = [{
    Records how a model was cut into stages and where each stage runs.
    `stages` names one `func.func` per stage in pipeline order; `on` gives the
    rank of each stage. `placement` names the layout rule the stage-to-rank
    map follows and is checked against it:

    - `linear`: stage `s` on rank `s * ranks / stages` (one chunk per rank
      when stages == ranks);
    - `interleaved`: stage `s` on rank `s mod ranks`;
    - `dualpipe`: two pipelines of `ranks` stages each; stage `s < N` on rank
      `s`, stage `N + s` on rank `N - 1 - s`;
    - `dualpipev`: `2 * ranks` stages in a V; stage `s` on rank
      `min(s, 2N - 1 - s)`.

    `model` optionally names the uncut model function the stages came from.
    `cuts` optionally lists, for each cut between consecutive stages of one
    pipeline (stage k to stage k+1 of the stage functions), the types of the
    tensors crossing it, in the order stage k+1 receives them.

    Example:

    ```mlir
    dualpipe.pipeline "linear" ranks 2 stages [@mlp_stage0, @mlp_stage1] on [0, 1] model @mlp cuts [[tensor<4x32xf32>]]
    ```
  }];
  let arguments = (ins DualPipe_PlacementAttr:$placement,
                       I64Attr:$ranks,
                       SymbolRefArrayAttr:$stages,
                       DenseI64ArrayAttr:$on,
                       OptionalAttr<FlatSymbolRefAttr>:$model,
                       OptionalAttr<TypedArrayAttrBase<TypeArrayAttr,
                         "tensor types crossing each cut">>:$cuts);
  let assemblyFormat = [{
    custom<QuotedEnum>($placement) `ranks` $ranks `stages` $stages `on` $on (`model` $model^)?
    (`cuts` $cuts^)? attr-dict
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Number of ranks as a signed value (the attribute getter is unsigned).
    int64_t getNumRanks() { return getRanksAttr().getInt(); }
    int64_t getNumStages() { return getStages().size(); }
    /// Rank that runs stage `stage`.
    int64_t getRankOfStage(int64_t stage) { return getOn()[stage]; }
  }];
}

//===----------------------------------------------------------------------===//
// stage_boundary
//===----------------------------------------------------------------------===//

def DualPipe_StageBoundaryOp : DualPipe_Op<"stage_boundary",
    [Pure, DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "Marks a cut between two pipeline stages in a model";
  let description = [{
    An identity on its operands that marks where the model is cut into
    pipeline stages, like PyTorch's `pipe_split()`. Every op after the marker
    (in the model function's body) belongs to the next stage. The operands
    are the activations that naturally cross the cut; values that skip the
    marker (residual connections) are forwarded by the partitioner anyway.

    ```mlir
    %h2 = dualpipe.stage_boundary %h : tensor<2x48xf32>
    ```
  }];
  let arguments = (ins Variadic<AnyRankedTensor>:$inputs);
  let results = (outs Variadic<AnyRankedTensor>:$outputs);
  let assemblyFormat = "$inputs attr-dict `:` type($inputs)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// send / recv
//===----------------------------------------------------------------------===//

/// The network: every transfer reads and writes it, so transfers are never
/// erased as dead nor reordered with one another.
def DualPipe_CommResource : Resource<"::dualpipe::CommResource">;

class DualPipe_P2POp<string mnemonic, list<Trait> traits = []>
    : DualPipe_Op<mnemonic, !listconcat(traits, [GPU_AsyncOpInterface,
        MemoryEffects<[MemRead<DualPipe_CommResource>,
                       MemWrite<DualPipe_CommResource>]>])> {
  code commonExtraClassDeclaration = [{
    int64_t getPeerRank() { return getPeerAttr().getInt(); }
    int64_t getTagValue() { return getTagAttr().getInt(); }
    /// Bytes moved: the buffer's element count times its element size.
    int64_t getNumBytes();
  }];
}

def DualPipe_SendOp : DualPipe_P2POp<"send"> {
  let summary = "Sends a buffer to another rank";
  let description = [{
    Sends the contents of `buffer` to rank `peer`. Messages on one directed
    link are received in the order they were sent; `tag` separates streams
    of messages on the same link (default 0).

    With `async`, the op only enqueues the transfer after its dependencies
    and returns a `!gpu.async.token`; without it, the op completes (the
    buffer may be reused) when it returns.

    ```mlir
    dualpipe.send %act to 1 : memref<2x48xf32>
    %t = dualpipe.send async [%dep] %act to 1 tag 3 : memref<2x48xf32>
    ```
  }];
  let arguments = (ins Variadic<GPU_AsyncToken>:$asyncDependencies,
                       Arg<AnyMemRef, "data to send", [MemRead]>:$buffer,
                       I64Attr:$peer,
                       DefaultValuedAttr<I64Attr, "0">:$tag);
  let results = (outs Optional<GPU_AsyncToken>:$asyncToken);
  let assemblyFormat = [{
    custom<AsyncDependencies>(type($asyncToken), $asyncDependencies, $buffer)
    `to` $peer (`tag` $tag^)? attr-dict `:` type($buffer)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = commonExtraClassDeclaration;
}

def DualPipe_RecvOp : DualPipe_P2POp<"recv"> {
  let summary = "Receives a message from another rank into a buffer";
  let description = [{
    Receives the next message on the link from rank `peer` (with `tag`) into
    `buffer`. `message` is the type the sender sends (a ranked tensor type);
    it must have the buffer's shape and element type, which lets
    `--dualpipe-verify` match sends and receives across ranks.

    ```mlir
    dualpipe.recv %buf from 0 : tensor<2x48xf32> into memref<2x48xf32>
    ```
  }];
  let arguments = (ins Variadic<GPU_AsyncToken>:$asyncDependencies,
                       Arg<AnyMemRef, "received data", [MemWrite]>:$buffer,
                       I64Attr:$peer,
                       DefaultValuedAttr<I64Attr, "0">:$tag,
                       TypeAttrOf<AnyRankedTensor>:$message);
  let results = (outs Optional<GPU_AsyncToken>:$asyncToken);
  let assemblyFormat = [{
    custom<AsyncDependencies>(type($asyncToken), $asyncDependencies, $buffer)
    `from` $peer (`tag` $tag^)? attr-dict `:` $message `into` type($buffer)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = commonExtraClassDeclaration;
}

def DualPipe_AllReduceOp : DualPipe_Op<"all_reduce",
    [MemoryEffects<[MemRead<DualPipe_CommResource>,
                    MemWrite<DualPipe_CommResource>]>]> {
  let summary = "Sums a buffer in place across a group of ranks";
  let description = [{
    Every rank of `ranks` (the same list, in the same order, on every member)
    contributes its `buffer`; each ends with the elementwise sum. Used for
    the gradients of DualPipe's two copies of a stage and for data-parallel
    replicas.

    With a `!gpu.async.token` result the sum is started, not finished: the
    buffer holds it once a `gpu.wait` on the token has returned, and must
    not be read or written before. The members of one started sum give the
    same `tag` (which a started sum needs; members match by it, not by the
    order of their calls).

    ```mlir
    dualpipe.all_reduce %grad ranks [0, 3] : memref<48x48xf32>
    %t = dualpipe.all_reduce %grad ranks [0, 3] tag 2 : memref<48x48xf32> -> !gpu.async.token
    gpu.wait [%t]
    ```
  }];
  let arguments = (ins Arg<AnyMemRef, "summed in place", [MemRead, MemWrite]>:$buffer,
                       DenseI64ArrayAttr:$ranks,
                       OptionalAttr<I64Attr>:$tag);
  let results = (outs Optional<GPU_AsyncToken>:$asyncToken);
  let assemblyFormat = [{
    $buffer `ranks` $ranks (`tag` $tag^)? attr-dict `:` type($buffer)
    (`->` type($asyncToken)^)?
  }];
  let hasVerifier = 1;
}

include "dualpipe/Dialect/DualPipe/IR/DualPipeScheduleOps.td"

#endif // DUALPIPE_OPS
