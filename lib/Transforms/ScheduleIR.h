//===- ScheduleIR.h - between dualpipe.schedule and lib/Schedule -*- C++ -*-===//
//
// Shared by the schedule passes: reading a dualpipe.schedule op back into the
// engine's value types, the placement a pipeline op implies, and the tensor
// types each message carries.
//
//===----------------------------------------------------------------------===//
#ifndef DUALPIPE_LIB_TRANSFORMS_SCHEDULEIR_H
#define DUALPIPE_LIB_TRANSFORMS_SCHEDULEIR_H

#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"
#include "dualpipe/Schedule/Schedule.h"

namespace dualpipe {

/// The engine placement (stage -> rank, pipelines) of `pipeline` for M
/// micro-batches: one pipeline through every stage, or DualPipe's two.
sched::Placement placementOf(PipelineOp pipeline, int64_t microbatches);

/// The engine's view of a schedule op: each program's compute actions in
/// issue order (communication ops are skipped). Fails with a diagnostic on
/// `op` when the module has no pipeline.
mlir::FailureOr<sched::Schedule> scheduleFromIR(ScheduleOp op);

/// The stage function of stage `s` of `pipeline`.
mlir::func::FuncOp stageFunction(PipelineOp pipeline, int64_t s);

/// The tensors of a message: what F of `stage` sends forward (its results),
/// or what B/I of `stage` sends back (the types of its activation arguments).
llvm::SmallVector<mlir::Type> messageTypes(PipelineOp pipeline, int64_t stage,
                                           bool gradient);

/// What a message carries.
inline Payload payloadOf(bool gradient) {
  return gradient ? Payload::Gradient : Payload::Activation;
}

/// Writes `schedule` as CSV (docs/schedules/contract.md) to `path`; an error
/// is reported on `anchor`.
mlir::LogicalResult writeScheduleCSV(mlir::Operation *anchor,
                                     const sched::Schedule &schedule,
                                     llvm::StringRef path);

} // namespace dualpipe

#endif // DUALPIPE_LIB_TRANSFORMS_SCHEDULEIR_H
