//===- PartitionSearchTest.cpp - step-time search against brute force ----===//
#include "dualpipe/Analysis/PartitionSearch.h"

#include <gtest/gtest.h>

#include <random>

using namespace dualpipe;

namespace {

StepTimeProblem make(std::vector<double> seconds, sched::ScheduleKind kind,
                     int ranks, int microbatches,
                     std::vector<int64_t> mandatory = {}) {
  StepTimeProblem pb;
  int64_t n = seconds.size();
  pb.unitSeconds = std::move(seconds);
  pb.unitActivationBytes.assign(n, 100);
  pb.unitParamBytes.assign(n, 10);
  pb.base.cutBytes.assign(n + 1, 8);
  pb.base.mandatory.assign(n + 1, false);
  for (int64_t c : mandatory)
    pb.base.mandatory[c] = true;
  pb.kind = kind;
  pb.numRanks = ranks;
  pb.numMicrobatches = microbatches;
  pb.base.numStages = kind == sched::ScheduleKind::DualPipeV ? 2 * ranks : ranks;
  return pb;
}

std::string show(const std::vector<int64_t> &v) {
  std::string out;
  for (int64_t x : v)
    out += std::to_string(x) + " ";
  return out;
}

TEST(PartitionSearch, TwoRanksNoNearEmptyStage) {
  // An embedding that costs almost nothing, eight equal blocks, a head.
  // Every cut of a 2-stage DualPipe has the same pair load (everything);
  // the simulated step time prefers the even cut, never "embedding alone".
  std::vector<double> s{0.01, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  auto pb = make(s, sched::ScheduleKind::DualPipe, 2, 4);
  std::string why;
  auto sol = solveStepTime(pb, &why);
  ASSERT_TRUE(sol) << why;
  EXPECT_EQ(sol->search, "exhaustive");
  EXPECT_GT(sol->best.stageSeconds[0], 3.5) << show(sol->best.bounds);
  EXPECT_GT(sol->best.stageSeconds[1], 3.5) << show(sol->best.bounds);
}

TEST(PartitionSearch, ZeroCostStageRefusedUnlessAllowed) {
  // Unit 1 costs nothing: a stage of it alone is empty.
  std::vector<double> s{1, 0, 1, 1};
  auto pb = make(s, sched::ScheduleKind::DualPipe, 4, 8);
  std::string why;
  EXPECT_FALSE(solveStepTime(pb, &why));
  EXPECT_NE(why.find("allow-empty-stages"), std::string::npos) << why;
  pb.allowEmptyStages = true;
  auto sol = solveStepTime(pb, &why);
  ASSERT_TRUE(sol) << why;
  EXPECT_EQ(sol->best.bounds, (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(PartitionSearch, LowerBoundBelowSimulation) {
  // Every cut's bound is at most its simulated time: checked through the
  // exact search agreeing with brute force below, and directly here.
  std::vector<double> s{3, 1, 4, 1, 5, 9, 2, 6};
  auto pb = make(s, sched::ScheduleKind::DualPipe, 4, 8);
  auto e = evaluateCut(pb, {0, 2, 4, 6, 8});
  ASSERT_TRUE(e);
  double busy = 0;
  for (double b : e->rankBusy)
    busy = std::max(busy, b);
  EXPECT_GE(e->stepTime, busy);
}

TEST(PartitionSearch, MatchesBruteForce) {
  std::mt19937 rng(18);
  int trials = 0;
  for (int t = 0; t < 300; ++t) {
    bool v = t % 3 == 2;
    int ranks = v ? 1 + rng() % 2 : 2 * (1 + rng() % 2);
    int K = v ? 2 * ranks : ranks;
    int n = K + rng() % 6;
    std::vector<double> s(n);
    for (double &x : s)
      x = (rng() % 5 == 0) ? 0.0 : double(1 + rng() % 6);
    int m = 2 * ranks + 2 * (rng() % 2);
    std::vector<int64_t> mand;
    if (rng() % 4 == 0 && n > 2)
      mand.push_back(1 + rng() % (n - 1));
    auto pb = make(s, v ? sched::ScheduleKind::DualPipeV
                        : sched::ScheduleKind::DualPipe,
                   ranks, m, mand);
    pb.allowEmptyStages = rng() % 4 == 0;
    if (rng() % 5 == 0)
      pb.memoryBudget = 1500;
    auto brute = solveStepTimeBruteForce(pb);
    std::string why;
    auto fast = solveStepTime(pb, &why);
    ASSERT_EQ(bool(brute), bool(fast)) << "trial " << t << ": " << why;
    if (!brute)
      continue;
    ++trials;
    EXPECT_EQ(fast->search, "exhaustive");
    EXPECT_NEAR(fast->best.stepTime, brute->best.stepTime,
                1e-9 * brute->best.stepTime)
        << "trial " << t << " fast " << show(fast->best.bounds) << " brute "
        << show(brute->best.bounds);
    EXPECT_EQ(fast->best.bounds, brute->best.bounds) << "trial " << t;
    EXPECT_LE(fast->simulations, brute->simulations);
  }
  EXPECT_GT(trials, 150);
}

TEST(PartitionSearch, LocalSearchNoWorseThanSeeds) {
  // Too many cuts to enumerate (limit 10): the local search starts from
  // the pair-balanced and bottleneck optima and only improves on them.
  std::mt19937 rng(7);
  std::vector<double> s(40);
  for (double &x : s)
    x = double(1 + rng() % 9);
  auto pb = make(s, sched::ScheduleKind::DualPipe, 4, 8);
  auto exact = solveStepTime(pb);
  ASSERT_TRUE(exact);
  EXPECT_EQ(exact->search, "exhaustive");
  pb.enumerationLimit = 10;
  auto local = solveStepTime(pb);
  ASSERT_TRUE(local);
  EXPECT_EQ(local->search, "local");
  EXPECT_GE(local->best.stepTime, exact->best.stepTime * (1 - 1e-9));
  EXPECT_LE(local->best.stepTime, exact->best.stepTime * 1.05);
}

TEST(PartitionSearch, LocalSearchRepairsEmptySeeds) {
  // The units of dualpipe-gen's 96-layer GPT on h200 (print-cost): the
  // embedding, a free reshape, 96 blocks, the final norm and head, a free
  // reshape carrying the loss. Both solver seeds of DualPipe N=16 hold the
  // reshape as a stage of its own; they are repaired, not replaced by a
  // walk over every cut (C(104, 15) of them: that walk never ends).
  std::vector<double> s{2.623e-06, 0};
  for (int i = 0; i < 96; ++i)
    s.push_back(1.947e-4);
  for (double x : {8.533e-10, 8.533e-10, 8.772e-07, 1.751e-06, 4.293e-05,
                   2.133e-4, 8.586e-5})
    s.push_back(x);
  auto pb = make(s, sched::ScheduleKind::DualPipe, 16, 32);
  std::string why;
  auto sol = solveStepTime(pb, &why);
  ASSERT_TRUE(sol) << why;
  EXPECT_EQ(sol->search, "local");
  for (double t : sol->best.stageSeconds)
    EXPECT_GT(t, 0) << show(sol->best.bounds);
  EXPECT_LT(sol->simulations, 100000);
}

TEST(PartitionSearch, LocalSearchBudgetOnFlatModel) {
  // A flat 96-block model (every block's ops as units, the shape of
  // dualpipe-gen gpt --flat=1: a few heavy matmuls among light elementwise
  // ops) into DualPipe N=16: too many cuts to enumerate. The pattern moves
  // stay within the evaluation budget, are deterministic, and end within
  // 1% of the search that tries every position of every cut (which needs
  // several times the simulations; on the real flat GPT 21752 against
  // 4000 at most).
  std::vector<double> s{2.6e-6, 0};
  const double block[12] = {1e-7, 4e-6, 4e-6, 4e-6, 2e-7, 3e-6,
                            1e-7, 2e-7, 8e-6, 3e-7, 8e-6, 1e-7};
  for (int b = 0; b < 96; ++b)
    for (int i = 0; i < 12; ++i)
      s.push_back(block[i] * (1 + 0.01 * ((b * 7 + i) % 5)));
  for (double x : {1e-9, 9e-7, 4e-5, 8e-5})
    s.push_back(x);
  auto pb = make(s, sched::ScheduleKind::DualPipe, 16, 32);
  std::string why;
  auto fast = solveStepTime(pb, &why);
  ASSERT_TRUE(fast) << why;
  EXPECT_EQ(fast->search.rfind("local", 0), 0u) << fast->search;
  EXPECT_LE(fast->simulations, pb.maxLocalSimulations);
  auto again = solveStepTime(pb);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->best.bounds, fast->best.bounds);
  EXPECT_EQ(again->simulations, fast->simulations);

  StepTimeProblem every = pb;
  every.everyPosition = true;
  every.maxLocalSimulations = 0;
  auto full = solveStepTime(every, &why);
  ASSERT_TRUE(full) << why;
  EXPECT_EQ(full->search, "local");
  EXPECT_LE(fast->best.stepTime, full->best.stepTime * 1.01)
      << "pattern " << show(fast->best.bounds) << " every position "
      << show(full->best.bounds);
  EXPECT_GT(full->simulations, 2 * fast->simulations);
}

} // namespace
