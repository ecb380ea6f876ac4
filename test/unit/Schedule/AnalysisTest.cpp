//===- AnalysisTest.cpp - Closed forms, comparison, automatic choice ------===//

#include "TestUtil.h"

#include "dualpipe/Schedule/Analysis.h"

using namespace dualpipe::sched;
using namespace dualpipe::sched::test;

TEST(Analysis, ClosedFormsOfTheContract) {
  CostModel c; // F=1, B=2, W=1, F&B=3
  EXPECT_EQ(closedForm(ScheduleKind::OneFOneB, 8, c)->bubble, 21);
  EXPECT_EQ(closedForm(ScheduleKind::ZBH1, 8, c)->bubble, 7);
  EXPECT_EQ(closedForm(ScheduleKind::DualPipe, 8, c)->bubble, 6);
  EXPECT_EQ(closedForm(ScheduleKind::DualPipe, 8, c)->activations, 9);
  EXPECT_EQ(closedForm(ScheduleKind::DualPipeV, 8, c)->bubble, 14);
  EXPECT_EQ(closedForm(ScheduleKind::DualPipeV, 8, c)->activations, 17);
  EXPECT_EQ(closedForm(ScheduleKind::DualPipeV, 8, c)->parameterCopies, 2);
  EXPECT_FALSE(closedForm(ScheduleKind::GPipe, 8, c).has_value());
}

TEST(Analysis, CompareMatchesEveryFormula) {
  std::vector<ComparisonRow> rows = compareAll(8, 24, CostModel{});
  ASSERT_EQ(rows.size(), allScheduleKinds().size());
  for (const ComparisonRow &r : rows) {
    ASSERT_FALSE(r.rejected.has_value()) << scheduleName(r.kind) << r.rejected->message;
    if (r.formula) {
      EXPECT_EQ(r.maxBubble, r.formula->bubble) << scheduleName(r.kind);
      EXPECT_EQ(r.peakActivations, r.formula->activations) << scheduleName(r.kind);
    }
  }
  std::string table = formatComparison(8, 24, CostModel{}, rows);
  EXPECT_NE(table.find("DualPipe "), std::string::npos);
  EXPECT_EQ(table.find(" NO "), std::string::npos) << table;
}

TEST(Analysis, AutoPicksTheFastestThatFits) {
  AutoRequest req;
  req.numRanks = 4;
  req.numMicrobatches = 16;
  Expected<AutoChoice> c = chooseAuto(req);
  ASSERT_TRUE(c.ok()) << c.error().message;
  // Without a budget every candidate fits; the choice has the least step.
  for (const AutoCandidate &cand : c->candidates) {
    if (cand.kind != c->kind)
      continue;
    for (const AutoCandidate &other : c->candidates) {
      EXPECT_LE(cand.stepTime, other.stepTime + 1e-9);
    }
  }
  EXPECT_NE(c->explanation.find("chose"), std::string::npos);
}

TEST(Analysis, AutoRespectsTheMemoryBudget) {
  AutoRequest req;
  req.numRanks = 4;
  req.numMicrobatches = 16;
  req.memoryBudget = 4; // 1F1B's rank 0 holds exactly 4 N-way activations
  Expected<AutoChoice> c = chooseAuto(req);
  ASSERT_TRUE(c.ok()) << c.error().message;
  for (const AutoCandidate &cand : c->candidates) {
    if (cand.kind == c->kind) {
      EXPECT_LE(cand.peakMemory, 4);
    }
  }
  EXPECT_NE(c->kind, ScheduleKind::GPipe);
  EXPECT_NE(c->kind, ScheduleKind::DualPipe); // needs N+1 = 5
  req.memoryBudget = 1;
  Expected<AutoChoice> none = chooseAuto(req);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("no schedule fits"), std::string::npos);
}

TEST(Analysis, AutoChoosesMWhenFree) {
  AutoRequest req;
  req.numRanks = 4;
  req.maxMicrobatches = 16;
  Expected<AutoChoice> c = chooseAuto(req);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_GE(c->numMicrobatches, 1);
  EXPECT_LE(c->numMicrobatches, 16);
  EXPECT_EQ(c->schedule.numMicrobatches, c->numMicrobatches);
}

TEST(Analysis, ScaledCostsForFinerStages) {
  CostModel base;
  CostModel v = scaleCostsForSchedule(base, ScheduleKind::DualPipeV, 4, 2);
  EXPECT_EQ(v.uniform.f, 0.5);
  EXPECT_EQ(v.fb, 1.5);
  CostModel d = scaleCostsForSchedule(base, ScheduleKind::DualPipe, 4, 2);
  EXPECT_EQ(d.uniform.f, 1);
}
