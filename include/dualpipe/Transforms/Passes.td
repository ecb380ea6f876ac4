//===- Passes.td - dualpipe transformation passes ----------*- tablegen -*-===//
#ifndef DUALPIPE_TRANSFORMS_PASSES
#define DUALPIPE_TRANSFORMS_PASSES

include "mlir/Pass/PassBase.td"

def DualPipePartition : Pass<"dualpipe-partition", "::mlir::ModuleOp"> {
  let summary = "Cut the dualpipe.model function into balanced pipeline stages";
  let description = [{
    Cuts the function marked `dualpipe.model` into one `func.func` per stage
    (`@<model>_stage<k>`) and records the stages and their ranks in a
    `dualpipe.pipeline` op.

    Where the cuts go: every `dualpipe.stage_boundary` marker is a cut. When
    `stages` asks for more stages than the markers make, the remaining cuts
    are chosen by an optimal contiguous partition of the model's ops in body
    order (a dynamic program, see lib/Analysis/PartitionSolver.cpp) over the
    roofline cost model of `device`. Linear placement: it minimizes the
    largest stage, then the bytes crossing the cuts. The two-stage-per-rank
    placements (dualpipe with an even number of stages, dualpipev): it
    minimizes the simulated step time of the DualPipe/DualPipeV schedule
    with `microbatches` micro-batches under the stages' costs (F from the
    cost model, B = 2F, W = F; lib/Analysis/PartitionSearch.cpp), within
    `memory-budget`; ties go to the smaller largest stage, then to fewer
    bytes. A stage of only free ops (reshapes) is refused unless
    `allow-empty-stages`. DualPipe with an odd number of stages (no
    schedule runs it) keeps the older objective, the largest per-rank load. The rank load is
    the sum of the loads of the stages a rank runs: stage r (linear), S_r and
    S_{N-1-r} (dualpipe), stages r and 2N-1-r (dualpipev), so the heavy
    LM-head stage of DualPipe shares its rank with the light embedding
    stage. The `dualpipe.loss` function, when there is one, is costed in the
    last stage.

    Every value a later stage uses crosses each cut in between: values that
    skip stages (residual connections) are forwarded through the stages in
    between, so a stage only ever receives from the stage before it.
    Operand-free pure ops (constants, `tensor.empty`) are rematerialized in
    every stage that uses them instead of being transferred. Model inputs and
    parameters go straight to the stages that use them, keeping their
    `dualpipe.input` / `dualpipe.param` names and gaining
    `dualpipe.arg_index` (their position in the model). A parameter used by
    two stages (tied weights) is an error. Activation arguments carry
    `dualpipe.from_stage`. The markers are then erased from the model
    function, which stays as the single-device reference. The pipeline op
    lists the tensor types crossing each cut in `cuts`.

    With `placement=dualpipe` the pipeline lists the stages twice (pipelines
    A and B of docs/schedules/contract.md) on `ranks = stages` ranks; with
    `dualpipev`, `stages` is `2 x ranks`.

    `report=FILE` (or `--dualpipe-partition-report=FILE`) writes a JSON
    report: per stage its ops, FLOPs, estimated time, parameter and
    activation bytes; per rank its stages and load; the bytes crossing each
    cut; and, for a two-stage-per-rank placement, the best linear partition
    on the same ranks for comparison. It also names the objective and gives
    the largest stage beside the best contiguous cut's; under the step-time
    objective, `simulated`: the schedule and M, the simulated step time,
    per-rank busy time and peak bytes, the search, and the
    least-max-rank-load cut with its simulated step time.
  }];
  let options = [
    Option<"stages", "stages", "int64_t", /*default=*/"0",
           "Number of stages (0: one more than the number of markers)">,
    Option<"ranks", "ranks", "int64_t", /*default=*/"0",
           "Number of ranks (0: derived from stages and placement)">,
    Option<"placement", "placement", "std::string", /*default=*/"\"linear\"",
           "Stage-to-rank layout: linear, interleaved, dualpipe or dualpipev">,
    Option<"device", "device", "std::string", /*default=*/"\"cpu\"",
           "Device profile of the cost model: cpu or h200">,
    Option<"report", "report", "std::string", /*default=*/"\"\"",
           "Write a JSON partition report to this file">,
    Option<"microbatches", "microbatches", "int64_t", /*default=*/"0",
           "Micro-batches of the schedule the dualpipe/dualpipev cuts are "
           "simulated under (0: the schedule's least, 2N)">,
    Option<"allowEmptyStages", "allow-empty-stages", "bool",
           /*default=*/"false",
           "Allow stages whose ops the cost model finds free (reshapes only)">,
    Option<"memoryBudget", "memory-budget", "int64_t", /*default=*/"0",
           "Per-rank bytes (parameters, gradients, peak live activations) "
           "the dualpipe/dualpipev cuts must fit (0: no budget)">,
    Option<"stageCosts", "stage-costs", "bool", /*default=*/"false",
           "Write the cost model's figures of each stage on its function "
           "(dualpipe.stage_cost: forward seconds, activation and parameter "
           "bytes), for --dualpipe-schedule's auto (costs the model even "
           "when the cut is at the markers)">,
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

def DualPipeSchedule : Pass<"dualpipe-schedule", "::mlir::ModuleOp"> {
  let summary = "Materialize the step's schedule: one program per rank";
  let description = [{
    Generates the schedule with the schedule engine (lib/Schedule) for the
    module's `dualpipe.pipeline` and writes it as a `dualpipe.schedule` op
    with one `dualpipe.program` per rank: `dualpipe.compute` actions (F, B,
    I, W) and `dualpipe.overlap` pairs in issue order. Once
    `--dualpipe-autodiff` has run, each action names its function (the
    stage's forward, backward, backward-input or backward-weight).

    The schedule must fit the placement the partitioner chose: 1f1b, zb1p
    and gpipe need `linear` with one stage per rank; dualpipe needs
    `dualpipe`; dualpipev and zbv need `dualpipev`; interleaved needs
    `interleaved`. `auto` simulates every schedule that fits the placement
    and keeps the fastest, saying why: under the partition's per-stage
    costs when every stage function has a `dualpipe.stage_cost`
    (--dualpipe-partition="stage-costs=1"; F = its forward time, B = 2F,
    W = F, a pair F + B; memory = its parameters and their gradients plus
    its saved activations, bounded by memory-budget), else at F=1, B=2,
    W=1, F&B=3 per stage.

    `schedule=FILE.csv` (or `schedule=file:PATH`) compiles a user-supplied
    schedule in PyTorch's action grammar, compute-only or compute+comms
    (docs/schedules/README.md, "Compiling a schedule file"): the file is
    read under the pipeline's placement, must have one line per rank and
    cover micro-batches 0..M-1 on the pipeline's stages, and must pass the
    validator under the posted comm model (so one that would deadlock is
    refused). Its kind is `custom`; its own SEND/RECV actions are checked,
    then --dualpipe-insert-comm places the step's messages.
  }];
  let options = [
    Option<"schedule", "schedule", "std::string", /*default=*/"\"auto\"",
           "dualpipe, dualpipev, 1f1b, zb1p, zbv, gpipe, interleaved, auto, "
           "or a schedule file FILE.csv / file:PATH">,
    Option<"ranks", "ranks", "int64_t", /*default=*/"0",
           "Number of ranks (0: the pipeline's)">,
    Option<"microbatches", "microbatches", "int64_t", /*default=*/"0",
           "Micro-batches per step (M)">,
    Option<"emit", "emit", "std::string", /*default=*/"\"\"",
           "Also write the schedule as CSV (the grammar of "
           "docs/schedules/contract.md) to this file">,
    Option<"memoryBudget", "memory-budget", "int64_t", /*default=*/"0",
           "auto: per-rank bytes (parameters and their gradients plus the "
           "peak of live activations) a candidate must fit; needs the "
           "stages' dualpipe.stage_cost (0: no budget)">,
  ];
  let dependentDialects = ["::dualpipe::DualPipeDialect"];
}

def DualPipeInsertComm : Pass<"dualpipe-insert-comm", "::mlir::ModuleOp"> {
  let summary = "Make every cross-rank edge of the schedule a message";
  let description = [{
    For every program of the `dualpipe.schedule`, inserts the point-to-point
    traffic of its actions: before each action a `dualpipe.p2p_group` with
    the sends of the previous action and the receives posted ahead (two
    receiving actions early, and in each link's send order), then a
    `dualpipe.wait_recv` for each message the action consumes ("early
    receive, late wait", the grouping lib/Schedule's deadlock check
    proves). Hand-offs between stages on one rank (the DualPipeV turn) stay
    local. For DualPipe, each rank all-reduces the parameter gradients of
    its two stage functions with the mirror rank N-1-r right after the last
    backward touching that function (`dualpipe.allreduce_grads`, in
    function order on both ranks so the pair cannot cross).
  }];
  let dependentDialects = ["::dualpipe::DualPipeDialect"];
}

def DualPipeVerify : Pass<"dualpipe-verify", "::mlir::ModuleOp"> {
  let summary = "Prove the per-rank programs match and cannot deadlock";
  let description = [{
    Checks a `dualpipe.schedule` after `--dualpipe-insert-comm`:
    - every (stage, micro-batch) gets F then B, or F then I then W, once,
      on the rank its stage is placed on (via lib/Schedule's validator);
    - per directed link, the sends and the receives name the same messages
      in the same order, with the same tensor types;
    - every posted receive is waited for once, and every action's inputs
      (a local result or a waited receive) are there before it runs;
    - simulating all programs under blocking-group semantics (a p2p group
      completes once every peer has posted the matching operation; an
      all-reduce once every member reaches it) finishes: no deadlock;
    - every saved value is released (each F is matched by its B or I+W).
    Diagnostics point at the ops involved.
  }];
  let dependentDialects = ["::dualpipe::DualPipeDialect"];
}

def DualPipePlanMemory : Pass<"dualpipe-plan-memory", "::mlir::ModuleOp"> {
  let summary = "Static buffer assignment and exact peak bytes per rank";
  let description = [{
    Walks each rank's program in issue order and gives every buffer a
    lifetime: activations from the F (or receive post) that makes them to
    the send or local consumer that ends them, saved values from F to its
    B/I, W's inputs from I to W, gradients from B/I to their send or
    consumer. Buffers are packed into one arena per rank (first fit,
    largest first) at static offsets. Records on each program
    `dualpipe.peak_bytes` (bytes live at the worst moment),
    `dualpipe.arena_bytes` (the packed arena) and
    `dualpipe.peak_microbatches` (micro-batches between F and B/I, the
    simulator's activation count), and reports them beside the schedule
    engine's prediction as remarks. Sizes come from the autodiff functions
    when present (saved values), else from the stage signatures.
  }];
  let options = [
    Option<"report", "report", "std::string", /*default=*/"\"\"",
           "Also write the plan as JSON to this file">,
  ];
  let dependentDialects = ["::dualpipe::DualPipeDialect"];
}

def DualPipeFuseElementwise : Pass<"dualpipe-fuse-elementwise"> {
  let summary = "Fuse elementwise linalg.generic chains on tensors, computing nothing twice";
  let description = [{
    Upstream's elementwise fusion patterns (those of
    `linalg-fuse-elementwise-ops`), fusing a producer generic into its
    consumer only when the producer has one use and the consumer reads it
    through a permutation map (no broadcast, no projection: every element
    is computed once). Then each all-parallel generic whose init is a fresh
    `tensor.empty` takes a dead input of the same type and map as init, so
    bufferization computes it in place, as it did before fusion. Named ops
    (matmul, transpose, fill) are untouched.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def DualPipeOutlineRepeats : Pass<"dualpipe-outline-repeats", "::mlir::ModuleOp"> {
  let summary = "Outline a flat model's repeated blocks into one block function";
  let description = [{
    Finds, in the body of the `dualpipe.model` function, runs of consecutive
    op sequences that are structurally the same (the same ops, attributes,
    types and regions, the same data flow inside each copy) and differ only
    in the values they take from outside (parameters, the previous copy's
    output), and replaces each copy by a `func.call` of one private
    function holding the sequence: what a model written with a block
    function (`dualpipe-gen --flat=0`, an ONNX export with modules as
    functions) already is, so that the rest of the chain compiles the
    block once. Constants and `tensor.empty` the copies capture are cloned
    into the function; every other outside value becomes an argument, in
    first-use order; values of a copy used after it become results. The
    longest repetition (ops saved) is outlined first, then the search
    repeats on what is left; runs of calls are not grouped again. Sequences
    shorter than `min-ops` ops are left inline: by default 16, so that a
    transformer block (dozens of ops) is outlined but an MLP's layer
    (matmul, bias and activation: 5 ops), which costs little to compile
    and which the partitioner may want to cut inside, is not. Stage
    boundary markers are never inside a copy; copies on both sides of one
    call the same function.
  }];
  let options = [
    Option<"minOps", "min-ops", "unsigned", /*default=*/"16",
           "Outline only repeated sequences of at least this many ops">,
  ];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

#endif // DUALPIPE_TRANSFORMS_PASSES
