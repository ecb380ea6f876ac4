//===- CollectiveTest.cpp - all-reduce and barrier over local ranks -------===//

#include "RuntimeTestUtil.h"

#include <atomic>

using namespace dualpipe::test;

namespace {

/// Rank `rank`'s contribution in round `round`: values that do not sum
/// exactly, so a different summation order would show.
template <typename T> std::vector<T> contribution(int32_t rank, int round,
                                                  size_t count) {
  std::vector<T> values(count);
  for (size_t i = 0; i < count; ++i)
    values[i] = static_cast<T>(0.1 * (rank + 1) + 1e-3 * i - 0.37 * round) /
                static_cast<T>(3 + rank);
  return values;
}

/// The sum a serial loop over `group` (ascending) gives.
template <typename T>
std::vector<T> serialSum(std::vector<int32_t> group, int round, size_t count) {
  std::sort(group.begin(), group.end());
  std::vector<T> sum = contribution<T>(group[0], round, count);
  for (size_t m = 1; m < group.size(); ++m) {
    std::vector<T> next = contribution<T>(group[m], round, count);
    for (size_t i = 0; i < count; ++i)
      sum[i] += next[i];
  }
  return sum;
}

int32_t allReduce(std::vector<float> &data, const std::vector<int32_t> &group) {
  return dualpipe_rt_allreduce_sum_f32(data.data(), data.size(), group.data(),
                                       group.size());
}
int32_t allReduce(std::vector<double> &data,
                  const std::vector<int32_t> &group) {
  return dualpipe_rt_allreduce_sum_f64(data.data(), data.size(), group.data(),
                                       group.size());
}

template <typename T> class AllReduce : public ::testing::Test {};
using ElementTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(AllReduce, ElementTypes);

TYPED_TEST(AllReduce, MirrorPairsMatchSerialSum) {
  // DualPipe's mirror gradients: ranks i and N-1-i, as two concurrent groups
  // (the group may be given in any order).
  constexpr size_t kCount = 1001; // Not a multiple of the group size.
  WorldPtr world = makeWorld(4);
  runRanks(world.get(), [&](int32_t rank) {
    std::vector<int32_t> group = {rank, 3 - rank};
    for (int round = 0; round < 5; ++round) {
      std::vector<TypeParam> data = contribution<TypeParam>(rank, round, kCount);
      ASSERT_EQ(allReduce(data, group), 0) << lastError();
      EXPECT_EQ(data, serialSum<TypeParam>(group, round, kCount))
          << "rank " << rank << " round " << round;
    }
  });
  EXPECT_EQ(dualpipe_world_failed(world.get()), 0) << worldError(world.get());
}

TYPED_TEST(AllReduce, WholeWorldMatchesSerialSum) {
  constexpr size_t kCount = 257;
  WorldPtr world = makeWorld(5);
  std::vector<int32_t> everyone = {4, 2, 0, 1, 3};
  runRanks(world.get(), [&](int32_t rank) {
    for (int round = 0; round < 5; ++round) {
      std::vector<TypeParam> data = contribution<TypeParam>(rank, round, kCount);
      ASSERT_EQ(allReduce(data, everyone), 0) << lastError();
      EXPECT_EQ(data, serialSum<TypeParam>(everyone, round, kCount))
          << "rank " << rank << " round " << round;
    }
  });
  EXPECT_EQ(dualpipe_world_failed(world.get()), 0) << worldError(world.get());
}

TEST(AllReduce, SingleRankGroupAndZeroCount) {
  WorldPtr world = makeWorld(2);
  runRanks(world.get(), [&](int32_t rank) {
    std::vector<float> data = {1.5f, -2.0f};
    ASSERT_EQ(allReduce(data, {rank}), 0) << lastError();
    EXPECT_EQ(data, (std::vector<float>{1.5f, -2.0f}));
    std::vector<double> none;
    ASSERT_EQ(allReduce(none, {0, 1}), 0) << lastError();
  });
}

TEST(AllReduce, CountMismatchNamesBothCalls) {
  WorldPtr world = makeWorld(2);
  runRanks(world.get(), [&](int32_t rank) {
    std::vector<float> data(rank == 0 ? 8 : 6, 1.0f);
    EXPECT_NE(allReduce(data, {0, 1}), 0);
  });
  std::string error = worldError(world.get());
  // Whichever rank came second reports the disagreement.
  EXPECT_NE(error.find("all-reduce (sum of 8 f32) over ranks [0, 1]"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("all-reduce (sum of 6 f32) over ranks [0, 1]"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("disagree"), std::string::npos) << error;
}

TEST(AllReduce, RejectsBadGroups) {
  WorldPtr world = makeWorld(3);
  ASSERT_EQ(dualpipe_rt_bind(world.get(), 0), 0);
  std::vector<float> data(4);
  EXPECT_NE(allReduce(data, {1, 2}), 0);
  EXPECT_EQ(lastError(), "rank 0: all-reduce (sum of 4 f32) over ranks [1, 2]: "
                         "the calling rank is not a member of the group");
  dualpipe_rt_unbind();

  world = makeWorld(3);
  ASSERT_EQ(dualpipe_rt_bind(world.get(), 0), 0);
  EXPECT_NE(allReduce(data, {0, 1, 0}), 0);
  EXPECT_EQ(lastError(), "rank 0: all-reduce (sum of 4 f32) over ranks [0, 1, "
                         "0]: rank 0 appears twice in the group");
  dualpipe_rt_unbind();

  world = makeWorld(3);
  ASSERT_EQ(dualpipe_rt_bind(world.get(), 0), 0);
  EXPECT_NE(dualpipe_rt_allreduce_sum_f64(nullptr, 0, nullptr, 0), 0);
  EXPECT_EQ(lastError(), "rank 0: all-reduce (sum of 0 f64) over ranks []: "
                         "the group is empty");
  dualpipe_rt_unbind();

  world = makeWorld(3);
  ASSERT_EQ(dualpipe_rt_bind(world.get(), 0), 0);
  EXPECT_NE(allReduce(data, {0, 7}), 0);
  EXPECT_EQ(lastError(), "rank 0: all-reduce (sum of 4 f32) over ranks [0, 7]: "
                         "rank 7 of the group is outside the world of 3 ranks");
  dualpipe_rt_unbind();
}

TEST(AllReduce, TimeoutNamesTheMissingRanks) {
  WorldPtr world = makeWorld(4, 0.2);
  ASSERT_EQ(dualpipe_rt_bind(world.get(), 1), 0);
  dualpipe_rt_begin_action(DUALPIPE_ACTION_W, 1, 7);
  std::vector<double> data(3);
  EXPECT_NE(allReduce(data, {0, 1, 3}), 0);
  EXPECT_EQ(lastError(), "rank 1: all-reduce (sum of 3 f64) over ranks [0, 1, "
                         "3] during W of stage 1, micro-batch 7 timed out "
                         "after 0.2 s waiting for ranks 0, 3");
  dualpipe_rt_unbind();
}

TEST(Barrier, NoRankPassesBeforeAllArrive) {
  constexpr int32_t kRanks = 4;
  constexpr int kRounds = 20;
  WorldPtr world = makeWorld(kRanks);
  std::atomic<int> arrivals{0};
  runRanks(world.get(), [&](int32_t rank) {
    for (int round = 0; round < kRounds; ++round) {
      if ((round + rank) % 3 == 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      arrivals.fetch_add(1);
      ASSERT_EQ(dualpipe_rt_barrier(), 0) << lastError();
      EXPECT_GE(arrivals.load(), kRanks * (round + 1));
    }
  });
  EXPECT_EQ(arrivals.load(), kRanks * kRounds);
}

TEST(Barrier, TimeoutNamesTheMissingRank) {
  WorldPtr world = makeWorld(2, 0.2);
  ASSERT_EQ(dualpipe_rt_bind(world.get(), 0), 0);
  EXPECT_NE(dualpipe_rt_barrier(), 0);
  EXPECT_EQ(lastError(), "rank 0: barrier over all 2 ranks timed out after "
                         "0.2 s waiting for rank 1");
  dualpipe_rt_unbind();
}

TEST(Barrier, MixedWithAllReduceIsAnError) {
  WorldPtr world = makeWorld(2);
  runRanks(world.get(), [&](int32_t rank) {
    std::vector<float> data(2);
    EXPECT_NE(rank == 0 ? dualpipe_rt_barrier() : allReduce(data, {0, 1}), 0);
  });
  std::string error = worldError(world.get());
  EXPECT_NE(error.find("barrier over all 2 ranks"), std::string::npos) << error;
  EXPECT_NE(error.find("all-reduce (sum of 2 f32) over ranks [0, 1]"),
            std::string::npos)
      << error;
}

} // namespace
