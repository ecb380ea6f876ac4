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
