//===- DualPipeScheduleOps.td - the schedule of a training step --*- tablegen -*-===//
//
// A training step's schedule in IR: one program per rank listing compute
// actions (F, B, I, W, overlapped pairs) and the messages between ranks, at
// the level of "which stage, which micro-batch" rather than buffers. The
// verifier passes reason about it (FIFO links, deadlock, memory); the
// lowering turns it into code.
//
//===----------------------------------------------------------------------===//
#ifndef DUALPIPE_SCHEDULE_OPS
#define DUALPIPE_SCHEDULE_OPS

include "dualpipe/Dialect/DualPipe/IR/DualPipeDialect.td"
include "mlir/IR/OpBase.td"
include "mlir/IR/SymbolInterfaces.td"

def DualPipe_ScheduleOp : DualPipe_Op<"schedule",
    [NoTerminator, SingleBlock, HasParent<"::mlir::ModuleOp">]> {
  let summary = "The schedule of one training step: one program per rank";
  let description = [{
    Holds one `dualpipe.program` per rank, rank 0 first. `kind` names the
    algorithm the schedule came from (dualpipe, dualpipev, 1f1b, zb1p, zbv,
    gpipe, interleaved, custom); `microbatches` is M.

    ```mlir
    dualpipe.schedule "1f1b" ranks 2 microbatches 4 {
      dualpipe.program rank 0 { ... }
      dualpipe.program rank 1 { ... }
    }
    ```
  }];
  let arguments = (ins DualPipe_ScheduleKindAttr:$kind, I64Attr:$ranks,
                       I64Attr:$microbatches);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    custom<QuotedEnum>($kind) `ranks` $ranks `microbatches` $microbatches attr-dict-with-keyword $body
  }];
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
  let extraClassDeclaration = [{
    int64_t getNumRanks() { return getRanksAttr().getInt(); }
    int64_t getNumMicrobatches() { return getMicrobatchesAttr().getInt(); }
  }];
}

def DualPipe_ProgramOp : DualPipe_Op<"program",
    [NoTerminator, SingleBlock, HasParent<"ScheduleOp">]> {
  let summary = "What one rank does in a step, in issue order";
  let description = [{
    The compute actions, overlapped pairs, point-to-point groups, receive
    waits and gradient all-reduces of rank `rank`, in the order the rank
    issues them.
  }];
  let arguments = (ins I64Attr:$rank);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "`rank` $rank attr-dict-with-keyword $body";
  let extraClassDeclaration = [{
    int64_t getRankValue() { return getRankAttr().getInt(); }
  }];
}

def DualPipe_ComputeOp : DualPipe_Op<"compute"> {
  let summary = "One compute action: F, B, I or W of a stage on a micro-batch";
  let description = [{
    `kind` is `F` (forward), `B` (full backward), `I` (backward for the input
    gradient) or `W` (the deferred weight gradient of an earlier `I`).
    `calls` names the function that realises it once autodiff has run (the
    stage function's forward, backward, backward-input or backward-weight).

    ```mlir
    dualpipe.compute "F" stage 0 microbatch 3 calls @mlp_stage0_fwd
    ```
  }];
  let arguments = (ins DualPipe_ActionKindAttr:$kind, I64Attr:$stage,
                       I64Attr:$microbatch,
                       OptionalAttr<FlatSymbolRefAttr>:$callee);
  let assemblyFormat = [{
    custom<QuotedEnum>($kind) `stage` $stage `microbatch` $microbatch (`calls` $callee^)? attr-dict
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    int64_t getStageIndex() { return getStageAttr().getInt(); }
    int64_t getMicrobatchIndex() { return getMicrobatchAttr().getInt(); }
  }];
}

def DualPipe_OverlapOp : DualPipe_Op<"overlap",
    [NoTerminator, SingleBlock, HasParent<"ProgramOp">]> {
  let summary = "A forward and a full backward of two chunks issued as one unit";
  let description = [{
    DualPipe's overlapped pair: the forward of one chunk and the backward of
    the other run together so that each one's communication hides under the
    other's compute. Holds exactly a `F` compute then a `B` compute.
  }];
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "attr-dict-with-keyword $body";
  let hasVerifier = 1;
}

class DualPipe_MessageOp<string mnemonic, list<Trait> traits = []>
    : DualPipe_Op<mnemonic, traits> {
  code messageClassDeclaration = [{
    int64_t getStageIndex() { return getStageAttr().getInt(); }
    int64_t getMicrobatchIndex() { return getMicrobatchAttr().getInt(); }
    int64_t getPeerRank() { return getPeerAttr().getInt(); }
    bool isGradient() { return getPayload() == ::dualpipe::Payload::Gradient; }
  }];
}

def DualPipe_P2PGroupOp : DualPipe_Op<"p2p_group",
    [NoTerminator, SingleBlock, HasParent<"ProgramOp">]> {
  let summary = "Sends and receives that must progress together";
  let description = [{
    A rank's sends and receive postings that are issued together (one
    `ncclGroupStart/End` on NCCL): the group completes only once every peer
    has posted the matching operation. Sends complete here; receives are
    only posted here and completed by a later `dualpipe.wait_recv`.
  }];
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "attr-dict-with-keyword $body";
  let hasVerifier = 1;
}

def DualPipe_ISendOp : DualPipe_MessageOp<"isend", [HasParent<"P2PGroupOp">]> {
  let summary = "Posts the send of one message";
  let description = [{
    Sends the message named by its producer: the `activation` output of F of
    `stage` on `microbatch`, or the input `gradient` of B/I of `stage` on
    `microbatch`. `types` are the tensors it carries.

    ```mlir
    dualpipe.isend activation stage 0 microbatch 3 to 1 : [tensor<2x48xf32>]
    ```
  }];
  let arguments = (ins DualPipe_PayloadAttr:$payload, I64Attr:$stage,
                       I64Attr:$microbatch, I64Attr:$peer, TypeArrayAttr:$types);
  let assemblyFormat = [{
    custom<QuotedEnum>($payload) `stage` $stage `microbatch` $microbatch `to` $peer attr-dict `:` $types
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = messageClassDeclaration;
}

def DualPipe_IRecvOp : DualPipe_MessageOp<"irecv", [HasParent<"P2PGroupOp">]> {
  let summary = "Posts the receive of one message";
  let description = [{
    Posts the receive of the message named by its producer (see
    `dualpipe.isend`) from rank `peer`; a later `dualpipe.wait_recv` of the
    same message completes it.
  }];
  let arguments = (ins DualPipe_PayloadAttr:$payload, I64Attr:$stage,
                       I64Attr:$microbatch, I64Attr:$peer, TypeArrayAttr:$types);
  let assemblyFormat = [{
    custom<QuotedEnum>($payload) `stage` $stage `microbatch` $microbatch `from` $peer attr-dict `:` $types
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = messageClassDeclaration;
}

def DualPipe_WaitRecvOp : DualPipe_MessageOp<"wait_recv", [HasParent<"ProgramOp">]> {
  let summary = "Waits until a posted receive has arrived";
  let arguments = (ins DualPipe_PayloadAttr:$payload, I64Attr:$stage,
                       I64Attr:$microbatch, I64Attr:$peer);
  let assemblyFormat = [{
    custom<QuotedEnum>($payload) `stage` $stage `microbatch` $microbatch `from` $peer attr-dict
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = messageClassDeclaration;
}

def DualPipe_AllReduceGradsOp : DualPipe_Op<"allreduce_grads",
    [HasParent<"ProgramOp">]> {
  let summary = "Sums the parameter gradients of a stage function across ranks";
  let description = [{
    DualPipe keeps two copies of every stage function: the copy on rank r
    and the copy on rank N-1-r sum their parameter gradients once both
    copies' last backward is done, so both stay identical. `ranks` is the
    group, in the same order on every member.

    ```mlir
    dualpipe.allreduce_grads @mlp_stage0 ranks [0, 3]
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$function, DenseI64ArrayAttr:$ranks);
  let assemblyFormat = "$function `ranks` $ranks attr-dict";
  let hasVerifier = 1;
}

#endif // DUALPIPE_SCHEDULE_OPS
