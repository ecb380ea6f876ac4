//===- Analysis.h - Closed forms, comparison and automatic choice -*- C++ -*-===//
//
// The closed-form bubble / parameter / activation figures of
// docs/schedules/contract.md, a comparison of every schedule's simulation
// against them, and the automatic choice of a schedule (and micro-batch
// count) with the least simulated step time under a per-rank
// activation-memory budget.
//
//===----------------------------------------------------------------------===//

#ifndef DUALPIPE_SCHEDULE_ANALYSIS_H
#define DUALPIPE_SCHEDULE_ANALYSIS_H

#include "dualpipe/Schedule/Generators.h"
#include "dualpipe/Schedule/Simulator.h"

#include <optional>
#include <string>
#include <vector>

namespace dualpipe::sched {

/// A closed form of the table of docs/schedules/contract.md ("Cost model of
/// the reference simulation") for one schedule, evaluated at uniform costs.
struct ClosedForm {
  std::string bubbleFormula; ///< e.g. "(PP-1)(F+B)".
  double bubble = 0;         ///< Worst-rank bubble.
  int parameterCopies = 1;   ///< 1x or 2x.
  int activations = 0;       ///< Peak activations per device, micro-batches.
  int pp = 0;                ///< PP: stages of one pipeline.
};

/// The closed form for `kind` on `numRanks` ranks, or nullopt for schedules
/// docs/schedules/contract.md gives no formula for (GPipe, interleaved 1F1B,
/// ZB-V).
std::optional<ClosedForm> closedForm(ScheduleKind kind, int numRanks,
                                     const CostModel &cost);

/// One row of the comparison.
struct ComparisonRow {
  ScheduleKind kind;
  int numMicrobatches = 0;
  std::optional<Error> rejected; ///< Why the configuration is invalid.
  double makespan = 0;
  double maxBubble = 0;
  double bubbleRatio = 0;
  int peakActivations = 0;
  int parameterCopies = 1;
  int numStages = 0;
  std::optional<ClosedForm> formula;
};

/// Generates, validates and simulates every schedule for N and M at
/// `cost` (per-stage costs, as the formulas take them).
std::vector<ComparisonRow> compareAll(int numRanks, int numMicrobatches,
                                      const CostModel &cost, int chunks = 2);

/// The comparison as a text table, with a header explaining the units.
std::string formatComparison(int numRanks, int numMicrobatches, const CostModel &cost,
                             const std::vector<ComparisonRow> &rows);

/// How AutoRequest::cost's per-stage entries are read.
enum class AutoCosts : uint8_t {
  /// Costs of an N-way cut (one stage per rank); schedules with finer
  /// stages run on proportionally smaller costs and activations
  /// (scaleCostsForSchedule). dualpipe-sched's reading.
  PerNWayStage,
  /// Costs of the stages as they are: every candidate must have as many
  /// stages as the per-stage entries (the compiler's reading, after the
  /// partition fixed the stages; list only candidates of its placement).
  AsGiven,
};

/// What chooseAuto() is asked.
struct AutoRequest {
  int numRanks = 0;
  /// Micro-batches per step; unset = free: try every valid count up to
  /// maxMicrobatches and maximise throughput (least step time per
  /// micro-batch).
  std::optional<int> numMicrobatches;
  int maxMicrobatches = 0; ///< 0 = 4N.
  int chunks = 2;          ///< Chunks per rank for interleaved 1F1B.
  /// Costs of one stage when the model is cut into N equal stages (one per
  /// rank). Schedules with more, smaller stages get proportionally smaller
  /// costs and activations (DualPipeV, ZB-V: half; interleaved: 1/v).
  CostModel cost;
  /// Per-rank memory budget: in bytes when cost.activationBytes or
  /// cost.parameterBytes is given (the rank's parameter bytes plus its
  /// peak activation bytes), else in activations of one N-way stage.
  /// <= 0: no budget.
  double memoryBudget = 0;
  /// The schedules to choose among, in tie-break order; empty: every
  /// generated kind (allScheduleKinds()).
  std::vector<ScheduleKind> kinds;
  AutoCosts costs = AutoCosts::PerNWayStage;
};

/// One candidate auto considered.
struct AutoCandidate {
  ScheduleKind kind;
  int numMicrobatches = 0;
  double stepTime = 0;      ///< Simulated makespan at the scaled costs.
  double timePerMicrobatch = 0;
  double peakMemory = 0;    ///< Worst rank, in the budget's unit.
  bool fits = true;
};

/// The choice and its reasons.
struct AutoChoice {
  ScheduleKind kind = ScheduleKind::OneFOneB;
  int numMicrobatches = 0;
  Schedule schedule;
  std::vector<AutoCandidate> candidates; ///< Best candidate per schedule.
  std::vector<std::string> rejected;     ///< Schedules that could not run, why.
  std::string explanation;               ///< Human-readable "why".
};

/// Picks the schedule (and M, when free) with the least simulated step time
/// (per micro-batch when M is free) whose worst-rank memory fits the
/// budget; ties go to the smaller memory, then to the earlier kind. Fails
/// if nothing fits, saying what the smallest need was. The one `auto` of
/// dualpipe-sched and of dualpipe-compile's --schedule=auto.
Expected<AutoChoice> chooseAuto(const AutoRequest &request);

/// Cost model `perNWayStage` rescaled for schedule `kind` on N ranks: each
/// of its stages holds N / pieces of an N-way stage, where pieces is the
/// number of distinct model pieces (DualPipe: N, its two pipelines hold the
/// same N pieces).
CostModel scaleCostsForSchedule(const CostModel &perNWayStage, ScheduleKind kind,
                                int numRanks, int chunks);

} // namespace dualpipe::sched

#endif // DUALPIPE_SCHEDULE_ANALYSIS_H
