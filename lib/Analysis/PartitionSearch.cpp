//===- PartitionSearch.cpp - cuts minimizing the simulated step ----------===//
//
// See PartitionSearch.h. The schedule is generated once; a candidate cut
// only changes the per-stage costs of the simulation. The lower bound of a
// cut is max over ranks of (delay before the rank's first action can start
// + the rank's busy time): the first action of a rank is a forward whose
// input is the chain of forwards of the stages before it in its pipeline,
// and every action of the rank runs after it, one at a time. Both terms
// are linear in the stage forward costs F_s (B = 2F, W = I = F, a pair
// F_s + B_t), so the bound is max_r sum_s coef[r][s] F_s, O(K N) a cut.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Analysis/PartitionSearch.h"

#include "dualpipe/Schedule/Generators.h"
#include "dualpipe/Schedule/Simulator.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

using namespace dualpipe;

namespace {

constexpr double kRelTie = 1e-9;
/// Simulations the exact search may run before it gives up on exactness.
constexpr int64_t kSimulationLimit = 400'000;

struct Context {
  const StepTimeProblem &pb;
  int64_t n = 0, K = 0;
  std::vector<double> P, A, W; // prefix sums: seconds, activations, params
  std::vector<int64_t> nonZero; // prefix count of units costing anything
  std::vector<char> mand;
  sched::Schedule schedule;
  /// Model stage of each schedule stage.
  std::vector<int> modelStage;
  /// Lower-bound coefficients: coef[r * K + s].
  std::vector<double> coef;

  explicit Context(const StepTimeProblem &pb)
      : pb(pb), n(pb.unitSeconds.size()), K(pb.base.numStages) {
    auto prefix = [&](const std::vector<double> &v, std::vector<double> &out) {
      out.assign(n + 1, 0);
      for (int64_t i = 0; i < n; ++i)
        out[i + 1] = out[i] + (i < (int64_t)v.size() ? v[i] : 0);
    };
    prefix(pb.unitSeconds, P);
    prefix(pb.unitActivationBytes, A);
    prefix(pb.unitParamBytes, W);
    nonZero.assign(n + 1, 0);
    for (int64_t i = 0; i < n; ++i)
      nonZero[i + 1] = nonZero[i] + (pb.unitSeconds[i] > 0 ? 1 : 0);
    mand.assign(n + 1, 0);
    for (int64_t c = 1; c < n && c < (int64_t)pb.base.mandatory.size(); ++c)
      mand[c] = pb.base.mandatory[c];
  }

  /// Generates the schedule and the bound's coefficients.
  std::optional<std::string> prepare() {
    sched::ScheduleConfig config;
    config.kind = pb.kind;
    config.numRanks = pb.numRanks;
    config.numMicrobatches = pb.numMicrobatches;
    sched::Expected<sched::Schedule> s = sched::generate(config);
    if (!s)
      return s.error().message;
    schedule = std::move(s.value());
    std::vector<sched::StageLinks> links = sched::stageLinks(schedule);
    modelStage.assign(schedule.numStages, 0);
    for (int t = 0; t < schedule.numStages; ++t) {
      int pos = 0;
      for (int p = links[t].prev; p >= 0; p = links[p].prev)
        ++pos;
      modelStage[t] = pos;
      if (pos >= K)
        return "schedule '" + std::string(sched::scheduleName(pb.kind)) +
               "' on " + std::to_string(pb.numRanks) + " ranks has pipelines of more than " +
               std::to_string(K) + " stages";
    }
    coef.assign(schedule.numRanks * K, 0);
    for (int r = 0; r < schedule.numRanks; ++r) {
      double *c = &coef[r * K];
      const auto &acts = schedule.ranks[r];
      for (const sched::Action &a : acts)
        for (int p = 0; p < a.numParts(); ++p) {
          sched::Action part = a.part(p);
          c[modelStage[part.stage]] +=
              part.kind == sched::ActionKind::Backward ? 2.0 : 1.0;
        }
      if (!acts.empty())
        for (int t = links[acts.front().stage].prev; t >= 0; t = links[t].prev)
          c[modelStage[t]] += 1.0;
    }
    return std::nullopt;
  }

  double stageSeconds(int64_t a, int64_t b) const { return P[b] - P[a]; }

  bool stageOk(int64_t a, int64_t b) const {
    return b > a && (pb.allowEmptyStages || nonZero[b] > nonZero[a]);
  }

  double lowerBound(const std::vector<int64_t> &bounds) const {
    double F[64];
    std::vector<double> big;
    double *f = F;
    if (K > 64) {
      big.resize(K);
      f = big.data();
    }
    for (int64_t s = 0; s < K; ++s)
      f[s] = stageSeconds(bounds[s], bounds[s + 1]);
    double lb = 0;
    for (int r = 0; r < schedule.numRanks; ++r) {
      double v = 0;
      for (int64_t s = 0; s < K; ++s)
        v += coef[r * K + s] * f[s];
      lb = std::max(lb, v);
    }
    return lb;
  }

  int64_t cutBytesOf(const std::vector<int64_t> &bounds) const {
    return totalCutBytes(pb.base, bounds);
  }

  StepTimeEval evaluate(const std::vector<int64_t> &bounds) const {
    StepTimeEval e;
    e.bounds = bounds;
    sched::CostModel cost;
    cost.fb = -1; // a pair runs its halves one after the other
    int T = schedule.numStages;
    cost.perStage.resize(T);
    cost.activationBytes.resize(T);
    cost.parameterBytes.resize(T);
    for (int64_t s = 0; s < K; ++s)
      e.stageSeconds.push_back(stageSeconds(bounds[s], bounds[s + 1]));
    for (int t = 0; t < T; ++t) {
      int s = modelStage[t];
      double f = e.stageSeconds[s];
      cost.perStage[t] = sched::StageCost{f, 2 * f, f, -1};
      cost.activationBytes[t] = A[bounds[s + 1]] - A[bounds[s]];
      // Parameters and their gradients.
      cost.parameterBytes[t] = 2 * (W[bounds[s + 1]] - W[bounds[s]]);
    }
    sched::Expected<sched::SimulationResult> sim =
        sched::simulate(schedule, cost);
    if (!sim) { // a generated schedule always simulates
      e.stepTime = INFINITY;
      return e;
    }
    e.stepTime = sim->makespan;
    for (const sched::RankResult &r : sim->ranks) {
      e.rankBusy.push_back(r.busy);
      e.rankPeakBytes.push_back(r.peakMemoryBytes());
    }
    e.cutBytes = cutBytesOf(bounds);
    return e;
  }

  bool fits(const StepTimeEval &e) const {
    return pb.memoryBudget <= 0 || e.maxPeakBytes() <= pb.memoryBudget;
  }

  /// Calls `fn` with every valid K+1 boundaries until it returns false.
  void enumerate(const std::function<bool(const std::vector<int64_t> &)> &fn) const {
    std::vector<int64_t> bounds{0};
    bool stop = false;
    std::function<void(int64_t)> rec = [&](int64_t from) {
      int64_t k = bounds.size(); // boundary index being chosen
      if (k == K) {
        for (int64_t c = from; c < n; ++c)
          if (mand[c])
            return;
        if (!stageOk(bounds.back(), n))
          return;
        bounds.push_back(n);
        stop = !fn(bounds);
        bounds.pop_back();
        return;
      }
      for (int64_t c = from; c <= n - (K - k) && !stop; ++c) {
        if (stageOk(bounds.back(), c)) {
          bounds.push_back(c);
          rec(c + 1);
          bounds.pop_back();
        }
        if (mand[c])
          break;
      }
    };
    rec(1);
  }

  bool valid(const std::vector<int64_t> &b) const {
    for (int64_t k = 0; k < K; ++k)
      if (!stageOk(b[k], b[k + 1]))
        return false;
    return true;
  }

  /// Moves the free boundaries of `b` until no stage is empty: each empty
  /// stage takes the next costed unit (rightwards), then, for what is
  /// left, the previous one (leftwards). False if that does not succeed.
  bool repair(std::vector<int64_t> &b) const {
    for (int64_t k = 1; k < K; ++k)
      while (!stageOk(b[k - 1], b[k]) && !mand[b[k]] && b[k] + 1 < b[k + 1])
        ++b[k];
    for (int64_t k = K - 1; k >= 1; --k)
      while (!stageOk(b[k], b[k + 1]) && !mand[b[k]] && b[k] - 1 > b[k - 1])
        --b[k];
    return valid(b);
  }

  /// Number of valid cuts, saturating at limit + 1.
  int64_t count(int64_t limit) const {
    // ways[k][j]: boundaries 0 = b_0 < ... < b_k = j, valid so far.
    std::vector<int64_t> prev(n + 1, 0), cur(n + 1, 0);
    prev[0] = 1;
    for (int64_t k = 1; k <= K; ++k) {
      std::fill(cur.begin(), cur.end(), 0);
      for (int64_t j = 1; j <= n; ++j) {
        if (k == K && j != n)
          continue;
        for (int64_t i = j - 1; i >= 0; --i) {
          if (prev[i] && stageOk(i, j))
            cur[j] = std::min(limit + 1, cur[j] + prev[i]);
          if (i > 0 && mand[i]) // a stage cannot span a mandatory cut
            break;
        }
      }
      std::swap(prev, cur);
    }
    return prev[n];
  }
};

/// a better than b.
bool better(const StepTimeEval &a, const StepTimeEval &b) {
  double tol = kRelTie * std::max(std::fabs(a.stepTime), std::fabs(b.stepTime));
  if (a.stepTime < b.stepTime - tol)
    return true;
  if (a.stepTime > b.stepTime + tol)
    return false;
  double ma = a.maxStage(), mb = b.maxStage();
  double tol2 = kRelTie * std::max(ma, mb);
  if (ma < mb - tol2)
    return true;
  if (ma > mb + tol2)
    return false;
  if (a.cutBytes != b.cutBytes)
    return a.cutBytes < b.cutBytes;
  return a.bounds < b.bounds;
}

std::optional<std::string> checkProblem(const Context &cx) {
  if (cx.K < 1)
    return std::string("the number of stages must be at least 1");
  int64_t expectK = cx.pb.kind == sched::ScheduleKind::DualPipeV
                        ? 2 * cx.pb.numRanks
                        : cx.pb.numRanks;
  if (cx.K != expectK)
    return std::to_string(cx.K) + " stages do not fit schedule '" +
           sched::scheduleName(cx.pb.kind) + "' on " +
           std::to_string(cx.pb.numRanks) + " ranks (it needs " +
           std::to_string(expectK) + ")";
  int64_t usable = cx.pb.allowEmptyStages ? cx.n : cx.nonZero[cx.n];
  if (usable < cx.K) {
    std::string msg = std::to_string(cx.K) + " stages need at least " +
                      std::to_string(cx.K) + " ops to cut between, but there are " +
                      std::to_string(usable);
    int64_t free = cx.n - cx.nonZero[cx.n];
    if (!cx.pb.allowEmptyStages && free > 0)
      msg += " that cost anything (and " + std::to_string(free) +
             " free op" + (free > 1 ? "s" : "") +
             ", reshapes or casts, which make an empty stage on their own; "
             "pass allow-empty-stages to allow one)";
    return msg;
  }
  return std::nullopt;
}

/// Integer solver problem on picosecond costs (for the local search seeds).
PartitionProblem solverProblem(const StepTimeProblem &pb, Pairing pairing) {
  PartitionProblem p = pb.base;
  p.pairing = pairing;
  p.unitCost.clear();
  for (double s : pb.unitSeconds)
    p.unitCost.push_back(s > 0 ? std::max<int64_t>(1, std::llround(s * 1e12)) : 0);
  return p;
}

} // namespace

double StepTimeEval::maxStage() const {
  return stageSeconds.empty()
             ? 0
             : *std::max_element(stageSeconds.begin(), stageSeconds.end());
}

double StepTimeEval::maxPeakBytes() const {
  return rankPeakBytes.empty()
             ? 0
             : *std::max_element(rankPeakBytes.begin(), rankPeakBytes.end());
}

sched::Expected<StepTimeEval>
dualpipe::evaluateCut(const StepTimeProblem &problem,
                      const std::vector<int64_t> &bounds) {
  Context cx(problem);
  if (std::optional<std::string> err = cx.prepare())
    return sched::Error{*err};
  return cx.evaluate(bounds);
}

std::optional<StepTimeSolution>
dualpipe::solveStepTime(const StepTimeProblem &problem, std::string *whyNot) {
  auto fail = [&](const std::string &msg) -> std::optional<StepTimeSolution> {
    if (whyNot)
      *whyNot = msg;
    return std::nullopt;
  };
  Context cx(problem);
  if (std::optional<std::string> err = checkProblem(cx))
    return fail(*err);
  if (std::optional<std::string> err = cx.prepare())
    return fail(*err);
  int64_t numMand = 0;
  for (char m : cx.mand)
    numMand += m;
  if (numMand > cx.K - 1)
    return fail(std::to_string(numMand) + " mandatory cuts make more than " +
                std::to_string(cx.K) + " stages");

  StepTimeSolution sol;
  sol.candidates = cx.count(problem.enumerationLimit);
  if (sol.candidates == 0)
    return fail("no cut into " + std::to_string(cx.K) +
                " stages keeps every stage non-empty with the markers given; "
                "move a marker, ask for fewer stages, or pass "
                "allow-empty-stages");
  std::optional<StepTimeEval> best;
  auto consider = [&](const StepTimeEval &e) {
    ++sol.simulations;
    if (!cx.fits(e)) {
      ++sol.overBudget;
      return;
    }
    if (!best || better(e, *best))
      best = e;
  };

  if (sol.candidates <= problem.enumerationLimit) {
    sol.search = "exhaustive";
    int64_t inner = cx.K - 1;
    std::vector<int32_t> flat;
    std::vector<double> lb;
    flat.reserve(sol.candidates * inner);
    lb.reserve(sol.candidates);
    cx.enumerate([&](const std::vector<int64_t> &b) {
      for (int64_t k = 1; k <= inner; ++k)
        flat.push_back(b[k]);
      lb.push_back(cx.lowerBound(b));
      return true;
    });
    std::vector<int64_t> order(lb.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](int64_t a, int64_t b) { return lb[a] < lb[b]; });
    std::vector<int64_t> bounds(cx.K + 1);
    bounds[0] = 0;
    bounds[cx.K] = cx.n;
    for (int64_t i : order) {
      if (best && lb[i] > best->stepTime * (1 + kRelTie))
        break;
      if (sol.simulations >= kSimulationLimit) {
        sol.search = "exhaustive-truncated";
        break;
      }
      for (int64_t k = 1; k <= inner; ++k)
        bounds[k] = flat[i * inner + k - 1];
      consider(cx.evaluate(bounds));
    }
  } else {
    sol.search = "local";
    std::vector<std::vector<int64_t>> seeds;
    for (Pairing p : {Pairing::Nested, Pairing::Linear}) {
      PartitionProblem sp = solverProblem(problem, p);
      if (std::optional<PartitionSolution> s = solvePartition(sp)) {
        std::vector<int64_t> b = s->bounds;
        if (cx.repair(b))
          seeds.push_back(b);
      }
    }
    if (seeds.empty()) // the first valid cut in enumeration order
      cx.enumerate([&](const std::vector<int64_t> &b) {
        seeds.push_back(b);
        return false;
      });
    // Each seed gets an equal share of the evaluation budget, so the
    // result does not depend on the machine or its load.
    int64_t share = problem.maxLocalSimulations > 0
                        ? std::max<int64_t>(1, problem.maxLocalSimulations /
                                                   int64_t(seeds.size()))
                        : INT64_MAX;
    for (const std::vector<int64_t> &seed : seeds) {
      StepTimeEval cur = cx.evaluate(seed);
      int64_t used = 1;
      bool spent = false;
      // Tries cut k at position c; true if it became the current cut.
      auto tryMove = [&](int64_t k, int64_t c) {
        std::vector<int64_t> b = cur.bounds;
        if (c <= b[k - 1] || c >= b[k + 1] || c == b[k] ||
            !cx.stageOk(b[k - 1], c) || !cx.stageOk(c, b[k + 1]))
          return false;
        b[k] = c;
        if (cx.lowerBound(b) > cur.stepTime * (1 + kRelTie))
          return false;
        if (used >= share) {
          spent = true;
          return false;
        }
        StepTimeEval e = cx.evaluate(b);
        ++used;
        if (cx.fits(e) && (!cx.fits(cur) || better(e, cur))) {
          cur = std::move(e);
          return true;
        }
        return false;
      };
      for (int64_t round = 0; round < problem.maxRounds && !spent; ++round) {
        bool improved = false;
        for (int64_t k = 1; k < cx.K && !spent; ++k) {
          if (cx.mand[cur.bounds[k]])
            continue;
          if (problem.everyPosition) {
            int64_t lo = cur.bounds[k - 1] + 1, hi = cur.bounds[k + 1];
            for (int64_t c = lo; c < hi && !spent; ++c)
              improved |= tryMove(k, c);
            continue;
          }
          // Pattern search: steps of 1, 2, 4, ... units either way from
          // the cut, moving as soon as one improves and going on in that
          // direction (O(log(stage)) simulations a cut, not O(stage)).
          for (int dir : {+1, -1}) {
            bool moved = true;
            while (moved && !spent) {
              moved = false;
              int64_t span = dir > 0 ? cur.bounds[k + 1] - cur.bounds[k]
                                     : cur.bounds[k] - cur.bounds[k - 1];
              std::vector<int64_t> steps;
              for (int64_t d = 1; d < span; d *= 2)
                steps.push_back(d);
              // Largest first: the first improvement is the longest move.
              for (auto it = steps.rbegin(); it != steps.rend() && !moved; ++it)
                moved = tryMove(k, cur.bounds[k] + dir * *it);
              improved |= moved;
            }
          }
        }
        if (!improved)
          break;
      }
      sol.simulations += used - 1;
      if (spent)
        sol.search = "local-budget";
      consider(cur);
    }
  }
  if (!best)
    return fail("no cut into " + std::to_string(cx.K) +
                " stages fits the memory budget of " +
                std::to_string((int64_t)problem.memoryBudget) +
                " bytes per rank (" + std::to_string(sol.overBudget) +
                " cuts simulated); raise memory-budget or use more ranks");
  sol.best = *best;
  return sol;
}

std::optional<StepTimeSolution>
dualpipe::solveStepTimeBruteForce(const StepTimeProblem &problem) {
  Context cx(problem);
  if (checkProblem(cx) || cx.prepare())
    return std::nullopt;
  StepTimeSolution sol;
  sol.search = "brute-force";
  std::optional<StepTimeEval> best;
  cx.enumerate([&](const std::vector<int64_t> &b) {
    ++sol.candidates;
    ++sol.simulations;
    StepTimeEval e = cx.evaluate(b);
    if (cx.fits(e) && (!best || better(e, *best)))
      best = e;
    return true;
  });
  if (!best)
    return std::nullopt;
  sol.best = *best;
  return sol;
}
