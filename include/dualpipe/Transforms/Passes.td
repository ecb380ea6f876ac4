//===- Passes.td - dualpipe transformation passes ----------*- tablegen -*-===//
#ifndef DUALPIPE_TRANSFORMS_PASSES
#define DUALPIPE_TRANSFORMS_PASSES

include "mlir/Pass/PassBase.td"

def DualPipePartition : Pass<"dualpipe-partition", "::mlir::ModuleOp"> {
  let summary = "Cut the dualpipe.model function into pipeline stages";
  let description = [{
    Cuts the function marked `dualpipe.model` into one `func.func` per stage
    (`@<model>_stage<k>`) at its `dualpipe.stage_boundary` markers, and
    records the stages and their ranks in a `dualpipe.pipeline` op.

    Every value a later stage uses crosses each cut in between: values that
    skip stages (residual connections) are forwarded through the stages in
    between, so a stage only ever receives from the stage before it.
    Operand-free pure ops (constants, `tensor.empty`) are rematerialized in
    every stage that uses them instead of being transferred. Model inputs and
    parameters go straight to the stages that use them, keeping their
    `dualpipe.input` / `dualpipe.param` names and gaining
    `dualpipe.arg_index` (their position in the model). Activation arguments
    carry `dualpipe.from_stage`. The markers are then erased from the model
    function, which stays as the single-device reference.

    With `placement=dualpipe` the pipeline lists the stages twice (pipelines
    A and B of SCHEDULES.md) on `ranks = stages` ranks.
  }];
  let options = [
    Option<"stages", "stages", "int64_t", /*default=*/"0",
           "Number of stages (0: one more than the number of markers)">,
    Option<"ranks", "ranks", "int64_t", /*default=*/"0",
           "Number of ranks (0: derived from stages and placement)">,
    Option<"placement", "placement", "std::string", /*default=*/"\"linear\"",
           "Stage-to-rank layout: linear, interleaved, dualpipe or dualpipev">,
  ];
  let dependentDialects = ["::dualpipe::DualPipeDialect", "::mlir::func::FuncDialect"];
}

def DualPipeBuildForwardPrograms
    : Pass<"dualpipe-build-forward-programs", "::mlir::ModuleOp"> {
  let summary = "Build one forward-only program per rank (walking skeleton)";
  let description = [{
    For a bufferized module with a `linear` pipeline of one stage per rank,
    builds `@dualpipe_rank<r>` for every rank: receive the activations from
    rank r-1, call the stage, send its results to rank r+1; the last rank
    copies the model's outputs into its output buffers. Also builds
    `@dualpipe_reference`, the uncut model on one rank. All entry points share
    one signature: the model's arguments, then one buffer per model result.

    This is the walking skeleton's one micro-batch, forward-only schedule;
    `--dualpipe-schedule` and `--dualpipe-insert-comm` supersede it.
  }];
  let dependentDialects = ["::dualpipe::DualPipeDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::memref::MemRefDialect"];
}

#endif // DUALPIPE_TRANSFORMS_PASSES
