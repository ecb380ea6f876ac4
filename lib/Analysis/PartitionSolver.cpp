//===- PartitionSolver.cpp - optimal contiguous stage cuts ---------------===//
//
// Linear placement: the classic O(K n^2) dynamic program over (stages, end).
//
// Nested placement (rank r runs stages r and K-1-r): the stages sharing a
// rank are not adjacent, so a state is the pair of boundaries (l, r) left
// open after peeling the outer pairs: stages 0..p-1 cover [0, l) and stages
// K-p..K-1 cover [r, n). Peeling pair p moves l forward and r backward and
// costs the weight removed, (P[l'] - P[l]) + (P[r] - P[r']). Whether every
// pair fits a budget L is decided in O(n^2) per pair with running maxima
// over the rectangle of predecessors; the least L is found by bisection on
// the integer costs, then a second pass minimizes the bytes crossing the
// cuts among the partitions that meet it.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Analysis/PartitionSolver.h"

#include <algorithm>
#include <cassert>
#include <functional>
#include <limits>

using namespace dualpipe;

namespace {

constexpr int64_t kInf = std::numeric_limits<int64_t>::max() / 4;
constexpr int64_t kNeg = std::numeric_limits<int64_t>::min() / 4;

/// Work allowed for the exact tie-break of the nested placement, in visited
/// predecessor states; beyond it a greedy tie-break is used.
constexpr int64_t kTieBreakBudget = 400'000'000;

/// Prefix sums and the segments between mandatory cuts.
struct Prepared {
  const PartitionProblem &pb;
  int64_t n, K;
  std::vector<int64_t> P;
  /// mand[c]: boundary c must be a cut; 0 and n always are.
  std::vector<char> mand;
  /// segStart[j] (1 <= j <= n): the largest mandatory boundary < j.
  /// segEnd[j] (0 <= j < n): the smallest mandatory boundary > j.
  std::vector<int64_t> segStart, segEnd;
  /// mandCount[i]: mandatory boundaries c with 1 <= c <= i, c < n.
  std::vector<int64_t> mandCount;

  explicit Prepared(const PartitionProblem &pb)
      : pb(pb), n(pb.unitCost.size()), K(pb.numStages) {
    P.assign(n + 1, 0);
    for (int64_t i = 0; i < n; ++i)
      P[i + 1] = P[i] + pb.unitCost[i];
    mand.assign(n + 1, 0);
    for (int64_t c = 1; c < n && c < (int64_t)pb.mandatory.size(); ++c)
      mand[c] = pb.mandatory[c];
    mand[0] = mand[n] = 1;
    segStart.assign(n + 1, 0);
    for (int64_t j = 1; j <= n; ++j)
      segStart[j] = mand[j - 1] ? j - 1 : segStart[j - 1];
    segEnd.assign(n + 1, n);
    for (int64_t j = n - 1; j >= 0; --j)
      segEnd[j] = mand[j + 1] ? j + 1 : segEnd[j + 1];
    mandCount.assign(n + 1, 0);
    for (int64_t i = 1; i <= n; ++i)
      mandCount[i] = mandCount[i - 1] + (i < n && mand[i] ? 1 : 0);
  }

  int64_t w(int64_t a, int64_t b) const { return P[b] - P[a]; }
  int64_t cut(int64_t c) const {
    return c > 0 && c < n && c < (int64_t)pb.cutBytes.size() ? pb.cutBytes[c]
                                                             : 0;
  }
  /// Mandatory boundaries strictly inside (l, r).
  int64_t mandInside(int64_t l, int64_t r) const {
    return r - 1 > l ? mandCount[r - 1] - mandCount[l] : 0;
  }
  int64_t numMandatory() const { return mandCount[n > 0 ? n - 1 : 0]; }
};

/// Range minimum of cutBytes with its position (sparse table).
struct CutArgMin {
  std::vector<std::vector<int64_t>> table; // positions
  const Prepared &pr;
  explicit CutArgMin(const Prepared &pr) : pr(pr) {
    int64_t n = pr.n + 1;
    table.push_back(std::vector<int64_t>(n));
    for (int64_t i = 0; i < n; ++i)
      table[0][i] = i;
    for (int64_t k = 1; (int64_t(1) << k) <= n; ++k) {
      const auto &prev = table[k - 1];
      std::vector<int64_t> cur(n - (int64_t(1) << k) + 1);
      for (size_t i = 0; i < cur.size(); ++i) {
        int64_t a = prev[i], b = prev[i + (int64_t(1) << (k - 1))];
        cur[i] = pr.cut(b) < pr.cut(a) ? b : a;
      }
      table.push_back(std::move(cur));
    }
  }
  /// Position of the least cut in [a, b] (the leftmost on ties).
  int64_t query(int64_t a, int64_t b) const {
    int64_t k = 63 - __builtin_clzll(uint64_t(b - a + 1));
    int64_t x = table[k][a], y = table[k][b - (int64_t(1) << k) + 1];
    if (pr.cut(y) < pr.cut(x) || (pr.cut(y) == pr.cut(x) && y < x))
      return y;
    return x;
  }
};

//===----------------------------------------------------------------------===//
// Linear
//===----------------------------------------------------------------------===//

PartitionSolution solveLinear(const Prepared &pr) {
  int64_t n = pr.n, K = pr.K;
  auto idx = [&](int64_t k, int64_t j) { return k * (n + 1) + j; };
  std::vector<int64_t> f((K + 1) * (n + 1), kInf);
  f[idx(0, 0)] = 0;
  for (int64_t k = 1; k <= K; ++k)
    for (int64_t j = k; j <= n - (K - k); ++j) {
      int64_t best = kInf;
      for (int64_t i = std::max(k - 1, pr.segStart[j]); i < j; ++i) {
        int64_t prev = f[idx(k - 1, i)];
        if (prev < kInf)
          best = std::min(best, std::max(prev, pr.w(i, j)));
      }
      f[idx(k, j)] = best;
    }
  int64_t L = f[idx(K, n)];
  assert(L < kInf && "a feasible problem has a partition");

  // Least bytes among the partitions whose every stage fits L.
  std::vector<int64_t> g((K + 1) * (n + 1), kInf), from((K + 1) * (n + 1), -1);
  g[idx(0, 0)] = 0;
  for (int64_t k = 1; k <= K; ++k)
    for (int64_t j = k; j <= n - (K - k); ++j)
      for (int64_t i = std::max(k - 1, pr.segStart[j]); i < j; ++i) {
        int64_t prev = g[idx(k - 1, i)];
        if (prev >= kInf || pr.w(i, j) > L)
          continue;
        int64_t v = prev + (j < n ? pr.cut(j) : 0);
        if (v < g[idx(k, j)]) {
          g[idx(k, j)] = v;
          from[idx(k, j)] = i;
        }
      }
  PartitionSolution sol;
  sol.bounds.assign(K + 1, 0);
  sol.bounds[K] = n;
  for (int64_t k = K, j = n; k > 0; --k) {
    j = from[idx(k, j)];
    sol.bounds[k - 1] = j;
  }
  sol.maxRankLoad = L;
  sol.totalCutBytes = g[idx(K, n)];
  return sol;
}

//===----------------------------------------------------------------------===//
// Nested pairs
//===----------------------------------------------------------------------===//

/// One bit per state (l, r): (n+1)^2 bits per level.
class BitGrid {
public:
  BitGrid() = default;
  explicit BitGrid(int64_t size) : words((size + 63) / 64, 0) {}
  bool operator[](int64_t i) const { return words[i >> 6] >> (i & 63) & 1; }
  void set(int64_t i) { words[i >> 6] |= uint64_t(1) << (i & 63); }
  void reset(int64_t i) { words[i >> 6] &= ~(uint64_t(1) << (i & 63)); }

private:
  std::vector<uint64_t> words;
};

class NestedSolver {
public:
  explicit NestedSolver(const Prepared &pr)
      : pr(pr), n(pr.n), K(pr.K), T(K % 2 == 0 ? K / 2 - 1 : (K - 1) / 2),
        argMin(pr) {}

  PartitionSolution solve() {
    // Every unit is in some pair; the first and the last share pair 0.
    int64_t total = pr.P[n], halves = (K + 1) / 2;
    int64_t bound = (total + halves - 1) / halves;
    for (int64_t c : pr.pb.unitCost)
      bound = std::max(bound, c);
    bound = std::max(bound, K == 1 ? 2 * total
                                   : pr.pb.unitCost.front() +
                                         pr.pb.unitCost.back());
    // Gallop up from the bound (tight budgets visit few states), then bisect.
    int64_t lo = bound - 1, hi = bound, step = std::max<int64_t>(1, bound / 1024);
    while (!forward(hi)) {
      lo = hi;
      hi = std::min(2 * total, hi + step);
      step *= 2;
    }
    while (hi - lo > 1) {
      int64_t mid = lo + (hi - lo) / 2;
      if (forward(mid))
        hi = mid;
      else
        lo = mid;
    }
    L = hi;
    forward(L);
    backward();
    PartitionSolution sol;
    if (!tieBreak(sol))
      greedy(sol);
    sol.maxRankLoad = maxRankLoad(pr.pb, sol.bounds);
    sol.totalCutBytes = totalCutBytes(pr.pb, sol.bounds);
    return sol;
  }

private:
  const Prepared &pr;
  int64_t n, K, T;
  CutArgMin argMin;
  int64_t L = 0;
  /// reach[p][id]: (l, r) can be reached after p pairs with every pair <= L;
  /// alive[p][id]: and the remaining stages can still be placed within L.
  std::vector<BitGrid> reach, alive;
  /// Per level and row, the range of r that forward() may have marked.
  std::vector<std::vector<int64_t>> bandLo, bandHi;
  std::vector<int64_t> colMax, colSeg;

  int64_t id(int64_t l, int64_t r) const { return l * (n + 1) + r; }
  /// Progress of state (l, r) up to a constant: the weight peeled so far.
  int64_t u(int64_t l, int64_t r) const { return pr.P[l] - pr.P[r]; }

  /// The innermost part: one pair split at a point inside (K even) or one
  /// stage counted twice (K odd).
  bool finalOk(int64_t l, int64_t r) const {
    if (K % 2 == 0)
      return r - l >= 2 && pr.mandInside(l, r) <= 1 && pr.w(l, r) <= L;
    return r - l >= 1 && pr.mandInside(l, r) == 0 && 2 * pr.w(l, r) <= L;
  }

  /// Fills reach for budget `budget`; true if some partition fits it.
  /// Only the band of states that can still lead to a partition within the
  /// budget is visited: after p pairs the weight peeled off is at most p
  /// budgets and the weight left fits the pairs still to come.
  bool forward(int64_t budget) {
    L = budget;
    if (reach.empty()) {
      reach.assign(T + 1, BitGrid((n + 1) * (n + 1)));
      bandLo.assign(T + 1, std::vector<int64_t>(n + 1, n + 1));
      bandHi.assign(T + 1, std::vector<int64_t>(n + 1, -1));
      colMax.assign(n + 1, kNeg);
      colSeg.assign(n + 1, -1);
    }
    // Clear what the previous budget left behind.
    for (int64_t p = 0; p <= T; ++p)
      for (int64_t l = 0; l <= n; ++l) {
        for (int64_t r = bandLo[p][l]; r <= bandHi[p][l]; ++r)
          reach[p].reset(id(l, r));
        bandLo[p][l] = n + 1;
        bandHi[p][l] = -1;
      }
    auto mark = [&](int64_t p, int64_t l, int64_t r) {
      reach[p].set(id(l, r));
      bandLo[p][l] = std::min(bandLo[p][l], r);
      bandHi[p][l] = std::max(bandHi[p][l], r);
    };
    mark(0, 0, n);
    int64_t total = pr.P[n];
    for (int64_t p = 0; p < T; ++p) {
      const BitGrid &cur = reach[p];
      int64_t room = std::max<int64_t>(K - 2 * (p + 1), 1);
      // Weight that may stay inside after p+1 pairs.
      int64_t cap = (K / 2 - p - 1) * budget + (K % 2 ? budget / 2 : 0);
      int64_t peelCap = (p + 1) * budget;
      std::fill(colSeg.begin(), colSeg.end(), -1);
      for (int64_t l2 = 1; l2 < n && pr.P[l2] <= peelCap; ++l2) {
        int64_t row = l2 - 1, seg = pr.segStart[l2];
        // Targets of this row: peeled <= peelCap, inside weight <= cap.
        int64_t need = pr.P[l2] + total - peelCap; // P[r2] >= need
        int64_t rLo = std::max<int64_t>(
            l2 + room, std::lower_bound(pr.P.begin(), pr.P.end(), need) -
                           pr.P.begin());
        // rowMax of `row` folded into colMax over [r2+1, segEnd(r2)].
        if (bandHi[p][row] >= 0) {
          int64_t run = kNeg;
          for (int64_t r2 = std::min(n - 1, bandHi[p][row] - 1);
               r2 >= std::max(l2, rLo); --r2) {
            int64_t v = cur[id(row, r2 + 1)] ? u(row, r2 + 1) : kNeg;
            run = pr.mand[r2 + 1] ? v : std::max(run, v);
            if (colSeg[r2] != seg) {
              colSeg[r2] = seg;
              colMax[r2] = run;
            } else {
              colMax[r2] = std::max(colMax[r2], run);
            }
          }
        }
        for (int64_t r2 = rLo; r2 < n && pr.P[r2] - pr.P[l2] <= cap; ++r2)
          if (colSeg[r2] == seg && colMax[r2] > kNeg &&
              colMax[r2] >= u(l2, r2) - budget)
            mark(p + 1, l2, r2);
      }
    }
    for (int64_t l = 0; l < n; ++l)
      for (int64_t r = std::max(l + 1, bandLo[T][l]); r <= bandHi[T][l]; ++r)
        if (reach[T][id(l, r)] && finalOk(l, r))
          return true;
    return false;
  }

  /// Keeps the reachable states from which the partition can be completed.
  void backward() {
    alive.assign(T + 1, BitGrid((n + 1) * (n + 1)));
    for (int64_t l = 0; l < n; ++l)
      for (int64_t r = std::max(l + 1, bandLo[T][l]); r <= bandHi[T][l]; ++r)
        if (reach[T][id(l, r)] && finalOk(l, r))
          alive[T].set(id(l, r));
    std::vector<int64_t> colMin(n + 1, kInf), seen(n + 1, -1);
    for (int64_t p = T - 1; p >= 0; --p) {
      const BitGrid &nxt = alive[p + 1];
      BitGrid &cur = alive[p];
      std::fill(seen.begin(), seen.end(), -1);
      for (int64_t l = n - 2; l >= 0; --l) {
        // Successor rows l2 in [l+1, segEnd(l)]; fold row l+1 into colMin[r],
        // the least U over r2 in [segStart(r), r-1].
        int64_t row = l + 1, seg = pr.segEnd[l];
        if (bandHi[p + 1][row] >= 0) {
          int64_t run = kInf, top = pr.P[bandHi[p + 1][row]] + L;
          for (int64_t r = std::max(row + 1, bandLo[p + 1][row]) + 1;
               r <= n && pr.P[r] <= top; ++r) {
            int64_t r2 = r - 1;
            int64_t v = nxt[id(row, r2)] ? u(row, r2) : kInf;
            run = pr.mand[r2] ? v : std::min(run, v);
            if (seen[r] != seg) {
              seen[r] = seg;
              colMin[r] = run;
            } else {
              colMin[r] = std::min(colMin[r], run);
            }
          }
        }
        for (int64_t r = std::max(l + 2, bandLo[p][l]); r <= bandHi[p][l]; ++r)
          if (reach[p][id(l, r)] && seen[r] == seg && colMin[r] < kInf &&
              colMin[r] <= u(l, r) + L)
            cur.set(id(l, r));
      }
    }
  }

  /// Best split point of the innermost pair (l, r) and its bytes.
  std::pair<int64_t, int64_t> innerSplit(int64_t l, int64_t r) const {
    if (K % 2 == 1)
      return {-1, 0};
    int64_t m = pr.mandInside(l, r) == 1 ? pr.segEnd[l]
                                          : argMin.query(l + 1, r - 1);
    return {m, pr.cut(m)};
  }

  /// The alive states of one level, row by row: row l holds r in
  /// [lo[l], hi[l]], with the least bytes so far and the predecessor.
  struct Level {
    std::vector<int64_t> lo, hi, off, g, from;
    int64_t slot(int64_t l, int64_t r) const {
      return r < lo[l] || r > hi[l] ? -1 : off[l] + r - lo[l];
    }
  };

  Level makeLevel(int64_t p) const {
    Level lv;
    lv.lo.assign(n + 1, n + 1);
    lv.hi.assign(n + 1, -1);
    lv.off.assign(n + 1, 0);
    int64_t size = 0;
    for (int64_t l = 0; l <= n; ++l) {
      for (int64_t r = std::max(l + 1, bandLo[p][l]); r <= bandHi[p][l]; ++r)
        if (alive[p][id(l, r)]) {
          lv.lo[l] = std::min(lv.lo[l], r);
          lv.hi[l] = r;
        }
      lv.off[l] = size;
      if (lv.hi[l] >= 0)
        size += lv.hi[l] - lv.lo[l] + 1;
    }
    lv.g.assign(size, kInf);
    lv.from.assign(size, -1);
    return lv;
  }

  /// Least bytes over the alive states, level by level. False if the search
  /// would exceed the work budget.
  bool tieBreak(PartitionSolution &sol) {
    std::vector<Level> lv;
    for (int64_t p = 0; p <= T; ++p)
      lv.push_back(makeLevel(p));
    lv[0].g[lv[0].slot(0, n)] = 0;
    int64_t work = 0;
    for (int64_t p = 0; p < T; ++p) {
      const Level &src = lv[p];
      Level &dst = lv[p + 1];
      for (int64_t l2 = 1; l2 < n; ++l2)
        for (int64_t r2 = std::max(l2 + 1, dst.lo[l2]); r2 <= dst.hi[l2];
             ++r2) {
          if (!alive[p + 1][id(l2, r2)])
            continue;
          int64_t add = pr.cut(l2) + pr.cut(r2), best = kInf, arg = -1;
          int64_t lFirst = std::max<int64_t>(
              pr.segStart[l2],
              std::lower_bound(pr.P.begin(), pr.P.end(), pr.P[l2] - L) -
                  pr.P.begin());
          for (int64_t l = lFirst; l < l2; ++l) {
            if (src.hi[l] < 0)
              continue;
            int64_t budget = L - pr.w(l, l2);
            int64_t rLast = std::min(pr.segEnd[r2], src.hi[l]);
            for (int64_t r = std::max(r2 + 1, src.lo[l]); r <= rLast; ++r) {
              if (pr.w(r2, r) > budget)
                break;
              ++work;
              int64_t g = src.g[src.slot(l, r)];
              if (g < kInf && g + add < best) {
                best = g + add;
                arg = id(l, r);
              }
            }
          }
          int64_t s2 = dst.slot(l2, r2);
          dst.g[s2] = best;
          dst.from[s2] = arg;
          if (work > kTieBreakBudget)
            return false;
        }
    }
    int64_t best = kInf, bestId = -1;
    for (int64_t l = 0; l < n; ++l)
      for (int64_t r = std::max(l + 1, lv[T].lo[l]); r <= lv[T].hi[l]; ++r) {
        if (!alive[T][id(l, r)])
          continue;
        int64_t g = lv[T].g[lv[T].slot(l, r)];
        if (g >= kInf)
          continue;
        int64_t v = g + innerSplit(l, r).second;
        if (v < best) {
          best = v;
          bestId = id(l, r);
        }
      }
    assert(bestId >= 0 && "an alive final state exists");
    std::vector<int64_t> left, right;
    for (int64_t p = T, cur = bestId; p >= 0; --p) {
      int64_t l = cur / (n + 1), r = cur % (n + 1);
      left.push_back(l);
      right.push_back(r);
      if (p > 0)
        cur = lv[p].from[lv[p].slot(l, r)];
    }
    assemble(sol, left, right);
    return true;
  }

  /// Any partition of least max load, choosing the cheapest cuts pair by pair.
  void greedy(PartitionSolution &sol) {
    sol.tieBreakExact = false;
    std::vector<int64_t> left{0}, right{n};
    int64_t l = 0, r = n;
    for (int64_t p = 0; p < T; ++p) {
      int64_t best = kInf, bl = -1, br = -1;
      for (int64_t l2 = l + 1; l2 <= pr.segEnd[l]; ++l2)
        for (int64_t r2 = std::max(pr.segStart[r], l2 + 1); r2 < r; ++r2)
          if (alive[p + 1][id(l2, r2)] && u(l2, r2) - u(l, r) <= L &&
              pr.cut(l2) + pr.cut(r2) < best) {
            best = pr.cut(l2) + pr.cut(r2);
            bl = l2;
            br = r2;
          }
      assert(bl >= 0 && "an alive state has an alive successor");
      l = bl;
      r = br;
      left.push_back(l);
      right.push_back(r);
    }
    std::reverse(left.begin(), left.end());
    std::reverse(right.begin(), right.end());
    assemble(sol, left, right);
  }

  /// Boundaries from the outer pairs' (l, r), innermost first.
  void assemble(PartitionSolution &sol, std::vector<int64_t> left,
                std::vector<int64_t> right) {
    std::reverse(left.begin(), left.end());
    std::reverse(right.begin(), right.end());
    // left[p], right[p]: boundaries after p pairs, p = 0..T.
    sol.bounds.clear();
    for (int64_t b : left)
      sol.bounds.push_back(b);
    if (K % 2 == 0)
      sol.bounds.push_back(innerSplit(left[T], right[T]).first);
    for (int64_t p = T; p >= 0; --p)
      sol.bounds.push_back(right[p]);
  }
};

/// Checks what makes every partition impossible.
bool feasible(const Prepared &pr, std::string *whyNot) {
  auto fail = [&](const std::string &msg) {
    if (whyNot)
      *whyNot = msg;
    return false;
  };
  if (pr.K < 1)
    return fail("the number of stages must be at least 1");
  if (pr.n < pr.K)
    return fail(std::to_string(pr.K) + " stages need at least " +
                std::to_string(pr.K) + " ops to cut between, but there are " +
                std::to_string(pr.n));
  if (pr.numMandatory() > pr.K - 1)
    return fail(std::to_string(pr.numMandatory()) +
                " mandatory cuts make more than " + std::to_string(pr.K) +
                " stages");
  for (int64_t c : pr.pb.unitCost)
    if (c < 0)
      return fail("unit costs must be non-negative");
  return true;
}

} // namespace

std::optional<PartitionSolution>
dualpipe::solvePartition(const PartitionProblem &problem, std::string *whyNot) {
  Prepared pr(problem);
  if (!feasible(pr, whyNot))
    return std::nullopt;
  if (problem.pairing == Pairing::Linear)
    return solveLinear(pr);
  return NestedSolver(pr).solve();
}

std::optional<PartitionSolution>
dualpipe::solvePartitionBruteForce(const PartitionProblem &problem) {
  Prepared pr(problem);
  if (!feasible(pr, nullptr))
    return std::nullopt;
  std::optional<PartitionSolution> best;
  std::vector<int64_t> bounds{0};
  std::function<void(int64_t)> rec = [&](int64_t next) {
    if ((int64_t)bounds.size() == pr.K) {
      for (int64_t c = next; c < pr.n; ++c)
        if (pr.mand[c])
          return;
      bounds.push_back(pr.n);
      int64_t load = maxRankLoad(problem, bounds);
      int64_t bytes = totalCutBytes(problem, bounds);
      if (!best || load < best->maxRankLoad ||
          (load == best->maxRankLoad && bytes < best->totalCutBytes)) {
        best = PartitionSolution{bounds, load, bytes, true};
      }
      bounds.pop_back();
      return;
    }
    for (int64_t c = next; c < pr.n; ++c) {
      bounds.push_back(c);
      rec(c + 1);
      bounds.pop_back();
      if (pr.mand[c]) // skipping a mandatory cut is not allowed
        break;
    }
  };
  rec(1);
  return best;
}

std::vector<int64_t> dualpipe::stageLoads(const PartitionProblem &problem,
                                          const std::vector<int64_t> &bounds) {
  std::vector<int64_t> loads;
  for (size_t s = 0; s + 1 < bounds.size(); ++s) {
    int64_t sum = 0;
    for (int64_t i = bounds[s]; i < bounds[s + 1]; ++i)
      sum += problem.unitCost[i];
    loads.push_back(sum);
  }
  return loads;
}

std::vector<int64_t> dualpipe::pairLoads(const PartitionProblem &problem,
                                         const std::vector<int64_t> &bounds) {
  std::vector<int64_t> stage = stageLoads(problem, bounds);
  if (problem.pairing == Pairing::Linear)
    return stage;
  int64_t K = stage.size();
  std::vector<int64_t> pairs;
  for (int64_t p = 0; p < (K + 1) / 2; ++p)
    pairs.push_back(stage[p] + stage[K - 1 - p]);
  return pairs;
}

int64_t dualpipe::maxRankLoad(const PartitionProblem &problem,
                              const std::vector<int64_t> &bounds) {
  std::vector<int64_t> loads = pairLoads(problem, bounds);
  return loads.empty() ? 0 : *std::max_element(loads.begin(), loads.end());
}

int64_t dualpipe::totalCutBytes(const PartitionProblem &problem,
                                const std::vector<int64_t> &bounds) {
  int64_t n = problem.unitCost.size(), sum = 0;
  for (size_t s = 1; s + 1 < bounds.size(); ++s)
    if (bounds[s] > 0 && bounds[s] < n &&
        bounds[s] < (int64_t)problem.cutBytes.size())
      sum += problem.cutBytes[bounds[s]];
  return sum;
}
