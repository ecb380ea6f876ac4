//===- PostedRecvTest.cpp - Posted receives on the local transport --------===//
//
// dualpipe_rt_irecv posts a receive and returns; the sender's thread copies
// the message into the posted buffer while the receiver computes, and
// dualpipe_rt_wait only collects it. These tests show that from the outside:
// the bytes are in the buffer before the wait is reached, the timeline says
// the transfer ended before the wait began, and the summary counts it as
// hidden under compute.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestUtil.h"

#include <atomic>
#include <cstring>

using namespace dualpipe::test;

namespace {

dualpipe_comm_summary summaryOf(dualpipe_world *world, int32_t rank) {
  dualpipe_comm_summary s{};
  EXPECT_EQ(dualpipe_world_comm_summary(world, rank, &s), 0) << lastError();
  return s;
}

TEST(PostedRecv, CompletesWhileTheReceiverComputes) {
  WorldPtr world = makeWorld(2);
  std::atomic<int> stage{0}; // 1: posted; 2: sent
  std::vector<float> buffer(1024, -1.0f);
  bool filledBeforeWait = false;
  runRanks(world.get(), [&](int32_t rank) {
    if (rank == 0) {
      std::vector<float> data(1024);
      for (size_t i = 0; i < data.size(); ++i)
        data[i] = float(i);
      while (stage.load() < 1)
        std::this_thread::yield();
      ASSERT_EQ(dualpipe_rt_send(1, 5, data.data(), data.size() * 4), 0);
      stage.store(2);
      return;
    }
    int64_t request = dualpipe_rt_irecv(0, 5, buffer.data(), buffer.size() * 4);
    ASSERT_GE(request, 0) << lastError();
    stage.store(1);
    dualpipe_rt_begin_action(DUALPIPE_ACTION_F, 1, 0);
    while (stage.load() < 2) // "compute" until the sender is done
      std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    // The sender's send has returned: the bytes are already here.
    filledBeforeWait = buffer[1023] == 1023.0f && buffer[1] == 1.0f;
    dualpipe_rt_end_action();
    ASSERT_EQ(dualpipe_rt_wait(request), 0) << lastError();
  });
  EXPECT_EQ(dualpipe_world_failed(world.get()), 0) << worldError(world.get());
  EXPECT_TRUE(filledBeforeWait);
  EXPECT_EQ(buffer[512], 512.0f);
  dualpipe_comm_summary s = summaryOf(world.get(), 1);
  EXPECT_EQ(s.messages, 1);
  EXPECT_GT(s.transfer_ms, 0.0);
  // The whole transfer ran inside the F action.
  EXPECT_DOUBLE_EQ(s.transfer_hidden_ms, s.transfer_ms);
}

TEST(PostedRecv, LinksStayFifoAcrossPostedAndQueuedMessages) {
  WorldPtr world = makeWorld(2);
  std::atomic<int> phase{0};
  runRanks(world.get(), [&](int32_t rank) {
    if (rank == 0) {
      for (int32_t i = 0; i < 3; ++i) // queued before any post
        ASSERT_EQ(dualpipe_rt_send(1, 2, &i, 4), 0);
      phase.store(1);
      while (phase.load() < 2)
        std::this_thread::yield();
      for (int32_t i = 3; i < 6; ++i) // into posted receives
        ASSERT_EQ(dualpipe_rt_send(1, 2, &i, 4), 0);
      return;
    }
    while (phase.load() < 1)
      std::this_thread::yield();
    int32_t got[6] = {-1, -1, -1, -1, -1, -1};
    int64_t requests[6];
    for (int i = 0; i < 6; ++i)
      requests[i] = dualpipe_rt_irecv(0, 2, &got[i], 4);
    phase.store(2);
    for (int i = 5; i >= 0; --i) // waited in the other order
      ASSERT_EQ(dualpipe_rt_wait(requests[i]), 0) << lastError();
    for (int i = 0; i < 6; ++i)
      EXPECT_EQ(got[i], i) << "receive " << i;
  });
  EXPECT_EQ(dualpipe_world_failed(world.get()), 0) << worldError(world.get());
}

TEST(PostedRecv, SizeMismatchIsReportedAtTheWait) {
  WorldPtr world = makeWorld(2);
  std::atomic<bool> posted{false};
  std::string error;
  runRanks(world.get(), [&](int32_t rank) {
    if (rank == 0) {
      while (!posted.load())
        std::this_thread::yield();
      double big[4] = {1, 2, 3, 4};
      dualpipe_rt_send(1, 0, big, sizeof big);
      return;
    }
    float small[4] = {7, 7, 7, 7};
    int64_t request = dualpipe_rt_irecv(0, 0, small, sizeof small);
    posted.store(true);
    EXPECT_NE(dualpipe_rt_wait(request), 0);
    error = lastError();
    EXPECT_EQ(small[0], 0.0f) << "a failed receive is zero-filled";
  });
  EXPECT_NE(error.find("rank 1: receive from rank 0 (tag 0)"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("the receive is for 16 bytes but the matching send "
                       "has 32 bytes"),
            std::string::npos)
      << error;
}

TEST(PostedRecv, TimeoutWithdrawsTheBufferAndWaitsAreChecked) {
  WorldPtr world = makeWorld(2, /*timeoutSeconds=*/0.2);
  std::string timeout, twice;
  runRanks(world.get(), [&](int32_t rank) {
    if (rank == 0)
      return;
    int32_t value = 5;
    int64_t request = dualpipe_rt_irecv(0, 9, &value, 4);
    EXPECT_NE(dualpipe_rt_wait(request), 0);
    timeout = lastError();
    EXPECT_EQ(value, 0);
    EXPECT_NE(dualpipe_rt_wait(request), 0);
    twice = lastError();
  });
  EXPECT_NE(timeout.find("rank 1: receive from rank 0 (tag 9) timed out "
                         "after 0.2 s"),
            std::string::npos)
      << timeout;
  EXPECT_NE(twice.find("wait for receive request 0"), std::string::npos)
      << twice;
}

TEST(PostedRecv, BadArgumentsFailThePostAndItsWait) {
  WorldPtr world = makeWorld(2);
  std::string error;
  runRanks(world.get(), [&](int32_t rank) {
    if (rank == 0)
      return;
    int32_t value = 3;
    int64_t request = dualpipe_rt_irecv(1, 0, &value, 4); // itself
    error = lastError();
    EXPECT_NE(dualpipe_rt_wait(request), 0);
  });
  EXPECT_NE(error.find("a rank cannot receive from itself"), std::string::npos)
      << error;
}

} // namespace

namespace {

/// Values whose float sum depends on the order of the additions.
std::vector<float> contribution(int32_t rank, size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = (rank == 0 ? 1e8f : rank == 1 ? -1e8f : 1.0f) * float(1 + i % 7) +
           0.1f * float(rank);
  return v;
}

} // namespace

// Members start their all-reduces in different orders (matched by tag);
// every member gets bitwise what the blocking all-reduce gives.
TEST(StartedAllReduce, MatchesByTagAndEqualsTheBlockingSum) {
  const size_t n = 1000;
  WorldPtr world = makeWorld(3);
  std::vector<std::vector<float>> a(3), b(3), blocking(3);
  runRanks(world.get(), [&](int32_t rank) {
    int32_t group[3] = {2, 0, 1}; // any order
    a[rank] = contribution(rank, n);
    b[rank] = contribution(2 - rank, n / 2);
    blocking[rank] = a[rank];
    ASSERT_EQ(dualpipe_rt_allreduce_sum_f32(blocking[rank].data(), n, group, 3),
              0)
        << lastError();
    int64_t ra, rb;
    if (rank == 1) { // the other order
      rb = dualpipe_rt_iallreduce_sum_f32(b[rank].data(), n / 2, group, 3, 8);
      ra = dualpipe_rt_iallreduce_sum_f32(a[rank].data(), n, group, 3, 7);
    } else {
      ra = dualpipe_rt_iallreduce_sum_f32(a[rank].data(), n, group, 3, 7);
      rb = dualpipe_rt_iallreduce_sum_f32(b[rank].data(), n / 2, group, 3, 8);
    }
    ASSERT_GE(ra, 0) << lastError();
    ASSERT_GE(rb, 0) << lastError();
    ASSERT_EQ(dualpipe_rt_wait(rb), 0) << lastError();
    ASSERT_EQ(dualpipe_rt_wait(ra), 0) << lastError();
  });
  ASSERT_EQ(dualpipe_world_failed(world.get()), 0) << worldError(world.get());
  for (int32_t r = 0; r < 3; ++r) {
    EXPECT_EQ(std::memcmp(a[r].data(), blocking[0].data(), n * 4), 0) << r;
    // The closed form where it is exact: contribution(2)+(1)+(0) at i = 0.
    float want = ((1e8f + 0.0f) + (-1e8f + 0.1f)) + (1.0f + 0.2f);
    EXPECT_EQ(a[r][0], want);
    EXPECT_EQ(std::memcmp(b[r].data(), b[0].data(), n / 2 * 4), 0) << r;
  }
}

// Rank 1 starts and then computes for 200 ms; rank 0 starts and waits at
// once. Rank 0's sum is there long before rank 1 is done computing (a
// blocking or wait-time exchange would hold rank 0 until rank 1's wait).
// The summary counts one all-reduce per rank, rank 1's under its compute.
TEST(StartedAllReduce, CompletesWhileAPeerComputes) {
  using Clock = std::chrono::steady_clock;
  WorldPtr world = makeWorld(2);
  std::vector<double> data[2];
  Clock::time_point summed, computed;
  runRanks(world.get(), [&](int32_t rank) {
    int32_t group[2] = {0, 1};
    data[rank].assign(4096, 0.5 + rank);
    int64_t r = dualpipe_rt_iallreduce_sum_f64(data[rank].data(), 4096, group,
                                               2, 0);
    ASSERT_GE(r, 0) << lastError();
    if (rank == 1) {
      dualpipe_rt_begin_action(DUALPIPE_ACTION_W, 1, 0);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      computed = Clock::now();
      dualpipe_rt_end_action();
    }
    ASSERT_EQ(dualpipe_rt_wait(r), 0) << lastError();
    if (rank == 0)
      summed = Clock::now();
  });
  ASSERT_EQ(dualpipe_world_failed(world.get()), 0) << worldError(world.get());
  EXPECT_EQ(data[0][4095], 2.0);
  EXPECT_EQ(data[1][0], 2.0);
  EXPECT_LT(summed, computed - std::chrono::milliseconds(100));
  for (int32_t rank = 0; rank < 2; ++rank) {
    dualpipe_comm_summary s = summaryOf(world.get(), rank);
    EXPECT_EQ(s.allreduces, 1) << rank;
    EXPECT_GE(s.allreduce_ms, 0.0) << rank; // 0: the bytes came first
    EXPECT_LE(s.allreduce_hidden_ms, s.allreduce_ms) << rank;
  }
  // Rank 0's bytes reached rank 1 while it computed: under 200 ms of compute
  // its exchange is at most a few ms, nearly all of it hidden.
  dualpipe_comm_summary late = summaryOf(world.get(), 1);
  EXPECT_LT(late.allreduce_ms, 50.0);
  EXPECT_LT(late.allreduce_ms - late.allreduce_hidden_ms, 5.0);
}

TEST(StartedAllReduce, BadCallsFailTheStartAndTheWait) {
  WorldPtr world = makeWorld(2);
  runRanks(world.get(), [&](int32_t rank) {
    if (rank != 0)
      return;
    float x = 1;
    int32_t group[2] = {0, 1};
    int64_t r = dualpipe_rt_iallreduce_sum_f32(&x, 1, group, 2, 1 << 20);
    EXPECT_GE(r, 0);
    EXPECT_NE(std::string(lastError()).find("the tag 1048576 is outside 0 to "
                                            "1048575"),
              std::string::npos)
        << lastError();
    EXPECT_NE(dualpipe_rt_wait(r), 0);
    EXPECT_EQ(x, 0.0f); // zero-filled, never half a sum
  });
  EXPECT_NE(dualpipe_world_failed(world.get()), 0);
}
