//===- Simulator.cpp - Discrete-event simulation of a schedule ------------===//

#include "dualpipe/Schedule/Simulator.h"
#include "dualpipe/Schedule/Validator.h"

#include <algorithm>
#include <map>

namespace dualpipe::sched {

double CostModel::duration(const Action &a) const {
  switch (a.kind) {
  case ActionKind::Forward:
    return stage(a.stage).f;
  case ActionKind::Backward:
    return stage(a.stage).b;
  case ActionKind::BackwardInput:
    return stage(a.stage).inputGradient();
  case ActionKind::BackwardWeight:
    return stage(a.stage).w;
  case ActionKind::OverlappedFB: {
    for (const PairCost &p : pairCosts)
      if (p.fStage == a.stage && p.bStage == a.bStage)
        return p.cost;
    double plain = stage(a.stage).f + stage(a.bStage).b;
    if (fb < 0)
      return plain;
    if (perStage.empty())
      return fb;
    return plain * fb / (uniform.f + uniform.b);
  }
  }
  return 0;
}

double SimulationResult::maxBubble() const {
  double m = 0;
  for (const RankResult &r : ranks)
    m = std::max(m, r.bubble);
  return m;
}

double SimulationResult::bubbleRatio() const {
  if (ranks.empty() || makespan <= 0)
    return 0;
  double total = 0;
  for (const RankResult &r : ranks)
    total += r.bubble;
  return total / (static_cast<double>(ranks.size()) * makespan);
}

int SimulationResult::maxPeakActivations() const {
  int m = 0;
  for (const RankResult &r : ranks)
    m = std::max(m, r.peakActivations);
  return m;
}

double SimulationResult::maxPeakMemoryBytes() const {
  double m = 0;
  for (const RankResult &r : ranks)
    m = std::max(m, r.peakMemoryBytes());
  return m;
}

double SimulationResult::maxPeakActivationBytes() const {
  double m = 0;
  for (const RankResult &r : ranks)
    m = std::max(m, r.peakActivationBytes);
  return m;
}

namespace {

bool isBackwardKind(ActionKind k) {
  return k == ActionKind::Backward || k == ActionKind::BackwardInput;
}

double bytesOf(const std::vector<double> &v, int stage) {
  return stage >= 0 && stage < static_cast<int>(v.size()) ? v[stage] : 0;
}

/// Walks each rank's actions in issue order, tracking in-flight micro-batches.
void countActivations(const Schedule &s, const CostModel *cost,
                      std::vector<RankResult> &out) {
  for (int r = 0; r < s.numRanks; ++r) {
    int live = 0;
    double liveBytes = 0;
    for (const Action &a : s.ranks[r])
      for (int p = 0; p < a.numParts(); ++p) {
        Action part = a.part(p);
        double bytes = cost ? bytesOf(cost->activationBytes, part.stage) : 0;
        if (part.kind == ActionKind::Forward) {
          ++live;
          liveBytes += bytes;
        } else if (isBackwardKind(part.kind)) {
          --live;
          liveBytes -= bytes;
        }
        out[r].peakActivations = std::max(out[r].peakActivations, live);
        out[r].peakActivationBytes = std::max(out[r].peakActivationBytes, liveBytes);
      }
  }
}

} // namespace

std::vector<int> peakActivations(const Schedule &s) {
  std::vector<RankResult> ranks(s.numRanks);
  countActivations(s, nullptr, ranks);
  std::vector<int> out;
  for (const RankResult &r : ranks)
    out.push_back(r.peakActivations);
  return out;
}

Expected<SimulationResult> simulate(const Schedule &s, const CostModel &cost) {
  if (static_cast<int>(s.ranks.size()) != s.numRanks ||
      static_cast<int>(s.stageToRank.size()) != s.numStages)
    return Error{"malformed schedule: run validate() for details"};
  const std::vector<StageLinks> links = stageLinks(s);
  const size_t total = static_cast<size_t>(s.numStages) * s.numMicrobatches;
  auto key = [&](int stage, int mb, bool bwd) {
    return (static_cast<size_t>(stage) * s.numMicrobatches + mb) * 2 + (bwd ? 1 : 0);
  };
  // ended[event]: when the producing action ended (what local consumers
  // see); arrived[event]: when its message reached the remote consumer.
  const double kNotYet = -1;
  std::vector<double> ended(total * 2, kNotYet), arrived(total * 2, kNotYet);
  std::vector<std::vector<int>> waiters(total * 2);
  std::map<std::pair<int, int>, double> linkFree;

  SimulationResult res;
  res.ranks.resize(s.numRanks);
  res.parameterCopies = parameterCopiesPerDevice(s);
  std::vector<int> next(s.numRanks, 0);
  std::vector<double> free(s.numRanks, 0);
  std::vector<int> work;
  for (int r = s.numRanks - 1; r >= 0; --r)
    work.push_back(r);

  while (!work.empty()) {
    int r = work.back();
    work.pop_back();
    const auto &acts = s.ranks[r];
    while (next[r] < static_cast<int>(acts.size())) {
      const Action &a = acts[next[r]];
      double start = free[r];
      bool blocked = false;
      for (int p = 0; p < a.numParts() && !blocked; ++p)
        for (const Event &e : inputsOf(a.part(p), links)) {
          if (e.stage < 0 || e.stage >= s.numStages || e.microbatch < 0 ||
              e.microbatch >= s.numMicrobatches)
            return Error{"rank " + std::to_string(r) + ", action " +
                         std::to_string(next[r]) + ": stage or micro-batch out of range"};
          size_t k = key(e.stage, e.microbatch, e.backward);
          if (ended[k] == kNotYet) {
            waiters[k].push_back(r);
            blocked = true;
            break;
          }
          // Results of this rank's own stages are local; others arrive by
          // message.
          bool local = s.stageToRank[e.stage] == r;
          start = std::max(start, local ? ended[k] : arrived[k]);
        }
      if (blocked)
        break;
      double end = start + cost.duration(a);
      res.ranks[r].busy += end - start;
      res.ranks[r].timeline.push_back({a, start, end});
      free[r] = end;
      for (int p = 0; p < a.numParts(); ++p) {
        Action part = a.part(p);
        if (part.kind == ActionKind::BackwardWeight)
          continue;
        bool bwd = isBackwardKind(part.kind);
        // The consumer of this result: the next stage for F, the previous
        // for B/I; itself (W or B of the same stage) is always local.
        int consumer = bwd ? links[part.stage].prev : links[part.stage].next;
        double at = end;
        if (consumer >= 0 && s.stageToRank[consumer] != r) {
          double bytes = bytesOf(bwd ? cost.gradientMessageBytes
                                     : cost.activationMessageBytes,
                                 part.stage);
          double transfer = cost.linkBandwidth > 0 ? bytes / cost.linkBandwidth : 0;
          double &lf = linkFree[{r, s.stageToRank[consumer]}];
          double begin = std::max(end, lf);
          lf = begin + transfer;
          at = begin + transfer + cost.linkLatency;
        }
        size_t k = key(part.stage, part.microbatch, bwd);
        ended[k] = end;
        arrived[k] = at;
        for (int w : waiters[k])
          work.push_back(w);
        waiters[k].clear();
      }
      ++next[r];
    }
  }
  for (int r = 0; r < s.numRanks; ++r)
    if (next[r] < static_cast<int>(s.ranks[r].size()))
      return Error{"rank " + std::to_string(r) + ", action " + std::to_string(next[r]) +
                   " (" + formatAction(s.ranks[r][next[r]]) +
                   "): waits for an input that never arrives; the schedule is invalid "
                   "(run the validator for details)"};
  for (const RankResult &rr : res.ranks)
    if (!rr.timeline.empty())
      res.makespan = std::max(res.makespan, rr.timeline.back().end);
  for (RankResult &rr : res.ranks)
    rr.bubble = res.makespan - rr.busy;
  countActivations(s, &cost, res.ranks);
  for (int st = 0; st < s.numStages; ++st)
    res.ranks[s.stageToRank[st]].parameterBytes += bytesOf(cost.parameterBytes, st);
  return res;
}

} // namespace dualpipe::sched
