//===- PartitionSearch.h - cuts minimizing the simulated step ---*- C++ -*-===//
//
// The objective of --dualpipe-partition for the two-stage-per-rank
// placements (dualpipe, dualpipev): among the contiguous cuts of the model's
// units into K stages, the one whose schedule has the least simulated step
// time (lib/Schedule's discrete-event simulator) under per-stage costs from
// the cost model: F = the stage's forward time, B = 2F, W = F (I = F), an
// F&B pair costs F + B (the pair's halves run one after the other). Plain
// C++ on numbers, like PartitionSolver, so that it is tested against brute
// force without MLIR.
//
// Search: every cut is a candidate when there are at most
// `enumerationLimit`; each gets a lower bound on its step time in O(K)
// (per rank: the delay before its first input can exist plus its busy
// time, both linear in the stage costs), and candidates are simulated in
// increasing bound order until the bound reaches the best simulated time,
// so the result is the exact optimum. With more candidates than that, a
// local search: from the pair-balanced and the bottleneck (linear) optima
// (the first valid cut when neither solves), move one cut at a time to a
// position between its neighbours that improves until none does (at most `maxRounds` rounds,
// and at most `maxLocalSimulations` simulations); the solution says which
// search ran. A move tries steps of 1, 2, 4, ... units (largest first) on
// either side of the cut and repeats in the direction that improved, so a
// cut costs O(log stage size) simulations a round, not one per position.
//
// Ties (equal simulated times, to 1e-9 relative) go to the smaller largest
// stage, then to fewer bytes crossing the cuts.
//
//===----------------------------------------------------------------------===//
#ifndef DUALPIPE_ANALYSIS_PARTITIONSEARCH_H
#define DUALPIPE_ANALYSIS_PARTITIONSEARCH_H

#include "dualpipe/Analysis/PartitionSolver.h"
#include "dualpipe/Schedule/Schedule.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dualpipe {

struct StepTimeProblem {
  /// Units (forward seconds per micro-batch, the loss folded into the last),
  /// cut bytes, mandatory cuts and K. `base.unitCost` is ignored.
  PartitionProblem base;
  std::vector<double> unitSeconds;
  /// Per unit: bytes of the activations it saves for one micro-batch, and
  /// of the parameters it reads (memory per rank: parameters and their
  /// gradients, plus the schedule's peak of live activations).
  std::vector<double> unitActivationBytes, unitParamBytes;
  /// The schedule: DualPipe (K = N stages, both copies) or DualPipeV
  /// (K = 2N), on N ranks with M micro-batches.
  sched::ScheduleKind kind = sched::ScheduleKind::DualPipe;
  int numRanks = 0, numMicrobatches = 0;
  /// A stage whose units all cost nothing is refused unless allowed.
  bool allowEmptyStages = false;
  /// Per-rank bytes a partition must fit (<= 0: none).
  double memoryBudget = 0;
  int64_t enumerationLimit = 2'000'000;
  int64_t maxRounds = 64;
  /// Local search: simulations it may run in all, shared equally by its
  /// seeds (<= 0: no limit). A count, not a time, so that a result does
  /// not depend on the machine.
  int64_t maxLocalSimulations = 4000;
  /// Local search: try every position of a cut between its neighbours
  /// instead of the 1, 2, 4, ... steps (the search before the budget; for
  /// comparison in tests).
  bool everyPosition = false;
};

/// One partition, evaluated.
struct StepTimeEval {
  std::vector<int64_t> bounds;
  double stepTime = 0;
  std::vector<double> stageSeconds;
  /// Per rank: busy seconds in the simulated step and peak bytes.
  std::vector<double> rankBusy, rankPeakBytes;
  double maxStage() const;
  double maxPeakBytes() const;
  int64_t cutBytes = 0;
};

struct StepTimeSolution {
  StepTimeEval best;
  /// "exhaustive" (the optimum over every cut), "local", or "local-budget"
  /// (the local search stopped at maxLocalSimulations).
  std::string search;
  int64_t candidates = 0;  ///< Cuts with no forbidden empty stage.
  int64_t simulations = 0; ///< Schedules simulated.
  int64_t overBudget = 0;  ///< Simulated cuts that did not fit the budget.
};

/// Generates the schedule of `problem` and evaluates the cut `bounds` (K+1
/// boundaries); an error when the schedule cannot be generated.
sched::Expected<StepTimeEval> evaluateCut(const StepTimeProblem &problem,
                                          const std::vector<int64_t> &bounds);

/// The cut of least simulated step time, or nullopt with the reason in
/// `whyNot` (too few units or non-empty units for K stages, a schedule
/// that cannot run, no cut within the memory budget).
std::optional<StepTimeSolution> solveStepTime(const StepTimeProblem &problem,
                                              std::string *whyNot = nullptr);

/// The same optimum by simulating every cut (for tests; n small).
std::optional<StepTimeSolution>
solveStepTimeBruteForce(const StepTimeProblem &problem);

} // namespace dualpipe

#endif // DUALPIPE_ANALYSIS_PARTITIONSEARCH_H
