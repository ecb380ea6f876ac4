//===- Generators.cpp - GPipe, 1F1B, interleaved, ZB-H1, ZB-V, DualPipe ---===//
//
// The DualPipe and DualPipeV generators transcribe the step tables of
// docs/schedules/contract.md (DeepSeek's published algorithm) literally; the
// others follow their papers / reference implementations as that page says.
//
//===----------------------------------------------------------------------===//

#include "dualpipe/Schedule/Generators.h"

#include <algorithm>
#include <deque>

namespace dualpipe::sched {

namespace {

std::string str(int v) { return std::to_string(v); }

/// Rank-local state of one chunk: which stage it computes and how far its
/// forward and backward counters have run (docs/schedules/contract.md:
/// "each chunk has its own two counters").
struct Chunk {
  int stage = 0;
  int mbBase = 0; ///< First micro-batch of the chunk's pipeline.
  int nextF = 0;
  int nextB = 0;
};

/// Emits actions of one rank while tracking the FIFO of deferred weight
/// work ("W always runs the oldest pending deferred work on that rank").
class RankEmitter {
public:
  explicit RankEmitter(std::vector<Action> &out) : out_(out) {}

  void f(Chunk &c) { out_.push_back(Action::forward(c.stage, c.mbBase + c.nextF++)); }
  void b(Chunk &c) { out_.push_back(Action::backward(c.stage, c.mbBase + c.nextB++)); }
  void i(Chunk &c) {
    int mb = c.mbBase + c.nextB++;
    out_.push_back(Action::backwardInput(c.stage, mb));
    pendingW_.push_back({c.stage, mb});
  }
  void w() {
    assert(!pendingW_.empty() && "W with no pending deferred work");
    auto [s, mb] = pendingW_.front();
    pendingW_.pop_front();
    out_.push_back(Action::backwardWeight(s, mb));
  }
  /// pair(F of `fc`, B of `bc`).
  void pair(Chunk &fc, Chunk &bc) {
    int fmb = fc.mbBase + fc.nextF++;
    int bmb = bc.mbBase + bc.nextB++;
    out_.push_back(Action::pair(fc.stage, fmb, bc.stage, bmb));
  }
  bool hasPendingW() const { return !pendingW_.empty(); }

private:
  std::vector<Action> &out_;
  std::deque<std::pair<int, int>> pendingW_;
};

/// The eight steps shared by DualPipe and DualPipeV
/// (docs/schedules/contract.md, "DualPipe step table"). `rep` holds the
/// repeat count of each step, `firstPairSplit` says whether step 4's first
/// pair(F near, B far) is issued as F near then B far, unoverlapped (middle
/// ranks of DualPipe, last rank of DualPipeV).
void emitDualSteps(std::vector<Action> &out, Chunk &nearC, Chunk &farC,
                   const int rep[8], bool firstPairSplit) {
  RankEmitter e(out);
  // Step 1: F near.
  for (int k = 0; k < rep[0]; ++k)
    e.f(nearC);
  // Step 2: F near; F far.
  for (int k = 0; k < rep[1]; ++k) {
    e.f(nearC);
    e.f(farC);
  }
  // Step 3: I far; W; F far.
  for (int k = 0; k < rep[2]; ++k) {
    e.i(farC);
    e.w();
    e.f(farC);
  }
  // Step 4: pair(F near, B far); pair(F far, B near).
  for (int k = 0; k < rep[3]; ++k) {
    if (k == 0 && firstPairSplit) {
      e.f(nearC);
      e.b(farC);
    } else {
      e.pair(nearC, farC);
    }
    e.pair(farC, nearC);
  }
  // Step 5: B far; pair(F far, B near).
  for (int k = 0; k < rep[4]; ++k) {
    e.b(farC);
    e.pair(farC, nearC);
  }
  // Step 6: B far; B near. The first rep[5] backwards are B, the rest I.
  int backwards = 0;
  for (int k = 0; k < rep[5]; ++k) {
    for (Chunk *c : {&farC, &nearC}) {
      if (backwards++ < rep[5])
        e.b(*c);
      else
        e.i(*c);
    }
  }
  // Step 7: W; I near.
  for (int k = 0; k < rep[6]; ++k) {
    e.w();
    e.i(nearC);
  }
  // Step 8: W.
  for (int k = 0; k < rep[7]; ++k)
    e.w();
  assert(!e.hasPendingW() && "every I must get its W");
}

Schedule skeleton(const ScheduleConfig &cfg) {
  Expected<Placement> pl = placementFor(cfg.kind, cfg.numRanks,
                                        cfg.numMicrobatches, cfg.chunks);
  assert(pl.ok());
  Schedule s;
  s.kind = cfg.kind;
  s.numRanks = cfg.numRanks;
  s.numMicrobatches = cfg.numMicrobatches;
  s.numStages = pl->numStages;
  s.chunksPerRank = pl->chunksPerRank;
  s.stageToRank = pl->stageToRank;
  s.pipelines = pl->pipelines;
  s.ranks.resize(cfg.numRanks);
  return s;
}

Schedule generateDualPipe(const ScheduleConfig &cfg) {
  Schedule s = skeleton(cfg);
  const int n = cfg.numRanks, m = cfg.numMicrobatches, p = n / 2;
  for (int r = 0; r < n; ++r) {
    const int h = std::min(r, n - 1 - r);
    Chunk c0{r, 0}, c1{2 * n - 1 - r, m / 2};
    Chunk &nearC = r < p ? c0 : c1;
    Chunk &farC = r < p ? c1 : c0;
    const int rep[8] = {2 * (p - h - 1), h + 1, p - h - 1, m / 2 - n + h + 1,
                        p - h - 1,       h + 1, p - h - 1, h + 1};
    const bool middle = r == p - 1 || r == p;
    emitDualSteps(s.ranks[r], nearC, farC, rep, middle);
  }
  return s;
}

Schedule generateDualPipeV(const ScheduleConfig &cfg) {
  Schedule s = skeleton(cfg);
  const int n = cfg.numRanks, m = cfg.numMicrobatches;
  for (int r = 0; r < n; ++r) {
    Chunk nearC{r, 0}, farC{2 * n - 1 - r, 0};
    const int rep[8] = {2 * (n - r - 1), r + 1, n - r - 1, m - 2 * n + r + 1,
                        n - r - 1,       r + 1, n - r - 1, r + 1};
    emitDualSteps(s.ranks[r], nearC, farC, rep, r == n - 1);
  }
  return s;
}

Schedule generateGPipe(const ScheduleConfig &cfg) {
  Schedule s = skeleton(cfg);
  for (int r = 0; r < cfg.numRanks; ++r) {
    for (int mb = 0; mb < cfg.numMicrobatches; ++mb)
      s.ranks[r].push_back(Action::forward(r, mb));
    for (int mb = 0; mb < cfg.numMicrobatches; ++mb)
      s.ranks[r].push_back(Action::backward(r, mb));
  }
  return s;
}

/// 1F1B (PipeDream-flush) and ZB-H1. ZB-H1 splits every backward into I and
/// W; rank r holds back its first r W's (as torch.distributed.pipelining's
/// zero-bubble 1F1B does) and issues one W after every later I, so the held
/// W's fill the drain.
Schedule generateOneFOneB(const ScheduleConfig &cfg, bool zeroBubble) {
  Schedule s = skeleton(cfg);
  const int n = cfg.numRanks, m = cfg.numMicrobatches;
  for (int r = 0; r < n; ++r) {
    auto &out = s.ranks[r];
    const int warmup = std::min(n - r - 1, m);
    int nextF = 0, nextB = 0, nextW = 0;
    auto backward = [&](int op) {
      if (!zeroBubble) {
        out.push_back(Action::backward(r, nextB++));
        return;
      }
      out.push_back(Action::backwardInput(r, nextB++));
      if (op - warmup >= r)
        out.push_back(Action::backwardWeight(r, nextW++));
    };
    for (int op = 0; op < m + warmup; ++op) {
      if (op < warmup) {
        out.push_back(Action::forward(r, nextF++));
      } else if (op < m) {
        out.push_back(Action::forward(r, nextF++));
        backward(op);
      } else {
        backward(op);
      }
    }
    while (zeroBubble && nextW < m)
      out.push_back(Action::backwardWeight(r, nextW++));
  }
  return s;
}

/// The rounds of the interleaved schedules: micro-batches are taken in
/// rounds, each round running chunk 0 on all its micro-batches, then chunk
/// 1, ... (backwards: chunk v-1 first). As torch.distributed.pipelining's
/// flexible interleaving: R = max(1, M / N) rounds of M / R micro-batches;
/// when R does not divide M (which torch refuses) the first M % R rounds
/// take one more.
struct Rounds {
  std::vector<int> first, size; ///< Per round: first micro-batch, count.
  Rounds(int n, int m) {
    const int r = std::max(1, m / n);
    for (int g = 0, at = 0; g < r; ++g) {
      int sz = m / r + (g < m % r ? 1 : 0);
      first.push_back(at);
      size.push_back(sz);
      at += sz;
    }
  }
};

/// Stage and micro-batch of the k-th forward (or backward) of rank r in the
/// round order.
std::vector<std::pair<int, int>> roundOrder(const Rounds &rounds, int n, int v, int r,
                                            bool backward) {
  std::vector<std::pair<int, int>> out;
  for (size_t g = 0; g < rounds.size.size(); ++g)
    for (int c = 0; c < v; ++c) {
      int chunk = backward ? v - 1 - c : c;
      for (int j = 0; j < rounds.size[g]; ++j)
        out.push_back({chunk * n + r, rounds.first[g] + j});
    }
  return out;
}

/// Interleaved 1F1B (Megatron-LM; torch.distributed.pipelining's
/// ScheduleInterleaved1F1B) and interleaved ZB1P (torch's
/// ScheduleInterleavedZeroBubble). Rank r warms up with (v-1) * (first
/// round's size) + f * (N-1-r) forwards (f = 2, or 1 for zero bubble),
/// capped at M * v, then alternates one forward and one backward, then
/// drains the backwards. With zero bubble every backward is an I; rank r
/// holds back its first r W's and issues one W, of the oldest pending I,
/// after every later I, then the rest at the end.
Schedule generateInterleavedFamily(const ScheduleConfig &cfg, bool zeroBubble) {
  Schedule s = skeleton(cfg);
  const int n = cfg.numRanks, m = cfg.numMicrobatches, v = cfg.chunks;
  const int total = m * v;
  const Rounds rounds(n, m);
  for (int r = 0; r < n; ++r) {
    auto &out = s.ranks[r];
    const auto fwd = roundOrder(rounds, n, v, r, false);
    const auto bwd = roundOrder(rounds, n, v, r, true);
    const int warmup =
        std::min(total, (v - 1) * rounds.size[0] + (zeroBubble ? 1 : 2) * (n - 1 - r));
    int nextF = 0, nextB = 0;
    std::deque<std::pair<int, int>> pendingW;
    auto backward = [&](int op) {
      auto [st, mb] = bwd[nextB++];
      if (!zeroBubble) {
        out.push_back(Action::backward(st, mb));
        return;
      }
      out.push_back(Action::backwardInput(st, mb));
      pendingW.push_back({st, mb});
      if (op - warmup >= r) {
        out.push_back(Action::backwardWeight(pendingW.front().first,
                                             pendingW.front().second));
        pendingW.pop_front();
      }
    };
    for (int op = 0; op < total + warmup; ++op) {
      if (op < total) {
        out.push_back(Action::forward(fwd[nextF].first, fwd[nextF].second));
        ++nextF;
      }
      if (op >= warmup)
        backward(op);
    }
    for (auto [st, mb] : pendingW)
      out.push_back(Action::backwardWeight(st, mb));
  }
  return s;
}

/// Breadth-first pipeline parallelism (Lamy-Poirier, "Breadth-First
/// Pipeline Parallelism"), as torch's ScheduleLoopedBFS: each rank runs
/// every micro-batch through its chunk 0, then chunk 1, ...; then the
/// backwards, last chunk first and last micro-batch first.
Schedule generateLoopedBFS(const ScheduleConfig &cfg) {
  Schedule s = skeleton(cfg);
  const int n = cfg.numRanks, m = cfg.numMicrobatches, v = cfg.chunks;
  for (int r = 0; r < n; ++r) {
    for (int c = 0; c < v; ++c)
      for (int mb = 0; mb < m; ++mb)
        s.ranks[r].push_back(Action::forward(c * n + r, mb));
    for (int c = v - 1; c >= 0; --c)
      for (int mb = m - 1; mb >= 0; --mb)
        s.ranks[r].push_back(Action::backward(c * n + r, mb));
  }
  return s;
}

/// ZB-V (Qi et al., "Pipeline Parallelism with Controllable Memory", the V
/// schedule of "Zero Bubble Pipeline Parallelism" section 6), in the form
/// torch.distributed.pipelining's ScheduleZBVZeroBubble builds it: warm-up
/// of 2(N-r)-1 chunk-0 forwards, r (F1, F0) pairs, N-r (F1, I1, W1); a
/// steady phase of (F0, I0, W0, F1, I1, W1); a cool-down of r (I0, I1) and
/// N-r (I0, W0), then the remaining W's. The phases are computed for
/// max(M, 2N-1) micro-batches and actions on micro-batches >= M dropped.
Schedule generateZBV(const ScheduleConfig &cfg) {
  Schedule s = skeleton(cfg);
  const int n = cfg.numRanks, m = cfg.numMicrobatches;
  const int nMicro = std::max(2 * n - 1, m);
  for (int r = 0; r < n; ++r) {
    std::vector<Action> ops;
    const int s0 = r, s1 = 2 * n - 1 - r;
    int f0 = 0, f1 = 0, b0 = 0, b1 = 0;
    for (int k = 0; k < 2 * (n - r) - 1; ++k)
      ops.push_back(Action::forward(s0, f0++));
    for (int k = 0; k < r; ++k) {
      ops.push_back(Action::forward(s1, f1++));
      ops.push_back(Action::forward(s0, f0++));
    }
    for (int k = 0; k < n - r; ++k) {
      ops.push_back(Action::forward(s1, f1++));
      ops.push_back(Action::backwardInput(s1, b1));
      ops.push_back(Action::backwardWeight(s1, b1++));
    }
    while (f1 < f0 || f0 < nMicro) {
      if (f0 < nMicro)
        ops.push_back(Action::forward(s0, f0++));
      ops.push_back(Action::backwardInput(s0, b0));
      ops.push_back(Action::backwardWeight(s0, b0++));
      ops.push_back(Action::forward(s1, f1++));
      ops.push_back(Action::backwardInput(s1, b1));
      ops.push_back(Action::backwardWeight(s1, b1++));
    }
    int w0 = b0, w1 = b1;
    for (int k = 0; k < r; ++k) {
      ops.push_back(Action::backwardInput(s0, b0++));
      ops.push_back(Action::backwardInput(s1, b1++));
    }
    for (int k = 0; k < n - r; ++k) {
      ops.push_back(Action::backwardInput(s0, b0++));
      ops.push_back(Action::backwardWeight(s0, w0++));
    }
    while (w1 < b1)
      ops.push_back(Action::backwardWeight(s1, w1++));
    while (w0 < b0)
      ops.push_back(Action::backwardWeight(s0, w0++));
    for (const Action &a : ops)
      if (a.microbatch < m)
        s.ranks[r].push_back(a);
  }
  return s;
}

/// The building blocks of V-Min and V-Half (Qi et al., "Pipeline
/// Parallelism with Controllable Memory", and sail-sg's zero-bubble
/// scheduler): in unit time slots (F = I = W = 1 per chunk), micro-batch k
/// runs pass p of rank r at offset(r, p) + 6k, where the passes are F of
/// chunk 0, F of chunk 1, I of chunk 1, I of chunk 0. A micro-batch's life
/// on rank 0 (F of chunk 0 to I of chunk 0) spans about 4N slots in V-Min
/// and 6N in V-Half, so about 4N/6 (V-Min) or N (V-Half) chunk activations
/// are live at once: 1/3 and 1/2 of 1F1B's N stage activations.
enum VPass { F0 = 0, F1 = 1, I1 = 2, I0 = 3 };

int vOffset(ScheduleKind kind, int n, int r, int pass) {
  if (kind == ScheduleKind::VMin) {
    const int gap = n % 3 == 0 ? 2 : 0;
    const int o[4] = {r, 2 * n - 1 - r, 2 * n + gap + r, 4 * n + gap - 1 - r};
    return o[pass];
  }
  const int gap = n % 2 == 0 ? 3 : 0;
  const int o[4] = {2 * r, 3 * n - 2 - r, 3 * n + gap + 2 * r - 1, 6 * n + gap - r - 2};
  return o[pass];
}

std::optional<Error> checkVShapeConfig(const ScheduleConfig &cfg) {
  // The four passes of a rank must fall in distinct slots of the period.
  for (int r = 0; r < cfg.numRanks; ++r) {
    bool used[6] = {};
    for (int p = 0; p < 4; ++p) {
      int slot = vOffset(cfg.kind, cfg.numRanks, r, p) % 6;
      if (used[slot])
        return Error{std::string(scheduleTitle(cfg.kind)) + "'s building block has no " +
                     "slot for every pass on rank " + str(r) + " of N=" +
                     str(cfg.numRanks)};
      used[slot] = true;
    }
  }
  return std::nullopt;
}

/// The slots of the V-shape passes while generateVShape moves them:
/// slot[r][p][k]; busy[r][t] = 1 when taken (0 = free); mem[r][t], the live
/// activations of rank r at slot t; cap, the building block's peak.
struct VSlots {
  int n, m, horizon;
  std::vector<std::vector<std::vector<int>>> slot;
  std::vector<std::vector<int>> busy, mem;
  int cap = 0;
};

/// Pass p of micro-batch k on rank r, at slot t.
struct VItem {
  int t, r, p, k;
};

/// Step 1: every pass at its building-block slot; returns the passes in
/// increasing slot order (ties by rank, then pass).
std::vector<VItem> placeBuildingBlocks(const ScheduleConfig &cfg, VSlots &v) {
  const int n = v.n, m = v.m;
  v.slot.assign(n, std::vector<std::vector<int>>(4, std::vector<int>(m)));
  v.busy.assign(n, std::vector<int>(v.horizon, 0));
  std::vector<VItem> items;
  for (int r = 0; r < n; ++r)
    for (int p = 0; p < 4; ++p)
      for (int k = 0; k < m; ++k) {
        int t = vOffset(cfg.kind, n, r, p) + 6 * k;
        v.slot[r][p][k] = t;
        v.busy[r][t] = 1;
        items.push_back({t, r, p, k});
      }
  std::sort(items.begin(), items.end(), [](const VItem &a, const VItem &b) {
    return a.t != b.t ? a.t < b.t : a.r != b.r ? a.r < b.r : a.p < b.p;
  });
  return items;
}

/// The live activations of each rank at each slot, and their peak (`cap`).
void computeLiveProfiles(VSlots &v) {
  const int horizon = v.horizon;
  auto profile = [&](int r) {
    std::vector<int> mem(horizon, 0);
    std::vector<int> delta(horizon + 1, 0);
    for (int p = 0; p < 4; ++p)
      for (int k = 0; k < v.m; ++k)
        delta[v.slot[r][p][k]] += (p == F0 || p == F1) ? 1 : -1;
    int live = 0;
    for (int t = 0; t < horizon; ++t)
      mem[t] = live += delta[t];
    return mem;
  };
  v.mem.assign(v.n, {});
  v.cap = 0;
  for (int r = 0; r < v.n; ++r) {
    v.mem[r] = profile(r);
    v.cap = std::max(v.cap, *std::max_element(v.mem[r].begin(), v.mem[r].end()));
  }
}

/// The earliest slot pass p of micro-batch k on rank r may take: after the
/// upstream pass of the same micro-batch, its own F for an I, and the same
/// pass of the previous micro-batch.
int readySlot(const VSlots &v, int r, int p, int k) {
  const int n = v.n;
  int ready = 0;
  auto after = [&](int rank, int pass, int mb) {
    ready = std::max(ready, v.slot[rank][pass][mb] + 1);
  };
  if (k > 0)
    after(r, p, k - 1);
  switch (p) {
  case F0:
    if (r > 0)
      after(r - 1, F0, k);
    break;
  case F1:
    if (r < n - 1)
      after(r + 1, F1, k);
    else
      after(r, F0, k);
    break;
  case I1:
    after(r, F1, k);
    if (r > 0)
      after(r - 1, I1, k);
    break;
  case I0:
    after(r, F0, k);
    if (r < n - 1)
      after(r + 1, I0, k);
    else
      after(r, I1, k);
    break;
  }
  return ready;
}

/// Step 2: in `items` order, each pass moves to the earliest free slot of
/// its rank after its inputs, keeping the live activations within `cap`.
void squeeze(VSlots &v, const std::vector<VItem> &items) {
  for (const VItem &it : items) {
    const int r = it.r, p = it.p, k = it.k, from = v.slot[r][p][k];
    int ready = readySlot(v, r, p, k);
    const bool forward = p == F0 || p == F1;
    // Highest live count over [t, from) for each candidate t, from the right.
    int highest = 0, to = from;
    for (int t = from - 1; t >= ready; --t) {
      highest = std::max(highest, v.mem[r][t]);
      if (v.busy[r][t] == 0 && (!forward || highest + 1 <= v.cap))
        to = t;
    }
    if (to == from)
      continue;
    v.busy[r][from] = 0;
    v.busy[r][to] = 1;
    v.slot[r][p][k] = to;
    for (int t = to; t < from; ++t)
      v.mem[r][t] += forward ? 1 : -1;
  }
}

/// Step 3 for rank r: its passes in slot order, the W's in the free slots
/// (the oldest pending I's first), the rest after the last slot.
void issueVRank(const VSlots &v, int r, Schedule &s) {
  const int n = v.n, m = v.m;
  std::vector<std::pair<int, int>> at(v.horizon, {-1, -1}); // (pass, mb)
  int last = 0;
  for (int p = 0; p < 4; ++p)
    for (int k = 0; k < m; ++k) {
      at[v.slot[r][p][k]] = {p, k};
      last = std::max(last, v.slot[r][p][k]);
    }
  const int stage[4] = {r, 2 * n - 1 - r, 2 * n - 1 - r, r};
  std::deque<std::pair<int, int>> pendingW;
  auto &out = s.ranks[r];
  auto w = [&] {
    out.push_back(Action::backwardWeight(pendingW.front().first, pendingW.front().second));
    pendingW.pop_front();
  };
  for (int t = 0; t <= last; ++t) {
    auto [p, k] = at[t];
    if (p < 0) {
      if (!pendingW.empty())
        w();
      continue;
    }
    if (p == F0 || p == F1) {
      out.push_back(Action::forward(stage[p], k));
    } else {
      out.push_back(Action::backwardInput(stage[p], k));
      pendingW.push_back({stage[p], k});
    }
  }
  while (!pendingW.empty())
    w();
}

/// V-Min and V-Half: the building block repeated for micro-batches 0..M-1,
/// then squeezed, then W's placed:
///  1. pass p of micro-batch k on rank r sits at slot offset(r, p) + 6k;
///  2. squeeze: in increasing slot order (ties by rank), each pass moves to
///     the earliest free slot of its rank after its inputs (the upstream
///     pass of the same micro-batch, its own F for an I, the same pass of
///     the previous micro-batch) and before its slot, provided the rank's
///     live activations (F done, I not, docs/schedules/contract.md counting) never exceed
///     the block's own peak over all ranks; this fills the warm-up with
///     forwards and pulls the cool-down's backwards forward;
///  3. the W's fill the free slots, each the oldest pending I's, the rest
///     after the last slot.
/// Each rank issues its actions in slot order.
Schedule generateVShape(const ScheduleConfig &cfg) {
  Schedule s = skeleton(cfg);
  VSlots v;
  v.n = cfg.numRanks;
  v.m = cfg.numMicrobatches;
  v.horizon = vOffset(cfg.kind, v.n, 0, I0) + 6 * v.m + 8 * v.n + 16;
  std::vector<VItem> items = placeBuildingBlocks(cfg, v);
  computeLiveProfiles(v);
  squeeze(v, items);
  for (int r = 0; r < v.n; ++r)
    issueVRank(v, r, s);
  return s;
}

} // namespace

std::optional<Error> checkConfig(const ScheduleConfig &cfg) {
  const int n = cfg.numRanks, m = cfg.numMicrobatches;
  const std::string ns = str(n), ms = str(m);
  if (n < 1)
    return Error{"the number of ranks must be at least 1, got " + ns};
  if (m < 1)
    return Error{"the number of micro-batches must be at least 1, got " + ms};
  switch (cfg.kind) {
  case ScheduleKind::GPipe:
    return std::nullopt;
  case ScheduleKind::OneFOneB:
    if (m < n)
      return Error{"1F1B needs at least as many micro-batches as ranks (M >= N), "
                   "got M=" + ms + " with N=" + ns};
    return std::nullopt;
  case ScheduleKind::ZBH1:
  case ScheduleKind::ZBV:
    return std::nullopt;
  case ScheduleKind::Interleaved1F1B:
  case ScheduleKind::LoopedBFS:
  case ScheduleKind::InterleavedZB:
    if (cfg.chunks < 1)
      return Error{std::string(scheduleTitle(cfg.kind)) +
                   " needs at least 1 chunk per rank (--chunks), got " + str(cfg.chunks)};
    return std::nullopt;
  case ScheduleKind::VHalf:
  case ScheduleKind::VMin:
    return checkVShapeConfig(cfg);
  case ScheduleKind::DualPipe:
    if (n % 2 != 0)
      return Error{"DualPipe needs an even number of ranks, got " + ns +
                   "; use --schedule=dualpipev for odd counts"};
    if (m % 2 != 0)
      return Error{"DualPipe needs an even number of micro-batches (half go "
                   "each way), got " + ms};
    if (m < 2 * n)
      return Error{"DualPipe needs at least 2N micro-batches (M >= " +
                   str(2 * n) + " for N=" + ns + "), got M=" + ms};
    return std::nullopt;
  case ScheduleKind::DualPipeV:
    if (m < 2 * n)
      return Error{"DualPipeV needs at least 2N micro-batches (M >= " +
                   str(2 * n) + " for N=" + ns + "), got M=" + ms};
    return std::nullopt;
  case ScheduleKind::Custom:
    return Error{"a custom schedule cannot be generated; read it from CSV"};
  }
  return Error{"unknown schedule kind"};
}

std::optional<MicrobatchRule> microbatchRule(ScheduleKind kind, int n,
                                             int chunks) {
  (void)chunks;
  switch (kind) {
  case ScheduleKind::GPipe:
    return MicrobatchRule{1, 1};
  case ScheduleKind::OneFOneB:
    return MicrobatchRule{n, 1};
  case ScheduleKind::ZBH1:
  case ScheduleKind::Interleaved1F1B:
  case ScheduleKind::LoopedBFS:
  case ScheduleKind::InterleavedZB:
  case ScheduleKind::ZBV:
    return MicrobatchRule{1, 1};
  case ScheduleKind::VHalf:
  case ScheduleKind::VMin:
    return MicrobatchRule{1, 1};
  case ScheduleKind::DualPipe:
    if (n % 2 != 0)
      return std::nullopt;
    return MicrobatchRule{2 * n, 2};
  case ScheduleKind::DualPipeV:
    return MicrobatchRule{2 * n, 1};
  case ScheduleKind::Custom:
    return std::nullopt;
  }
  return std::nullopt;
}

Expected<Schedule> generate(const ScheduleConfig &cfg) {
  if (std::optional<Error> err = checkConfig(cfg))
    return *err;
  switch (cfg.kind) {
  case ScheduleKind::GPipe:
    return generateGPipe(cfg);
  case ScheduleKind::OneFOneB:
    return generateOneFOneB(cfg, /*zeroBubble=*/false);
  case ScheduleKind::ZBH1:
    return generateOneFOneB(cfg, /*zeroBubble=*/true);
  case ScheduleKind::Interleaved1F1B:
    return generateInterleavedFamily(cfg, /*zeroBubble=*/false);
  case ScheduleKind::InterleavedZB:
    return generateInterleavedFamily(cfg, /*zeroBubble=*/true);
  case ScheduleKind::LoopedBFS:
    return generateLoopedBFS(cfg);
  case ScheduleKind::VHalf:
  case ScheduleKind::VMin:
    return generateVShape(cfg);
  case ScheduleKind::ZBV:
    return generateZBV(cfg);
  case ScheduleKind::DualPipe:
    return generateDualPipe(cfg);
  case ScheduleKind::DualPipeV:
    return generateDualPipeV(cfg);
  case ScheduleKind::Custom:
    break;
  }
  return Error{"a custom schedule cannot be generated"};
}

} // namespace dualpipe::sched
