//===- DualPipe.h - the dualpipe dialect ------------------------*- C++ -*-===//
#ifndef DUALPIPE_DIALECT_DUALPIPE_IR_DUALPIPE_H
#define DUALPIPE_DIALECT_DUALPIPE_IR_DUALPIPE_H

#include "dualpipe/Schedule/Placement.h"
#include "dualpipe/Schedule/Schedule.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace dualpipe {
/// The side-effect resource of inter-rank communication.
struct CommResource
    : public mlir::SideEffects::Resource::Base<CommResource> {
  llvm::StringRef getName() final { return "dualpipe::comm"; }
};
} // namespace dualpipe

#include "dualpipe/Dialect/DualPipe/IR/DualPipeOpsDialect.h.inc"

#include "dualpipe/Dialect/DualPipe/IR/DualPipeEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dualpipe/Dialect/DualPipe/IR/DualPipeAttrs.h.inc"

#define GET_OP_CLASSES
#include "dualpipe/Dialect/DualPipe/IR/DualPipeOps.h.inc"

namespace dualpipe {
//===----------------------------------------------------------------------===//
// Discardable attributes: every dualpipe.* attribute a model or a pass puts
// on functions, arguments, results and schedule ops. The dialect verifies
// each one's kind and place (DualPipeDialect::verify*Attribute).
//===----------------------------------------------------------------------===//

/// The input contract (docs/architecture.md): the model and loss functions,
/// and the names of their arguments (keys of safetensors files).
inline constexpr llvm::StringLiteral kModelAttr = "dualpipe.model";
inline constexpr llvm::StringLiteral kLossAttr = "dualpipe.loss";
inline constexpr llvm::StringLiteral kInputAttr = "dualpipe.input";
inline constexpr llvm::StringLiteral kParamAttr = "dualpipe.param";
inline constexpr llvm::StringLiteral kLabelAttr = "dualpipe.label";
/// array<i64: LO, HI> on an integer argument: its values lie in [LO, HI).
inline constexpr llvm::StringLiteral kIntRangeAttr = "dualpipe.int_range";

/// Stage functions (--dualpipe-partition): the stage index, which model
/// argument a stage argument is, which stage an activation comes from.
inline constexpr llvm::StringLiteral kStageAttr = "dualpipe.stage";
inline constexpr llvm::StringLiteral kArgIndexAttr = "dualpipe.arg_index";
inline constexpr llvm::StringLiteral kFromStageAttr = "dualpipe.from_stage";
/// The cost model's figures for one stage function, written by
/// --dualpipe-partition="stage-costs=1" for --dualpipe-schedule's auto:
/// {forward_s = F : f64 (forward seconds per micro-batch, the loss in the
/// last stage), activation_bytes = A (bytes of the results its ops save
/// for one micro-batch), parameter_bytes = P (its parameters)}.
inline constexpr llvm::StringLiteral kStageCostAttr = "dualpipe.stage_cost";

/// Autodiff (--dualpipe-autodiff): a stage's derived functions, each one's
/// role, the values the forward saves (results and backward arguments
/// marked saved) and the ones I keeps for W (wsaved), their bytes, and
/// which parameter or activation argument a gradient belongs to.
inline constexpr llvm::StringLiteral kAutodiffAttr = "dualpipe.autodiff";
inline constexpr llvm::StringLiteral kRoleAttr = "dualpipe.role";
inline constexpr llvm::StringLiteral kSavedAttr = "dualpipe.saved";
inline constexpr llvm::StringLiteral kWSavedAttr = "dualpipe.wsaved";
inline constexpr llvm::StringLiteral kSavedBytesAttr = "dualpipe.saved_bytes";
inline constexpr llvm::StringLiteral kSavedBytesNoRecomputeAttr =
    "dualpipe.saved_bytes_without_recompute";
inline constexpr llvm::StringLiteral kGradOfAttr = "dualpipe.grad_of";
inline constexpr llvm::StringLiteral kGradOfArgAttr = "dualpipe.grad_of_arg";

/// The memory plan (--dualpipe-plan-memory) on programs and actions.
inline constexpr llvm::StringLiteral kPeakBytesAttr = "dualpipe.peak_bytes";
inline constexpr llvm::StringLiteral kArenaBytesAttr = "dualpipe.arena_bytes";
inline constexpr llvm::StringLiteral kPeakMicrobatchesAttr =
    "dualpipe.peak_microbatches";
inline constexpr llvm::StringLiteral kOffsetsAttr = "dualpipe.offsets";

/// Entry points (--dualpipe-lower-schedule, --dualpipe-build-optimizer,
/// --dualpipe-build-forward-programs): the rank a step function runs on,
/// output buffers, the optimizer function, its state and scalars.
inline constexpr llvm::StringLiteral kRankAttr = "dualpipe.rank";
inline constexpr llvm::StringLiteral kOutputAttr = "dualpipe.output";
inline constexpr llvm::StringLiteral kOptimizerAttr = "dualpipe.optimizer";
inline constexpr llvm::StringLiteral kStateAttr = "dualpipe.state";
inline constexpr llvm::StringLiteral kScalarsAttr = "dualpipe.scalars";

/// The name argument `i` of `fn` carries under `attr` (kParamAttr,
/// kInputAttr, kLabelAttr, kGradOfAttr, kStateAttr), if any.
std::optional<llvm::StringRef> argumentName(mlir::FunctionOpInterface fn,
                                            unsigned i, llvm::StringRef attr);

/// The functions autodiff derived from stage function `stage`, or null.
AutodiffAttr getAutodiff(mlir::Operation *stage);

/// The values of an enum, for messages: "linear, interleaved, ...".
std::string placementNames();

/// Rank of stage `s` of `stages` on `ranks` ranks under a placement rule
/// (the schedule engine's, sched::rankOfStage).
int64_t placementRank(Placement placement, int64_t s, int64_t stages,
                      int64_t ranks);

/// The IR's words and the schedule engine's (dualpipe/Schedule): the same
/// values under the same names (checked in DualPipeOps.cpp).
sched::PlacementKind toEngine(Placement placement);
Placement fromEngine(sched::PlacementKind placement);
sched::ScheduleKind toEngine(ScheduleKind kind);
ScheduleKind fromEngine(sched::ScheduleKind kind);
/// A single action's kind (an engine pair has none: it is two actions).
sched::ActionKind toEngine(ActionKind kind);
ActionKind fromEngine(sched::ActionKind kind);

/// The pipeline op at the top of `module`, or null when there is none.
PipelineOp lookupPipeline(mlir::ModuleOp module);

/// Stage `s`'s neighbours in its pipeline, -1 at an end: a linear chain of
/// all stages, or under DualPipe placement two chains of half the stages
/// each (0..N-1 and N..2N-1).
std::pair<int64_t, int64_t> stageNeighbours(PipelineOp pipeline, int64_t s);

/// Checks what --dualpipe-lower-schedule assumes of `schedule` under
/// `pipeline` (ScheduleContract.cpp): stage functions are func.funcs whose
/// arguments are activations or model arguments of the right types; every
/// `dualpipe.compute ... calls @f` names a function whose signature is the
/// one its action is called with (F: incoming activations, model arguments,
/// labels -> handed-on values, saved values; B/I: incoming gradients, saved
/// values -> activation gradients, then parameter gradients (B) or what W
/// needs (I); W: those -> parameter gradients); every message carries its
/// producer's tensors. Emits the reason at the op and fails otherwise.
mlir::LogicalResult verifyScheduleContract(ScheduleOp schedule,
                                           PipelineOp pipeline);
} // namespace dualpipe

#endif // DUALPIPE_DIALECT_DUALPIPE_IR_DUALPIPE_H
