//===- Simulator.h - Discrete-event simulation of a schedule ----*- C++ -*-===//
//
// The reference simulation of docs/schedules/contract.md ("Cost model of the reference
// simulation"): each rank issues its actions in order; an action starts
// when its rank is free and its inputs have arrived; sends never block.
// Durations are F, B, W per stage, I = B - W unless given per stage, a pair
// costs F&B (per pair of stages when given). Messages between ranks take
// latency + bytes / bandwidth on their directed link (one message at a time
// per link, in send order), bytes per message kind and stage; by default
// both are zero, so a message arrives when its producer ends.
//
//===----------------------------------------------------------------------===//

#ifndef DUALPIPE_SCHEDULE_SIMULATOR_H
#define DUALPIPE_SCHEDULE_SIMULATOR_H

#include "dualpipe/Schedule/Schedule.h"

#include <string>
#include <vector>

namespace dualpipe::sched {

/// Compute costs of one stage for one micro-batch, in any time unit.
struct StageCost {
  double f = 1; ///< Forward.
  double b = 2; ///< Full backward (input + weight gradient).
  double w = 1; ///< Weight-gradient part of the backward.
  /// Input-gradient backward (I) when measured on its own; negative: b - w.
  double i = -1;

  double inputGradient() const { return i >= 0 ? i : b - w; }
};

/// The measured cost of an overlapped pair: F of `fStage` with B of
/// `bStage`.
struct PairCost {
  int fStage = 0;
  int bStage = 0;
  double cost = 0;
};

/// Costs for the simulation. Stages without an entry in `perStage` use
/// `uniform`.
struct CostModel {
  StageCost uniform;
  /// Optional per-stage costs (index = stage).
  std::vector<StageCost> perStage;
  /// F&B: the cost of an overlapped pair at the uniform costs; negative
  /// means no overlap gain (F + B). With per-stage costs a pair of F on
  /// stage s and B on stage t costs (f_s + b_t) * fb / (f + b), unless
  /// `pairCosts` names that pair.
  double fb = 3;
  /// Measured F&B costs of particular stage pairs.
  std::vector<PairCost> pairCosts;

  /// Link model: a message of `bytes` takes latency + bytes / bandwidth;
  /// bandwidth <= 0 means infinite.
  double linkLatency = 0;
  double linkBandwidth = 0;
  /// Bytes of the activation message stage s sends forward and of the
  /// gradient message it sends back (index = stage; missing = 0).
  std::vector<double> activationMessageBytes;
  std::vector<double> gradientMessageBytes;
  /// Bytes one micro-batch's saved activations take on stage s, for peak
  /// activation bytes (index = stage; missing = 0).
  std::vector<double> activationBytes;
  /// Bytes stage s's parameters take with their gradients and optimizer
  /// state on the rank holding it (index = stage; missing = 0): the
  /// memory a rank needs besides its activations.
  std::vector<double> parameterBytes;

  const StageCost &stage(int s) const {
    return s >= 0 && s < static_cast<int>(perStage.size()) ? perStage[s] : uniform;
  }
  /// Duration of one action (a pair included).
  double duration(const Action &a) const;
};

/// One simulated action: when it ran.
struct TimedAction {
  Action action;
  double start = 0;
  double end = 0;
};

/// Per-rank figures.
struct RankResult {
  double busy = 0;   ///< Sum of the rank's action durations.
  double bubble = 0; ///< makespan - busy.
  /// Peak of micro-batches whose forward is done and whose B/I is not, in
  /// issue order, a pair counted as its F before its B (docs/schedules/contract.md).
  int peakActivations = 0;
  /// The same peak weighted by CostModel::activationBytes.
  double peakActivationBytes = 0;
  /// CostModel::parameterBytes of the rank's stages.
  double parameterBytes = 0;
  /// parameterBytes + peakActivationBytes: what a memory budget bounds.
  double peakMemoryBytes() const { return parameterBytes + peakActivationBytes; }
  std::vector<TimedAction> timeline;
};

/// The result of simulate().
struct SimulationResult {
  double makespan = 0;
  std::vector<RankResult> ranks;
  double maxBubble() const;
  /// Total bubble over all ranks / (ranks * makespan).
  double bubbleRatio() const;
  int maxPeakActivations() const;
  double maxPeakActivationBytes() const;
  double maxPeakMemoryBytes() const;
  /// Stage-sized parameter blocks per device (docs/schedules/contract.md table: 1x, 2x).
  int parameterCopies = 1;
};

/// Simulates `schedule` under `cost`. Fails (naming rank and action) if the
/// actions wait on each other in a cycle; run validate() first for a full
/// diagnosis.
Expected<SimulationResult> simulate(const Schedule &schedule, const CostModel &cost);

/// Peak activations per rank in issue order, without timing.
std::vector<int> peakActivations(const Schedule &schedule);

} // namespace dualpipe::sched

#endif // DUALPIPE_SCHEDULE_SIMULATOR_H
