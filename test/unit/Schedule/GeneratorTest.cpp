//===- GeneratorTest.cpp - Exact action sequences worked out by hand ------===//
//
// Each expectation below was derived by hand from the step tables and
// definitions of docs/schedules/contract.md, not from the generator's output.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"

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
  // M == N: Megatron runs every forward as warm-up. Stage = chunk * N + r.
  Schedule s = mustGenerate(ScheduleKind::Interleaved1F1B, 2, 2, 2);
  EXPECT_EQ(rankLine(s, 0), "0F0,0F1,2F0,2F1,2B0,2B1,0B0,0B1");
  EXPECT_EQ(rankLine(s, 1), "1F0,1F1,3F0,3F1,3B0,3B1,1B0,1B1");
  EXPECT_EQ(s.numStages, 4);
  EXPECT_EQ(s.stageToRank, (std::vector<int>{0, 1, 0, 1}));
}

TEST(Generator, InterleavedWarmupN2M4V2) {
  // Rank 0 warm-up: 2(N-r-1) + (v-1)N = 4 forwards, then 1F1B.
  Schedule s = mustGenerate(ScheduleKind::Interleaved1F1B, 2, 4, 2);
  EXPECT_EQ(rankLine(s, 0), "0F0,0F1,2F0,2F1,0F2,2B0,0F3,2B1,2F2,0B0,2F3,0B1,"
                            "2B2,2B3,0B2,0B3");
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
  EXPECT_NE(configError(ScheduleKind::ZBH1, 4, 3).find("M >= N"), std::string::npos);
  EXPECT_NE(configError(ScheduleKind::Interleaved1F1B, 4, 6).find("M % N == 0"),
            std::string::npos);
  EXPECT_NE(configError(ScheduleKind::ZBV, 4, 6).find("2N-1"), std::string::npos);
  EXPECT_NE(configError(ScheduleKind::GPipe, 0, 4).find("at least 1"), std::string::npos);
  EXPECT_NE(configError(ScheduleKind::Custom, 2, 4).find("custom"), std::string::npos);
}

TEST(Generator, ScheduleNames) {
  EXPECT_EQ(parseScheduleName("interleaved-1f1b"), ScheduleKind::Interleaved1F1B);
  EXPECT_EQ(parseScheduleName("zbh1"), ScheduleKind::ZBH1);
  EXPECT_EQ(parseScheduleName("dualpipev"), ScheduleKind::DualPipeV);
  EXPECT_FALSE(parseScheduleName("auto").has_value());
  for (ScheduleKind k : allScheduleKinds())
    EXPECT_EQ(parseScheduleName(scheduleName(k)), k);
}
