//===- Analysis.cpp - Closed forms, comparison and automatic choice -------===//

#include "dualpipe/Schedule/Analysis.h"
#include "dualpipe/Schedule/Render.h"
#include "dualpipe/Schedule/Validator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace dualpipe::sched {

std::optional<ClosedForm> closedForm(ScheduleKind kind, int n, const CostModel &cost) {
  const double f = cost.uniform.f, b = cost.uniform.b, w = cost.uniform.w;
  const double fb = cost.fb < 0 ? f + b : cost.fb;
  ClosedForm c;
  switch (kind) {
  case ScheduleKind::OneFOneB:
    c.pp = n;
    c.bubbleFormula = "(PP-1)(F+B)";
    c.bubble = (c.pp - 1) * (f + b);
    c.parameterCopies = 1;
    c.activations = c.pp;
    return c;
  case ScheduleKind::ZBH1:
    c.pp = n;
    c.bubbleFormula = "(PP-1)(F+B-2W)";
    c.bubble = (c.pp - 1) * (f + b - 2 * w);
    c.parameterCopies = 1;
    c.activations = c.pp;
    return c;
  case ScheduleKind::DualPipe:
  case ScheduleKind::DualPipeV:
    c.pp = kind == ScheduleKind::DualPipe ? n : 2 * n;
    c.bubbleFormula = "(PP/2-1)(F&B+B-3W)";
    c.bubble = (c.pp / 2 - 1) * (fb + b - 3 * w);
    c.parameterCopies = 2;
    c.activations = c.pp + 1;
    return c;
  default:
    return std::nullopt;
  }
}

namespace {

/// Distinct model pieces a schedule's stages cut the model into.
int modelPieces(ScheduleKind kind, int n, int chunks) {
  switch (kind) {
  case ScheduleKind::DualPipe:
    return n;
  case ScheduleKind::DualPipeV:
  case ScheduleKind::ZBV:
  case ScheduleKind::VHalf:
  case ScheduleKind::VMin:
    return 2 * n;
  case ScheduleKind::Interleaved1F1B:
  case ScheduleKind::LoopedBFS:
  case ScheduleKind::InterleavedZB:
    return chunks * n;
  default:
    return n;
  }
}

} // namespace

std::vector<ComparisonRow> compareAll(int n, int m, const CostModel &cost, int chunks) {
  std::vector<ComparisonRow> rows;
  for (ScheduleKind kind : allScheduleKinds()) {
    ComparisonRow row;
    row.kind = kind;
    row.numMicrobatches = m;
    row.formula = closedForm(kind, n, cost);
    Expected<Schedule> s = generate({kind, n, m, chunks});
    if (!s) {
      row.rejected = s.error();
      rows.push_back(row);
      continue;
    }
    ValidationReport rep = validate(*s);
    if (!rep.ok()) {
      row.rejected = Error{"invalid: " + rep.errors.front().str(*s)};
      rows.push_back(row);
      continue;
    }
    Expected<SimulationResult> sim = simulate(*s, cost);
    if (!sim) {
      row.rejected = sim.error();
      rows.push_back(row);
      continue;
    }
    row.makespan = sim->makespan;
    row.maxBubble = sim->maxBubble();
    row.bubbleRatio = sim->bubbleRatio();
    row.peakActivations = sim->maxPeakActivations();
    row.parameterCopies = sim->parameterCopies;
    row.numStages = s->numStages;
    rows.push_back(row);
  }
  return rows;
}

std::string formatComparison(int n, int m, const CostModel &cost,
                             const std::vector<ComparisonRow> &rows) {
  const double fb = cost.fb < 0 ? cost.uniform.f + cost.uniform.b : cost.fb;
  std::string o = "N=" + std::to_string(n) + " ranks, M=" + std::to_string(m) +
                  " micro-batches; per-stage costs F=" + formatNumber(cost.uniform.f) +
                  " B=" + formatNumber(cost.uniform.b) + " W=" +
                  formatNumber(cost.uniform.w) + " F&B=" + formatNumber(fb) + "\n";
  o += "bubble = worst rank's idle time; act = peak activations per rank in "
       "micro-batches of one stage (counted as in docs/schedules/contract.md); "
       "PP = stages of one pipeline;\nratio = total bubble / (N x makespan); "
       "eq-model = makespan for an equal model (schedules with 2N or vN "
       "stages run proportionally smaller stages)\n\n";
  char line[256];
  std::snprintf(line, sizeof line, "%-17s %6s %8s %7s %7s %-24s %5s %5s %7s %6s %7s %9s\n",
                "schedule", "stages", "makespan", "bubble", "formula", "(closed form)",
                "match", "act", "formula", "params", "ratio", "eq-model");
  o += line;
  for (const ComparisonRow &r : rows) {
    if (r.rejected) {
      std::snprintf(line, sizeof line, "%-17s  not valid here: %s\n", scheduleTitle(r.kind),
                    r.rejected->message.c_str());
      o += line;
      continue;
    }
    std::string fBubble = "-", fExpr = "-", match = "-", fAct = "-";
    if (r.formula) {
      fBubble = formatNumber(r.formula->bubble);
      fExpr = r.formula->bubbleFormula + " PP=" + std::to_string(r.formula->pp);
      match = std::fabs(r.formula->bubble - r.maxBubble) < 1e-9 ? "yes" : "NO";
      fAct = std::to_string(r.formula->activations);
    }
    double eq = r.makespan * n / modelPieces(r.kind, n, r.numStages / n);
    std::snprintf(line, sizeof line, "%-17s %6d %8s %7s %7s %-24s %5s %5d %7s %5dx %7.4f %9s\n",
                  scheduleTitle(r.kind), r.numStages, formatNumber(r.makespan).c_str(),
                  formatNumber(r.maxBubble).c_str(), fBubble.c_str(), fExpr.c_str(),
                  match.c_str(), r.peakActivations, fAct.c_str(), r.parameterCopies,
                  r.bubbleRatio, formatNumber(eq).c_str());
    o += line;
  }
  return o;
}

CostModel scaleCostsForSchedule(const CostModel &base, ScheduleKind kind, int n,
                                int chunks) {
  const int pieces = modelPieces(kind, n, chunks);
  if (kind == ScheduleKind::DualPipe) {
    // Stage N+s of pipeline B is a copy of N-way stage s.
    CostModel c = base;
    auto twice = [n](auto &v) {
      if (v.empty())
        return;
      v.resize(n, v.back());
      auto copy = v;
      v.insert(v.end(), copy.begin(), copy.end());
    };
    twice(c.perStage);
    twice(c.activationBytes);
    twice(c.parameterBytes);
    twice(c.activationMessageBytes);
    twice(c.gradientMessageBytes);
    return c;
  }
  if (pieces == n)
    return base;
  const double k = static_cast<double>(n) / pieces;
  CostModel c = base;
  c.uniform = {base.uniform.f * k, base.uniform.b * k, base.uniform.w * k};
  if (c.fb >= 0)
    c.fb *= k;
  // Per-stage entries describe N-way stages; a finer stage s is a part of
  // N-way stage s * n / pieces.
  auto remap = [&](const auto &v, auto scaleOne) {
    std::decay_t<decltype(v)> out;
    if (v.empty())
      return out;
    for (int s = 0; s < pieces; ++s) {
      int src = std::min(static_cast<int>(v.size()) - 1, s * n / pieces);
      out.push_back(scaleOne(v[src]));
    }
    return out;
  };
  c.uniform.i = base.uniform.i >= 0 ? base.uniform.i * k : -1;
  c.perStage = remap(base.perStage, [&](const StageCost &sc) {
    return StageCost{sc.f * k, sc.b * k, sc.w * k, sc.i >= 0 ? sc.i * k : -1};
  });
  // Measured pairs name stages of another cut.
  c.pairCosts.clear();
  auto scaleD = [&](double d) { return d * k; };
  c.activationBytes = remap(base.activationBytes, scaleD);
  c.parameterBytes = remap(base.parameterBytes, scaleD);
  c.activationMessageBytes = remap(base.activationMessageBytes, [](double d) { return d; });
  c.gradientMessageBytes = remap(base.gradientMessageBytes, [](double d) { return d; });
  // V placements name stages 0..2N-1 along the model; stage-indexed
  // vectors above follow that order.
  return c;
}

namespace {

/// Per-stage vectors of `c` that do not match `stages`; "" when all do.
std::string perStageMismatch(const CostModel &c, int stages) {
  auto bad = [&](size_t size) { return size != 0 && static_cast<int>(size) != stages; };
  if (bad(c.perStage.size()))
    return "the costs list " + std::to_string(c.perStage.size()) + " stages";
  if (bad(c.activationBytes.size()))
    return "the activation bytes list " + std::to_string(c.activationBytes.size()) + " stages";
  if (bad(c.parameterBytes.size()))
    return "the parameter bytes list " + std::to_string(c.parameterBytes.size()) + " stages";
  return "";
}

/// The micro-batch counts auto tries for `kind`: the one asked for, or every
/// valid count up to `maxM`.
std::vector<int> microbatchCounts(const AutoRequest &req, ScheduleKind kind, int n, bool freeM,
                                  int maxM) {
  std::vector<int> ms;
  if (!freeM) {
    ms.push_back(*req.numMicrobatches);
  } else if (std::optional<MicrobatchRule> rule = microbatchRule(kind, n, req.chunks)) {
    for (int m = rule->min; m <= maxM; m += rule->step)
      ms.push_back(m);
  }
  return ms;
}

/// Simulates `kind` at each micro-batch count in `ms` and keeps the best
/// candidate (fitting first, then least time, then least memory); none when
/// every count fails, with the first failure in `firstError`. `smallestNeed`
/// gets the least peak memory seen.
std::optional<AutoCandidate> bestCandidateOfKind(const AutoRequest &req, ScheduleKind kind,
                                                 int n, const std::vector<int> &ms, bool freeM,
                                                 bool bytes, double &smallestNeed,
                                                 std::string &firstError) {
  const bool asGiven = req.costs == AutoCosts::AsGiven;
  CostModel cost = asGiven ? req.cost : scaleCostsForSchedule(req.cost, kind, n, req.chunks);
  const double unit =
      asGiven ? 1.0 : static_cast<double>(n) / modelPieces(kind, n, req.chunks);
  std::optional<AutoCandidate> bestOfKind;
  for (int m : ms) {
    Expected<Schedule> s = generate({kind, n, m, req.chunks});
    if (!s) {
      if (firstError.empty())
        firstError = s.error().message;
      continue;
    }
    if (asGiven) {
      std::string bad = perStageMismatch(cost, s->numStages);
      if (!bad.empty()) {
        if (firstError.empty())
          firstError = "it has " + std::to_string(s->numStages) + " stages but " + bad;
        continue;
      }
    }
    Expected<SimulationResult> sim = simulate(*s, cost);
    if (!sim) {
      if (firstError.empty())
        firstError = sim.error().message;
      continue;
    }
    AutoCandidate c;
    c.kind = kind;
    c.numMicrobatches = m;
    c.stepTime = sim->makespan;
    c.timePerMicrobatch = sim->makespan / m;
    c.peakMemory = bytes ? sim->maxPeakMemoryBytes() : sim->maxPeakActivations() * unit;
    c.fits = req.memoryBudget <= 0 || c.peakMemory <= req.memoryBudget + 1e-9;
    if (smallestNeed < 0 || c.peakMemory < smallestNeed)
      smallestNeed = c.peakMemory;
    double key = freeM ? c.timePerMicrobatch : c.stepTime;
    auto better = [&](const std::optional<AutoCandidate> &o) {
      if (!o)
        return true;
      if (c.fits != o->fits)
        return c.fits;
      double ok = freeM ? o->timePerMicrobatch : o->stepTime;
      if (std::fabs(key - ok) > 1e-9)
        return key < ok;
      return c.peakMemory < o->peakMemory - 1e-9;
    };
    if (better(bestOfKind))
      bestOfKind = c;
  }
  return bestOfKind;
}

/// The explanation of auto's choice `best`: why, and the table of candidates
/// and rejections.
std::string explainChoice(const AutoRequest &req, const AutoChoice &choice,
                          const AutoCandidate &best, bool freeM, bool bytes,
                          const std::string &unitName) {
  std::string o = "auto: chose " + std::string(scheduleName(best.kind)) + " with M=" +
                  std::to_string(best.numMicrobatches) + ": ";
  o += freeM ? "the least simulated step time per micro-batch (" +
                   formatNumber(best.timePerMicrobatch) + ", step " +
                   formatNumber(best.stepTime) + ")"
             : "the least simulated step time (" + formatNumber(best.stepTime) + ")";
  o += req.memoryBudget > 0 ? " within the " + std::string(bytes ? "memory" : "activation") +
                                  " budget of " + formatNumber(req.memoryBudget) + unitName +
                                  " per rank"
                            : " (no memory budget given)";
  o += req.costs == AutoCosts::AsGiven
           ? ".\nCosts are per stage as given.\n"
           : ".\nCosts are per N-way stage; schedules with finer stages run on "
             "proportionally smaller costs and activations.\n";
  char line[200];
  std::snprintf(line, sizeof line, "  %-14s %5s %10s %12s %12s  %s\n", "schedule", "M",
                "step", "per-mb", "peak-mem", "");
  o += line;
  for (const AutoCandidate &c : choice.candidates) {
    std::string note = c.kind == best.kind ? "<- chosen" : (c.fits ? "" : "over budget");
    std::snprintf(line, sizeof line, "  %-14s %5d %10s %12s %12s  %s\n",
                  scheduleName(c.kind), c.numMicrobatches,
                  formatNumber(c.stepTime).c_str(),
                  formatNumber(std::round(c.timePerMicrobatch * 1e4) / 1e4).c_str(),
                  formatNumber(c.peakMemory).c_str(), note.c_str());
    o += line;
  }
  for (const std::string &r : choice.rejected)
    o += "  not possible: " + r + "\n";
  return o;
}

} // namespace

Expected<AutoChoice> chooseAuto(const AutoRequest &req) {
  const int n = req.numRanks;
  if (n < 1)
    return Error{"auto needs at least 1 rank, got " + std::to_string(n)};
  const bool freeM = !req.numMicrobatches;
  const int maxM = req.maxMicrobatches > 0 ? req.maxMicrobatches : 4 * n;
  const bool bytes = !req.cost.activationBytes.empty() || !req.cost.parameterBytes.empty();
  const std::vector<ScheduleKind> &kinds =
      req.kinds.empty() ? allScheduleKinds() : req.kinds;
  AutoChoice choice;
  std::optional<AutoCandidate> best;
  double smallestNeed = -1;
  for (ScheduleKind kind : kinds) {
    std::vector<int> ms = microbatchCounts(req, kind, n, freeM, maxM);
    if (ms.empty()) {
      ScheduleConfig cfg{kind, n, freeM ? maxM : *req.numMicrobatches, req.chunks};
      std::optional<Error> e = checkConfig(cfg);
      choice.rejected.push_back(std::string(scheduleName(kind)) + ": " +
                                (e ? e->message : "no valid micro-batch count up to " +
                                                      std::to_string(maxM)));
      continue;
    }
    std::string firstError;
    std::optional<AutoCandidate> bestOfKind =
        bestCandidateOfKind(req, kind, n, ms, freeM, bytes, smallestNeed, firstError);
    if (!bestOfKind) {
      choice.rejected.push_back(std::string(scheduleName(kind)) + ": " + firstError);
      continue;
    }
    choice.candidates.push_back(*bestOfKind);
    if (!bestOfKind->fits)
      continue;
    double key = freeM ? bestOfKind->timePerMicrobatch : bestOfKind->stepTime;
    double bestKey = best ? (freeM ? best->timePerMicrobatch : best->stepTime) : 0;
    if (!best || key < bestKey - 1e-9 ||
        (std::fabs(key - bestKey) <= 1e-9 && bestOfKind->peakMemory < best->peakMemory - 1e-9))
      best = bestOfKind;
  }
  const std::string unitName =
      bytes ? " bytes" : req.costs == AutoCosts::AsGiven ? " stage activations"
                                                         : " N-way stage activations";
  if (!best) {
    if (smallestNeed < 0) {
      std::string why;
      for (const std::string &r : choice.rejected)
        why += "; " + r;
      return Error{"no schedule can run on " + std::to_string(n) + " ranks" + why};
    }
    return Error{"no schedule fits the " + std::string(bytes ? "memory" : "activation") +
                 " budget of " + formatNumber(req.memoryBudget) + unitName +
                 " per rank; the smallest need is " + formatNumber(smallestNeed) + unitName};
  }
  choice.kind = best->kind;
  choice.numMicrobatches = best->numMicrobatches;
  choice.schedule = *generate({best->kind, n, best->numMicrobatches, req.chunks});

  choice.explanation = explainChoice(req, choice, *best, freeM, bytes, unitName);
  return choice;
}

} // namespace dualpipe::sched
