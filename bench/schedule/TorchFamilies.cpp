//===- TorchFamilies.cpp - Which of torch's schedules each model accepts --===//
//
// For every configuration torch.distributed.pipelining builds in a grid
// (N = 2..8 ranks, M = 1..32 micro-batches, 2..4 stages per rank for the
// multi-stage schedules), generates the same schedule with the engine and
// counts how many each communication model accepts: the former validator
// (blocking groups, receives two receiving actions ahead), the posted model
// (validate()'s default; torch's runtime: its lowering fails exactly on a
// cycle of waits), and blocking groups with receives posted early on 2
// receive buffers per link, or on the fewest uniform buffers that work.
//
//===----------------------------------------------------------------------===//

#include "dualpipe/Schedule/Generators.h"
#include "dualpipe/Schedule/Validator.h"

#include <cstdio>
#include <string>
#include <vector>

using namespace dualpipe::sched;

namespace {

/// torch's rule for building `kind` (its constructors' checks).
bool torchBuilds(ScheduleKind kind, int n, int m, int v) {
  switch (kind) {
  case ScheduleKind::OneFOneB:
    return m >= n;
  case ScheduleKind::DualPipeV:
    return m >= 2 * n;
  case ScheduleKind::Interleaved1F1B:
  case ScheduleKind::InterleavedZB: {
    int rounds = std::max(1, m / n);
    return m % rounds == 0;
  }
  default:
    return true;
  }
}

struct Family {
  const char *torchName;
  ScheduleKind kind;
  std::vector<int> chunks;
};

} // namespace

int main() {
  const std::vector<Family> families = {
      {"ScheduleGPipe", ScheduleKind::GPipe, {1}},
      {"Schedule1F1B", ScheduleKind::OneFOneB, {1}},
      {"ScheduleInterleaved1F1B", ScheduleKind::Interleaved1F1B, {2, 3, 4}},
      {"ScheduleLoopedBFS", ScheduleKind::LoopedBFS, {2, 3, 4}},
      {"ScheduleInterleavedZeroBubble", ScheduleKind::InterleavedZB, {2, 3, 4}},
      {"ScheduleZBVZeroBubble", ScheduleKind::ZBV, {2}},
      {"ScheduleDualPipeV", ScheduleKind::DualPipeV, {2}},
  };
  std::printf("%-30s %7s %12s %8s %14s %18s\n", "torch schedule", "configs", "old (2-ahead)",
              "posted", "nccl early/2", "nccl fewest bufs");
  int totals[5] = {};
  for (const Family &f : families) {
    int counts[5] = {};
    int worstBuffers = 0;
    for (int v : f.chunks)
      for (int n = 2; n <= 8; ++n)
        for (int m = 1; m <= 32; ++m) {
          if (!torchBuilds(f.kind, n, m, v))
            continue;
          Expected<Schedule> s = generate({f.kind, n, m, v});
          if (!s) {
            std::fprintf(stderr, "%s N=%d M=%d v=%d: %s\n", f.torchName, n, m, v,
                         s.error().message.c_str());
            return 1;
          }
          ++counts[0];
          counts[1] += validate(*s, {CommModel::BlockingGroups,
                                     {ReceivePosting::TwoAhead, 0}}).ok();
          counts[2] += validate(*s).ok();
          counts[3] += validate(*s, {CommModel::BlockingGroups,
                                     {ReceivePosting::Early, 2}}).ok();
          if (std::optional<int> b = fewestReceiveBuffers(*s)) {
            ++counts[4];
            worstBuffers = std::max(worstBuffers, *b ? *b : 1 << 20);
          }
        }
    std::printf("%-30s %7d %12d %8d %14d %12d (<=%d)\n", f.torchName, counts[0], counts[1],
                counts[2], counts[3], counts[4], worstBuffers);
    for (int i = 0; i < 5; ++i)
      totals[i] += counts[i];
  }
  std::printf("%-30s %7d %12d %8d %14d %18d\n", "all", totals[0], totals[1], totals[2],
              totals[3], totals[4]);
  return 0;
}
