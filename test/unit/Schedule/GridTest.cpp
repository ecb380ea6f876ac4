//===- GridTest.cpp - Properties of every schedule over N <= 16, M <= 64 --===//
//
// For every schedule and every valid (N, M) with N <= 16 and M <= 64: the
// generated schedule is valid (which includes deadlock freedom under
// blocking groups), has the per-stage counts docs/schedules/contract.md
// requires, and the peak activations and (where that page gives one) the
// bubble of its table.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"

#include "dualpipe/Schedule/Analysis.h"
#include "dualpipe/Schedule/Simulator.h"
#include "dualpipe/Schedule/Validator.h"

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

TEST_P(GridTest, ValidCountedAndAsTheContractStates) {
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
            for (size_t i = 1; i < mbs.size(); ++i)
              EXPECT_LT(mbs[i - 1], mbs[i]) << "stage " << st << " " << key;
          }
        }

      Expected<SimulationResult> r = simulate(*s, CostModel{});
      ASSERT_TRUE(r.ok()) << r.error().message;
      // Bubbles of the table of docs/schedules/contract.md at F=1, B=2, W=1,
      // F&B=3, exactly.
      if (std::optional<ClosedForm> f = closedForm(kind, n, CostModel{})) {
        EXPECT_EQ(r->maxBubble(), f->bubble);
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
          EXPECT_EQ(peaks[rank], n - rank) << "rank " << rank; // PP on rank 0
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
                           return name == "1f1b" ? std::string("OneFOneB") : name;
                         });

TEST(Grid, InterleavedWithMoreChunks) {
  for (int v : {1, 3, 4})
    for (int n = 1; n <= 12; ++n)
      for (int m = n; m <= 48; m += n) {
        Schedule s = mustGenerate(ScheduleKind::Interleaved1F1B, n, m, v);
        EXPECT_EQ(s.numStages, n * v);
        ValidationReport rep = validate(s);
        EXPECT_TRUE(rep.ok()) << "v=" << v << " N=" << n << " M=" << m << "\n"
                              << rep.str(s);
      }
}

TEST(Grid, DualPipeWRunsTheOldestPendingWork) {
  // docs/schedules/contract.md: W always runs the oldest pending deferred
  // work (FIFO across both chunks).
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
