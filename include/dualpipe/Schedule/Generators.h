//===- Generators.h - Schedule generators -----------------------*- C++ -*-===//
//
// One generator per schedule family of docs/schedules/contract.md: GPipe,
// 1F1B, interleaved 1F1B (Megatron-LM), ZB-H1 (ZB1P), ZB-V, DualPipe and
// DualPipeV. Each rejects
// an invalid configuration, before generating anything, with the rule it
// breaks.
//
//===----------------------------------------------------------------------===//

#ifndef DUALPIPE_SCHEDULE_GENERATORS_H
#define DUALPIPE_SCHEDULE_GENERATORS_H

#include "dualpipe/Schedule/Schedule.h"

#include <optional>

namespace dualpipe::sched {

/// What to generate.
struct ScheduleConfig {
  ScheduleKind kind = ScheduleKind::DualPipe;
  int numRanks = 0;        ///< N: ranks in the pipeline group.
  int numMicrobatches = 0; ///< M: micro-batches per training step.
  /// Chunks (virtual stages) per rank; only interleaved 1F1B reads it (the
  /// V schedules always have 2).
  int chunks = 2;
};

/// Checks `config` against the rules of docs/schedules/contract.md
/// ("Errors") and of each algorithm; returns the broken rule, phrased for a
/// user, or nullopt.
std::optional<Error> checkConfig(const ScheduleConfig &config);

/// Generates the schedule `config` asks for, or the rule it breaks. A
/// generated schedule always passes validate() (tested over a grid).
Expected<Schedule> generate(const ScheduleConfig &config);

/// The smallest micro-batch count `kind` accepts on `numRanks` ranks, and
/// the step between accepted counts (e.g. DualPipe: 2N and 2); nullopt when
/// no count works (DualPipe with odd N).
struct MicrobatchRule {
  int min = 1;
  int step = 1;
};
std::optional<MicrobatchRule> microbatchRule(ScheduleKind kind, int numRanks,
                                             int chunks = 2);

} // namespace dualpipe::sched

#endif // DUALPIPE_SCHEDULE_GENERATORS_H
