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

/// Megatron-LM's interleaved 1F1B: virtual micro-batch k runs chunk
/// (k mod Nv) / N (reversed for backwards) on micro-batch
/// (k / Nv) * N + k mod N; warm-up is 2(N-r-1) + (v-1)N, or everything
/// when M == N.
Schedule generateInterleaved(const ScheduleConfig &cfg) {
  Schedule s = skeleton(cfg);
  const int n = cfg.numRanks, m = cfg.numMicrobatches, v = cfg.chunks;
  const int total = m * v;
  auto chunkOf = [&](int k, bool forward) {
    int c = (k % (n * v)) / n;
    return forward ? c : v - 1 - c;
  };
  auto mbOf = [&](int k) { return (k / (n * v)) * n + k % n; };
  for (int r = 0; r < n; ++r) {
    auto &out = s.ranks[r];
    int warmup = m == n ? total : std::min(total, (n - r - 1) * 2 + (v - 1) * n);
    int remaining = total - warmup;
    auto fwd = [&](int k) {
      out.push_back(Action::forward(chunkOf(k, true) * n + r, mbOf(k)));
    };
    auto bwd = [&](int k) {
      out.push_back(Action::backward(chunkOf(k, false) * n + r, mbOf(k)));
    };
    for (int k = 0; k < warmup; ++k)
      fwd(k);
    for (int k = 0; k < remaining; ++k) {
      fwd(k + warmup);
      bwd(k);
    }
    for (int k = remaining; k < total; ++k)
      bwd(k);
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
    if (m < n)
      return Error{"ZB1P needs at least as many micro-batches as ranks (M >= N), "
                   "got M=" + ms + " with N=" + ns};
    return std::nullopt;
  case ScheduleKind::Interleaved1F1B:
    if (cfg.chunks < 1)
      return Error{"interleaved 1F1B needs at least 1 chunk per rank (--chunks), "
                   "got " + str(cfg.chunks)};
    if (m % n != 0)
      return Error{"interleaved 1F1B needs M to be a multiple of N (M % N == 0), "
                   "got M=" + ms + " with N=" + ns};
    return std::nullopt;
  case ScheduleKind::ZBV:
    if (m < 2 * n - 1)
      return Error{"ZB-V needs at least 2N-1 micro-batches (M >= " +
                   str(2 * n - 1) + " for N=" + ns + "), got M=" + ms};
    return std::nullopt;
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
  case ScheduleKind::ZBH1:
    return MicrobatchRule{n, 1};
  case ScheduleKind::Interleaved1F1B:
    return MicrobatchRule{n, n};
  case ScheduleKind::ZBV:
    return MicrobatchRule{2 * n - 1, 1};
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
    return generateInterleaved(cfg);
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
