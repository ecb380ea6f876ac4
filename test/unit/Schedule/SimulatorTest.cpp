//===- SimulatorTest.cpp - The reference simulation of the contract -------===//
//
// docs/schedules/contract.md, "Cost model of the reference simulation".
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"

#include "dualpipe/Schedule/Simulator.h"
#include "dualpipe/Schedule/TextForm.h"

using namespace dualpipe::sched;
using namespace dualpipe::sched::test;

TEST(Simulator, DualPipeN8M20IsTheExampleOfTheContract) {
  // "DualPipe, N=8, M=20 -> makespan 66, every rank idle 6."
  Schedule s = mustGenerate(ScheduleKind::DualPipe, 8, 20);
  Expected<SimulationResult> r = simulate(s, CostModel{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->makespan, 66);
  for (const RankResult &rr : r->ranks) {
    EXPECT_EQ(rr.bubble, 6);
    EXPECT_EQ(rr.busy, 60);
    EXPECT_EQ(rr.peakActivations, 9); // N+1
  }
  EXPECT_EQ(r->parameterCopies, 2);
}

TEST(Simulator, DefaultCostsAreTheReferenceOnes) {
  CostModel c;
  EXPECT_EQ(c.duration(Action::forward(0, 0)), 1);
  EXPECT_EQ(c.duration(Action::backward(0, 0)), 2);
  EXPECT_EQ(c.duration(Action::backwardInput(0, 0)), 1); // B - W
  EXPECT_EQ(c.duration(Action::backwardWeight(0, 0)), 1);
  EXPECT_EQ(c.duration(Action::pair(0, 0, 1, 0)), 3);
  c.fb = -1;
  EXPECT_EQ(c.duration(Action::pair(0, 0, 1, 0)), 3); // F + B
  c.fb = 2.5;
  EXPECT_EQ(c.duration(Action::pair(0, 0, 1, 0)), 2.5);
}

TEST(Simulator, OneFOneBByHand) {
  // N=2, M=2, F=1, B=2: rank 0: F0 [0,1] F1 [1,2]; rank 1: F0 [1,2] B0
  // [2,4] F1 [4,5] B1 [5,7]; rank 0: B0 [4,6] B1 [7,9]. Makespan 9.
  Schedule s = mustGenerate(ScheduleKind::OneFOneB, 2, 2);
  Expected<SimulationResult> r = simulate(s, CostModel{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->makespan, 9);
  EXPECT_EQ(r->ranks[0].timeline[2].start, 4);
  EXPECT_EQ(r->ranks[1].timeline[2].start, 4);
  EXPECT_EQ(r->ranks[0].bubble, 3);
  EXPECT_EQ(r->ranks[1].bubble, 3);
}

TEST(Simulator, LinkLatencyAndBandwidth) {
  // Same schedule, every message takes latency 0.5 + 100 bytes / 100 = 1.5.
  Schedule s = mustGenerate(ScheduleKind::OneFOneB, 2, 2);
  CostModel c;
  c.linkLatency = 0.5;
  c.linkBandwidth = 100;
  c.activationMessageBytes = {100, 100};
  c.gradientMessageBytes = {100, 100};
  Expected<SimulationResult> r = simulate(s, c);
  ASSERT_TRUE(r.ok());
  // rank 1: F0 at 1+1.5=2.5 -> 3.5, B0 -> 5.5, F1 needs 0F1 (ends 2, link
  // free at 3 after 0F0's transfer 1..2, so 2..3 +0.5 = 3.5) -> 5.5..6.5,
  // B1 -> 8.5; rank 0: B0 needs 1B0 (5.5 + 1.5 = 7) -> 9, B1 needs 8.5 +
  // 1.5 = 10 -> 12.
  EXPECT_DOUBLE_EQ(r->ranks[1].timeline[0].start, 2.5);
  EXPECT_DOUBLE_EQ(r->ranks[1].timeline[2].start, 5.5);
  EXPECT_DOUBLE_EQ(r->ranks[0].timeline[2].start, 7);
  EXPECT_DOUBLE_EQ(r->makespan, 12);
}

TEST(Simulator, LocalTurnOfDualPipeVHasNoLatency) {
  // Stage N-1 -> N sits on rank N-1: a latency must not delay it.
  Schedule s = mustGenerate(ScheduleKind::DualPipeV, 2, 4);
  CostModel c;
  c.linkLatency = 10;
  Expected<SimulationResult> r = simulate(s, c);
  ASSERT_TRUE(r.ok());
  // Rank 1: 1F0 starts at 1 + 10 = 11 and 2F0 right after it, at 12.
  EXPECT_EQ(r->ranks[1].timeline[0].start, 11);
  EXPECT_EQ(r->ranks[1].timeline[1].action, Action::forward(2, 0));
  EXPECT_EQ(r->ranks[1].timeline[1].start, 12);
}

TEST(Simulator, PeakActivationBytes) {
  Schedule s = mustGenerate(ScheduleKind::OneFOneB, 4, 8);
  CostModel c;
  c.activationBytes = {10, 20, 30, 40};
  Expected<SimulationResult> r = simulate(s, c);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ranks[0].peakActivations, 4);
  EXPECT_EQ(r->ranks[0].peakActivationBytes, 40);
  EXPECT_EQ(r->ranks[3].peakActivationBytes, 40);
  EXPECT_EQ(r->maxPeakActivationBytes(), 60); // rank 2: 2 x 30
}

TEST(Simulator, PairCountsItsForwardBeforeItsBackward) {
  // Rank 0 of DualPipe N=4: 0F0,0F1,0F2,7F4 (4 live), 7I4 (3), 7W4, 7F5 (4),
  // pair(0F3;7B5): 5 at its F, then 4. Peak N+1 = 5.
  Schedule s = mustGenerate(ScheduleKind::DualPipe, 4, 8);
  EXPECT_EQ(peakActivations(s)[0], 5);
}

TEST(Simulator, ReportsACycle) {
  Expected<Schedule> s = parseCSV("0F0,0B0,0F1,0B1\n1F1,1B1,1F0,1B0\n");
  ASSERT_TRUE(s.ok());
  Expected<SimulationResult> r = simulate(*s, CostModel{});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("never arrives"), std::string::npos);
}
