//===- GridTest.cpp - Properties of every schedule over N <= 16, M <= 64 --===//
//
// For every schedule and every valid (N, M) with N <= 16 and M <= 64: the
// generated schedule is valid (which includes deadlock freedom under the
// posted model), has the per-stage counts docs/schedules/contract.md requires, and the
// peak activations and (where docs/schedules/contract.md gives one) the bubble of its
// table; V-Half and V-Min the memory and bubble of Qi et al.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"

#include "dualpipe/Schedule/Analysis.h"
#include "dualpipe/Schedule/Simulator.h"
#include "dualpipe/Schedule/Validator.h"

#include <algorithm>
#include <map>

using namespace dualpipe::sched;
using namespace dualpipe::sched::test;

namespace {

/// Per stage: F count, B count, I count, W count; and, per stage and kind,
/// the micro-batches in issue order.
struct Counts {
  std::map<int, std::array<int, 4>> perStage;
  std::map<std::pair<int, char>, std::vector<int>> order;
};

Counts count(const Schedule &s) {
  Counts c;
  for (const auto &rank : s.ranks)
    for (const Action &a : rank)
      for (int p = 0; p < a.numParts(); ++p) {
        Action part = a.part(p);
        int k = part.kind == ActionKind::Forward ? 0
                : part.kind == ActionKind::Backward ? 1
                : part.kind == ActionKind::BackwardInput ? 2
                                                         : 3;
        ++c.perStage[part.stage][k];
        char key = k == 0 ? 'F' : k == 3 ? 'W' : 'B';
        c.order[{part.stage, key}].push_back(part.microbatch);
      }
  return c;
}

class GridTest : public ::testing::TestWithParam<ScheduleKind> {};

TEST_P(GridTest, ValidCountedAndAsSchedulesMdStates) {
  const ScheduleKind kind = GetParam();
  int configs = 0;
  for (int n = 1; n <= 16; ++n) {
    for (int m = 1; m <= 64; ++m) {
      ScheduleConfig cfg{kind, n, m, 2};
      if (checkConfig(cfg))
        continue;
      ++configs;
      SCOPED_TRACE(std::string(scheduleName(kind)) + " N=" + std::to_string(n) +
                   " M=" + std::to_string(m));
      Expected<Schedule> s = generate(cfg);
      ASSERT_TRUE(s.ok()) << s.error().message;
      ValidationReport rep = validate(*s);
      ASSERT_TRUE(rep.ok()) << rep.str(*s);

      // Per-stage counts: every micro-batch of the stage's pipeline gets
      // one F and one backward (B, or I and W), in increasing order.
      Counts c = count(*s);
      for (const Pipeline &pl : s->pipelines)
        for (int st : pl.stages) {
          const auto &k = c.perStage[st];
          EXPECT_EQ(k[0], pl.numMicrobatches) << "stage " << st;
          EXPECT_EQ(k[1] + k[2], pl.numMicrobatches) << "stage " << st;
          EXPECT_EQ(k[3], k[2]) << "stage " << st;
          for (char key : {'F', 'B'}) {
            const auto &mbs = c.order[{st, key}];
            // LoopedBFS runs its backwards last micro-batch first.
            bool down = kind == ScheduleKind::LoopedBFS && key == 'B';
            for (size_t i = 1; i < mbs.size(); ++i)
              if (down)
                EXPECT_GT(mbs[i - 1], mbs[i]) << "stage " << st << " " << key;
              else
                EXPECT_LT(mbs[i - 1], mbs[i]) << "stage " << st << " " << key;
          }
        }

      Expected<SimulationResult> r = simulate(*s, CostModel{});
      ASSERT_TRUE(r.ok()) << r.error().message;
      // Bubbles of the table of docs/schedules/contract.md at F=1, B=2, W=1, F&B=3, exactly
      // (its 1F1B and ZB1P rows assume M >= N).
      if (std::optional<ClosedForm> f = closedForm(kind, n, CostModel{})) {
        if (m >= n) {
          EXPECT_EQ(r->maxBubble(), f->bubble);
        }
      }
      // Qi et al.: V-Min's bubble about 2/3 of 1F1B's (N-1)(F+B) at the
      // same model (stages twice as large: 6(N-1) here), V-Half's 1/2.
      if (m >= 2 * n && kind == ScheduleKind::VMin) {
        EXPECT_LE(r->maxBubble(), 4 * (n - 1));
      }
      if (m >= 2 * n && kind == ScheduleKind::VHalf) {
        EXPECT_LE(r->maxBubble(), 3 * (n - 1));
      }

      // Peak activations.
      std::vector<int> peaks = peakActivations(*s);
      for (int rank = 0; rank < n; ++rank) {
        switch (kind) {
        case ScheduleKind::DualPipe:
          EXPECT_EQ(peaks[rank], n + 1) << "rank " << rank; // PP+1 on every rank
          break;
        case ScheduleKind::DualPipeV:
          EXPECT_EQ(peaks[rank], 2 * n + 1) << "rank " << rank; // PP+1, PP = 2N
          break;
        case ScheduleKind::OneFOneB:
        case ScheduleKind::ZBH1:
          // PP on rank 0 (or all M when fewer).
          EXPECT_EQ(peaks[rank], std::min(n - rank, m)) << "rank " << rank;
          break;
        case ScheduleKind::VHalf:
          // Qi et al.: (N+2)/2 micro-batches of a whole (two-chunk) stage.
          EXPECT_LE(peaks[rank], 2 * ((n + 2) / 2)) << "rank " << rank;
          break;
        case ScheduleKind::VMin:
          // Qi et al.: (N+4)/3 micro-batches of a whole stage.
          EXPECT_LE(peaks[rank], 2 * ((n + 4) / 3)) << "rank " << rank;
          break;
        case ScheduleKind::GPipe:
          EXPECT_EQ(peaks[rank], m) << "rank " << rank;
          break;
        case ScheduleKind::ZBV:
          // 1F1B's memory: 2N chunk activations of half a stage each.
          EXPECT_LE(peaks[rank], 2 * n) << "rank " << rank;
          break;
        default:
          break;
        }
      }
    }
  }
  EXPECT_GT(configs, 0);
}

INSTANTIATE_TEST_SUITE_P(AllSchedules, GridTest,
                         ::testing::ValuesIn(allScheduleKinds()),
                         [](const ::testing::TestParamInfo<ScheduleKind> &info) {
                           std::string name = scheduleName(info.param);
                           if (name == "1f1b")
                             return std::string("OneFOneB");
                           for (char &c : name)
                             if (c == '-')
                               c = '_';
                           return name;
                         });

TEST(Grid, InterleavedWithMoreChunks) {
  for (ScheduleKind k : {ScheduleKind::Interleaved1F1B, ScheduleKind::LoopedBFS,
                         ScheduleKind::InterleavedZB})
    for (int v : {1, 3, 4})
      for (int n = 1; n <= 12; ++n)
        for (int m = 1; m <= 48; m += (m < 2 * n ? 1 : n)) {
          Schedule s = mustGenerate(k, n, m, v);
          EXPECT_EQ(s.numStages, n * v);
          ValidationReport rep = validate(s);
          EXPECT_TRUE(rep.ok()) << scheduleName(k) << " v=" << v << " N=" << n << " M=" << m
                                << "\n" << rep.str(s);
        }
}

TEST(Grid, VHalfReachesItsMemoryInSteadyState) {
  // With enough micro-batches the peak is exactly (N+2)/2 whole stages.
  for (int n = 1; n <= 16; ++n)
    for (int m : {2 * n, 4 * n, 64}) {
      Schedule s = mustGenerate(ScheduleKind::VHalf, n, m);
      std::vector<int> peaks = peakActivations(s);
      EXPECT_EQ(*std::max_element(peaks.begin(), peaks.end()), 2 * ((n + 2) / 2))
          << "N=" << n << " M=" << m;
    }
}

TEST(Grid, DualPipeWRunsTheOldestPendingWork) {
  // docs/schedules/contract.md: W always runs the oldest pending deferred work (FIFO
  // across both chunks).
  for (ScheduleKind kind : {ScheduleKind::DualPipe, ScheduleKind::DualPipeV})
    for (int n : {2, 4, 6, 8, 16})
      for (int m : {2 * n, 2 * n + 2, 4 * n}) {
        Schedule s = mustGenerate(kind, n, m);
        for (const auto &rank : s.ranks) {
          std::vector<Action> pending;
          for (const Action &a : rank) {
            if (a.kind == ActionKind::BackwardInput)
              pending.push_back(a);
            if (a.kind == ActionKind::BackwardWeight) {
              ASSERT_FALSE(pending.empty());
              EXPECT_EQ(a.stage, pending.front().stage);
              EXPECT_EQ(a.microbatch, pending.front().microbatch);
              pending.erase(pending.begin());
            }
          }
          EXPECT_TRUE(pending.empty());
        }
      }
}

TEST(Grid, DualPipeBubbleForTheListedRankCounts) {
  // N = 2, 4, 6, 8, 16 at M = 2N .. 64: worst rank = (N/2-1)(F&B+B-3W).
  for (int n : {2, 4, 6, 8, 16})
    for (int m = 2 * n; m <= 64; m += 2) {
      Schedule s = mustGenerate(ScheduleKind::DualPipe, n, m);
      Expected<SimulationResult> r = simulate(s, CostModel{});
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(r->maxBubble(), (n / 2 - 1) * (3 + 2 - 3)) << "N=" << n << " M=" << m;
    }
}

} // namespace

TEST(Grid, TorchSchedulesTheRuntimeExecutesAreAccepted) {
  // Every configuration torch builds of its multi-stage schedules (N <= 6,
  // M <= 16, 2 or 3 stages per rank) runs under the posted model, and under
  // NCCL's groups with fewestReceiveBuffers() buffers per link; the former
  // check (blocking groups, two-ahead posting) rejected some of them.
  int configs = 0, rejectedBefore = 0;
  for (ScheduleKind k : {ScheduleKind::Interleaved1F1B, ScheduleKind::LoopedBFS,
                         ScheduleKind::InterleavedZB})
    for (int v : {2, 3})
      for (int n = 2; n <= 6; ++n)
        for (int m = 1; m <= 16; ++m) {
          bool interleaved = k != ScheduleKind::LoopedBFS;
          if (interleaved && m % std::max(1, m / n) != 0)
            continue; // torch refuses these
          ++configs;
          SCOPED_TRACE(std::string(scheduleName(k)) + " v=" + std::to_string(v) +
                       " N=" + std::to_string(n) + " M=" + std::to_string(m));
          Schedule s = mustGenerate(k, n, m, v);
          ValidationReport posted = validate(s);
          ASSERT_TRUE(posted.ok()) << posted.str(s);
          std::optional<int> buffers = fewestReceiveBuffers(s);
          ASSERT_TRUE(buffers.has_value());
          EXPECT_TRUE(
              validate(s, {CommModel::BlockingGroups, {ReceivePosting::Early, *buffers}}).ok());
          rejectedBefore +=
              !validate(s, {CommModel::BlockingGroups, {ReceivePosting::TwoAhead, 0}}).ok();
        }
  EXPECT_GT(configs, 300);
  EXPECT_GT(rejectedBefore, 0);
}
