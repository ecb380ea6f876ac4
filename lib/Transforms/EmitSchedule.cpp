//===- EmitSchedule.cpp - write the materialized schedule as CSV ---------===//
//
// Implements --dualpipe-emit-schedule=FILE.csv. Its argument is a file name,
// not a pass-option list, so the pass is registered by hand as a pipeline
// that takes the name.
//
//===----------------------------------------------------------------------===//
#include "ScheduleIR.h"
#include "dualpipe/Transforms/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

namespace dualpipe {

using namespace mlir;

namespace {

/// --dualpipe-emit-schedule=FILE.csv: writes the module's dualpipe.schedule
/// (its compute actions) in the CSV grammar of docs/schedules/contract.md.
struct EmitSchedulePass
    : PassWrapper<EmitSchedulePass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(EmitSchedulePass)
  explicit EmitSchedulePass(std::string path) : path(std::move(path)) {}
  StringRef getArgument() const final { return "dualpipe-emit-schedule"; }
  StringRef getDescription() const final {
    return "Write the materialized schedule as CSV (the grammar of "
           "docs/schedules/contract.md)";
  }
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto ops = module.getOps<ScheduleOp>();
    if (ops.empty()) {
      module.emitError() << "no dualpipe.schedule to write; run "
                            "--dualpipe-schedule first";
      return signalPassFailure();
    }
    FailureOr<sched::Schedule> s = scheduleFromIR(*ops.begin());
    if (failed(s) || failed(writeScheduleCSV(*ops.begin(), *s, path)))
      return signalPassFailure();
  }
  std::string path;
};

} // namespace

void registerEmitSchedulePass() {
  registerPassPipeline(
      "dualpipe-emit-schedule",
      "Write the materialized schedule as CSV: --dualpipe-emit-schedule=FILE.csv",
      [](OpPassManager &pm, StringRef options,
         function_ref<LogicalResult(const Twine &)> errorHandler) {
        if (options.empty())
          return errorHandler("--dualpipe-emit-schedule needs a file: "
                              "--dualpipe-emit-schedule=FILE.csv");
        pm.addPass(std::make_unique<EmitSchedulePass>(options.str()));
        return success();
      },
      [](function_ref<void(const mlir::detail::PassOptions &)>) {});
}

} // namespace dualpipe
