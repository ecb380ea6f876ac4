//===- GeneratorTest.cpp - Exact action sequences worked out by hand ------===//
//
// Each expectation below was derived by hand from the step tables and
// definitions of docs/schedules/contract.md, not from the generator's output.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"

#include "dualpipe/Schedule/Simulator.h"
#include "dualpipe/Schedule/Validator.h"

#include <tuple>

using namespace dualpipe::sched;
using namespace dualpipe::sched::test;

TEST(Generator, DualPipeN2M4) {
  // P=1: both ranks are middle ranks, h=0. Repeats 0,1,0,1,0,1,0,1.
  // Rank 0: near = stage 0 (mb 0..1), far = stage 3 (mb 2..3).
  // Rank 1: near = stage 2 (mb 2..3), far = stage 1 (mb 0..1).
  Schedule s = mustGenerate(ScheduleKind::DualPipe, 2, 4);
  EXPECT_EQ(rankLine(s, 0), "0F0,3F2,0F1,3B2,(3F3;0B0)OVERLAP_F_B,3B3,0I1,0W1");
  EXPECT_EQ(rankLine(s, 1), "2F2,1F0,2F3,1B0,(1F1;2B2)OVERLAP_F_B,1B1,2I3,2W3");
}

TEST(Generator, DualPipeN4M8Rank0) {
  // N=4, P=2, rank 0: h=0, not middle. Repeats 2,1,1,1,1,1,1,1.
  // near = stage 0 (mb 0..3), far = stage 7 (mb 4..7).
  Schedule s = mustGenerate(ScheduleKind::DualPipe, 4, 8);
  EXPECT_EQ(rankLine(s, 0),
            "0F0,0F1,"                                    // step 1
            "0F2,7F4,"                                    // step 2
            "7I4,7W4,7F5,"                                // step 3
            "(0F3;7B5)OVERLAP_F_B,(7F6;0B0)OVERLAP_F_B,"  // step 4
            "7B6,(7F7;0B1)OVERLAP_F_B,"                   // step 5
            "7B7,0I2,"                                    // step 6: 1 B then 1 I
            "0W2,0I3,"                                    // step 7
            "0W3");                                       // step 8
  // Rank 1 is a middle rank (h=1): repeats 0,2,0,2,0,2,0,2 and the first
  // pair of step 4 is split into F near, B far.
  EXPECT_EQ(rankLine(s, 1),
            "1F0,6F4,1F1,6F5,"
            "1F2,6B4,(6F6;1B0)OVERLAP_F_B,(1F3;6B5)OVERLAP_F_B,(6F7;1B1)OVERLAP_F_B,"
            "6B6,1B2,6I7,1I3,"
            "6W7,1W3");
}

TEST(Generator, DualPipeVN2M4) {
  // Rank 0: repeats 2,1,1,1,1,1,1,1; near = stage 0, far = stage 3.
  Schedule s = mustGenerate(ScheduleKind::DualPipeV, 2, 4);
  EXPECT_EQ(rankLine(s, 0),
            "0F0,0F1,0F2,3F0,3I0,3W0,3F1,(0F3;3B1)OVERLAP_F_B,(3F2;0B0)OVERLAP_F_B,"
            "3B2,(3F3;0B1)OVERLAP_F_B,3B3,0I2,0W2,0I3,0W3");
  // Rank 1 (last): repeats 0,2,0,2,0,2,0,2; first pair of step 4 split.
  EXPECT_EQ(rankLine(s, 1),
            "1F0,2F0,1F1,2F1,1F2,2B0,(2F2;1B0)OVERLAP_F_B,(1F3;2B1)OVERLAP_F_B,"
            "(2F3;1B1)OVERLAP_F_B,2B2,1B2,2I3,1I3,2W3,1W3");
}

TEST(Generator, OneFOneBN2M3) {
  Schedule s = mustGenerate(ScheduleKind::OneFOneB, 2, 3);
  EXPECT_EQ(rankLine(s, 0), "0F0,0F1,0B0,0F2,0B1,0B2");
  EXPECT_EQ(rankLine(s, 1), "1F0,1B0,1F1,1B1,1F2,1B2");
}

TEST(Generator, ZBH1N2M3) {
  // Rank r holds back its first r W's.
  Schedule s = mustGenerate(ScheduleKind::ZBH1, 2, 3);
  EXPECT_EQ(rankLine(s, 0), "0F0,0F1,0I0,0W0,0F2,0I1,0W1,0I2,0W2");
  EXPECT_EQ(rankLine(s, 1), "1F0,1I0,1F1,1I1,1W0,1F2,1I2,1W1,1W2");
}

TEST(Generator, GPipeN2M2) {
  Schedule s = mustGenerate(ScheduleKind::GPipe, 2, 2);
  EXPECT_EQ(rankLine(s, 0), "0F0,0F1,0B0,0B1");
  EXPECT_EQ(rankLine(s, 1), "1F0,1F1,1B0,1B1");
}

TEST(Generator, InterleavedN2M2V2) {
  // M == N warms up as torch does: (v-1)M + 2(N-1-r) forwards, i.e. all 4
  // on rank 0 but only 2 on rank 1 (peak 3 instead of Megatron's 4).
  // Stage = chunk * N + r.
  Schedule s = mustGenerate(ScheduleKind::Interleaved1F1B, 2, 2, 2);
  EXPECT_EQ(rankLine(s, 0), "0F0,0F1,2F0,2F1,2B0,2B1,0B0,0B1");
  EXPECT_EQ(rankLine(s, 1), "1F0,1F1,3F0,3B0,3F1,3B1,1B0,1B1");
  EXPECT_EQ(peakActivations(s), (std::vector<int>{4, 3}));
  EXPECT_EQ(s.numStages, 4);
  EXPECT_EQ(s.stageToRank, (std::vector<int>{0, 1, 0, 1}));
}

TEST(Generator, InterleavedWarmupN2M4V2) {
  // Rank 0 warm-up: 2(N-r-1) + (v-1)N = 4 forwards, then 1F1B.
  Schedule s = mustGenerate(ScheduleKind::Interleaved1F1B, 2, 4, 2);
  EXPECT_EQ(rankLine(s, 0), "0F0,0F1,2F0,2F1,0F2,2B0,0F3,2B1,2F2,0B0,2F3,0B1,"
                            "2B2,2B3,0B2,0B3");
}

TEST(Generator, InterleavedMNotAMultipleOfN) {
  // N=2, M=3, v=2: one round of 3 (torch: max(1, M/N) rounds of M/rounds).
  // Forwards: chunk 0 on 0..2, then chunk 1; backwards: chunk 1 first.
  // Warm-up (v-1)*3 + 2(N-1-r): 5 on rank 0, 3 on rank 1.
  Schedule s = mustGenerate(ScheduleKind::Interleaved1F1B, 2, 3, 2);
  EXPECT_EQ(rankLine(s, 0), "0F0,0F1,0F2,2F0,2F1,2F2,2B0,2B1,2B2,0B0,0B1,0B2");
  EXPECT_EQ(rankLine(s, 1), "1F0,1F1,1F2,3F0,3B0,3F1,3B1,3F2,3B2,1B0,1B1,1B2");
}

TEST(Generator, LoopedBFSN2M2V2) {
  // Every micro-batch through chunk 0, then chunk 1; backwards last chunk
  // and last micro-batch first (torch's ScheduleLoopedBFS).
  Schedule s = mustGenerate(ScheduleKind::LoopedBFS, 2, 2, 2);
  EXPECT_EQ(rankLine(s, 0), "0F0,0F1,2F0,2F1,2B1,2B0,0B1,0B0");
  EXPECT_EQ(rankLine(s, 1), "1F0,1F1,3F0,3F1,3B1,3B0,1B1,1B0");
}

TEST(Generator, InterleavedZBN2M2V2) {
  // Warm-up (v-1)*2 + (N-1-r): 3 on rank 0, 2 on rank 1; then F, I and,
  // from the (r+1)-th I on, a W of the oldest pending I.
  Schedule s = mustGenerate(ScheduleKind::InterleavedZB, 2, 2, 2);
  EXPECT_EQ(rankLine(s, 0), "0F0,0F1,2F0,2F1,2I0,2W0,2I1,2W1,0I0,0W0,0I1,0W1");
  EXPECT_EQ(rankLine(s, 1), "1F0,1F1,3F0,3I0,3F1,3I1,3W0,1I0,3W1,1I1,1W0,1W1");
}

TEST(Generator, ZBH1WithFewerMicrobatchesThanRanks) {
  // N=3, M=2: warm-up min(N-r-1, M) = 2, 1, 0; rank r holds back r W's.
  Schedule s = mustGenerate(ScheduleKind::ZBH1, 3, 2);
  EXPECT_EQ(rankLine(s, 0), "0F0,0F1,0I0,0W0,0I1,0W1");
  EXPECT_EQ(rankLine(s, 1), "1F0,1F1,1I0,1I1,1W0,1W1");
  EXPECT_EQ(rankLine(s, 2), "2F0,2I0,2F1,2I1,2W0,2W1");
}

TEST(Generator, ZBVWithOneMicrobatch) {
  // N=2, M=1: built for max(M, 2N-1) = 3 micro-batches, then only the
  // actions of micro-batch 0 kept (as torch's ScheduleZBVZeroBubble).
  Schedule s = mustGenerate(ScheduleKind::ZBV, 2, 1);
  EXPECT_EQ(rankLine(s, 0), "0F0,3F0,3I0,3W0,0I0,0W0");
  EXPECT_EQ(rankLine(s, 1), "1F0,2F0,2I0,2W0,1I0,1W0");
}

TEST(Generator, VMinN2M2) {
  // Building block (N=2, no gap): rank 0 runs F0, F1, I1, I0 at slots 0, 3,
  // 4, 7 (+6 per micro-batch), rank 1 at 1, 2, 5, 6. The block peaks at 2
  // live activations. Squeezing moves only rank 0's F0 of micro-batch 1,
  // from slot 6 to 5 (the earliest free slot after which at most 2 stay
  // live); rank 1's F0 of micro-batch 1 cannot move (slot 6 is taken).
  // Slots then: rank 0: 0 F0, 3 F1, 4 I1, 5 F0', 7 I0, 9 F1', 10 I1',
  // 13 I0'; rank 1: 1 F0, 2 F1, 5 I1, 6 I0, 7 F0', 8 F1', 11 I1', 12 I0'.
  // W's fill the free slots, oldest I first: rank 0 slots 6, 8, 11, then
  // one at the end; rank 1 slots 9, 10, then two at the end.
  Schedule s = mustGenerate(ScheduleKind::VMin, 2, 2);
  EXPECT_EQ(s.stageToRank, (std::vector<int>{0, 1, 1, 0}));
  EXPECT_EQ(rankLine(s, 0), "0F0,3F0,3I0,0F1,3W0,0I0,0W0,3F1,3I1,3W1,0I1,0W1");
  EXPECT_EQ(rankLine(s, 1), "1F0,2F0,2I0,1I0,1F1,2F1,2W0,1W0,2I1,1I1,2W1,1W1");
  EXPECT_EQ(peakActivations(s), (std::vector<int>{2, 2}));
}

TEST(Generator, VHalfN2M2) {
  // Building block (N=2, gap 3): rank 0 at slots 0, 4, 8, 13, rank 1 at
  // 2, 3, 10, 12; rank 1's block peaks at 4 live. Squeezing, in slot
  // order: rank 1's F0 2->1 and F1 3->2, rank 0's F1 4->3, rank 0's F0 of
  // micro-batch 1 6->1, rank 0's I1 8->4, rank 1's F0' 8->3 and F1' 9->4,
  // rank 0's F1' 10->5, rank 1's I1 10->5 and I0 12->6, rank 0's I0 13->7
  // and I1' 14->6, rank 1's I1' 16->7 and I0' 18->8, rank 0's I0' 19->9.
  // Free slots for W: rank 0 only 8 (2 is before any I), rank 1 none.
  Schedule s = mustGenerate(ScheduleKind::VHalf, 2, 2);
  EXPECT_EQ(rankLine(s, 0), "0F0,0F1,3F0,3I0,3F1,3I1,0I0,3W0,0I1,3W1,0W0,0W1");
  EXPECT_EQ(rankLine(s, 1), "1F0,2F0,1F1,2F1,2I0,1I0,2I1,1I1,2W0,1W0,2W1,1W1");
  EXPECT_EQ(peakActivations(s), (std::vector<int>{3, 4}));
}

TEST(Generator, ZBVPlacement) {
  Schedule s = mustGenerate(ScheduleKind::ZBV, 3, 6);
  EXPECT_EQ(s.numStages, 6);
  EXPECT_EQ(s.stageToRank, (std::vector<int>{0, 1, 2, 2, 1, 0}));
  ASSERT_EQ(s.pipelines.size(), 1u);
  // Rank 0 warm-up: 2(N-r)-1 = 5 chunk-0 forwards, then (F1, I1, W1).
  EXPECT_EQ(rankLine(s, 0).substr(0, 35), "0F0,0F1,0F2,0F3,0F4,5F0,5I0,5W0,5F1");
}

TEST(Generator, DualPipePlacementAndPipelines) {
  Schedule s = mustGenerate(ScheduleKind::DualPipe, 4, 8);
  EXPECT_EQ(s.stageToRank, (std::vector<int>{0, 1, 2, 3, 3, 2, 1, 0}));
  ASSERT_EQ(s.pipelines.size(), 2u);
  EXPECT_EQ(s.pipelines[0].stages, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(s.pipelines[1].stages, (std::vector<int>{4, 5, 6, 7}));
  EXPECT_EQ(s.pipelines[0].firstMicrobatch, 0);
  EXPECT_EQ(s.pipelines[1].firstMicrobatch, 4);
  EXPECT_EQ(s.pipelines[1].numMicrobatches, 4);
}

static std::string configError(ScheduleKind k, int n, int m, int v = 2) {
  Expected<Schedule> s = generate({k, n, m, v});
  EXPECT_FALSE(s.ok());
  return s.ok() ? "" : s.error().message;
}

TEST(Generator, RejectsInvalidConfigurationsWithTheRule) {
  EXPECT_EQ(configError(ScheduleKind::DualPipe, 3, 12),
            "DualPipe needs an even number of ranks, got 3; use --schedule=dualpipev "
            "for odd counts");
  EXPECT_NE(configError(ScheduleKind::DualPipe, 4, 9).find("even number of micro-batches"),
            std::string::npos);
  EXPECT_NE(configError(ScheduleKind::DualPipe, 4, 6).find("M >= 8"), std::string::npos);
  EXPECT_NE(configError(ScheduleKind::DualPipeV, 4, 7).find("M >= 8"), std::string::npos);
  EXPECT_NE(configError(ScheduleKind::OneFOneB, 4, 3).find("M >= N"), std::string::npos);
  EXPECT_NE(configError(ScheduleKind::Interleaved1F1B, 4, 6, 0).find("at least 1 chunk"),
            std::string::npos);
  EXPECT_NE(configError(ScheduleKind::GPipe, 0, 4).find("at least 1"), std::string::npos);
  EXPECT_NE(configError(ScheduleKind::Custom, 2, 4).find("custom"), std::string::npos);
}

TEST(Generator, BuildsWhatTorchBuilds) {
  // torch builds ZB-H1 with M < N, ZB-V with M < 2N-1 and interleaved with
  // M % N != 0 (M % max(1, M/N) == 0); so do we, and any M beyond.
  for (auto [k, n, m] : {std::tuple{ScheduleKind::ZBH1, 4, 3}, {ScheduleKind::ZBV, 4, 6},
                         {ScheduleKind::ZBV, 4, 1}, {ScheduleKind::Interleaved1F1B, 4, 6},
                         {ScheduleKind::Interleaved1F1B, 4, 10},
                         {ScheduleKind::Interleaved1F1B, 4, 9},
                         {ScheduleKind::InterleavedZB, 4, 3}}) {
    Expected<Schedule> s = generate({k, n, m, 2});
    ASSERT_TRUE(s.ok()) << scheduleName(k) << " " << s.error().message;
    EXPECT_TRUE(validate(*s).ok()) << scheduleName(k) << " N=" << n << " M=" << m;
  }
}

TEST(Generator, ScheduleNames) {
  EXPECT_EQ(parseScheduleName("interleaved-1f1b"), ScheduleKind::Interleaved1F1B);
  EXPECT_EQ(parseScheduleName("zbh1"), ScheduleKind::ZBH1);
  EXPECT_EQ(parseScheduleName("dualpipev"), ScheduleKind::DualPipeV);
  EXPECT_EQ(parseScheduleName("v-min"), ScheduleKind::VMin);
  EXPECT_EQ(parseScheduleName("v-half"), ScheduleKind::VHalf);
  EXPECT_FALSE(parseScheduleName("auto").has_value());
  for (ScheduleKind k : allScheduleKinds())
    EXPECT_EQ(parseScheduleName(scheduleName(k)), k);
}
