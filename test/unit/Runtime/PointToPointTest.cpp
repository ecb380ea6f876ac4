//===- PointToPointTest.cpp - send/recv over the local transport ----------===//

#include "RuntimeTestUtil.h"

#include <atomic>
#include <cstring>
#include <numeric>

using namespace dualpipe::test;

namespace {

TEST(PointToPoint, PingPong) {
  WorldPtr world = makeWorld(2);
  runRanks(world.get(), [](int32_t rank) {
    int64_t value = 0;
    for (int round = 0; round < 100; ++round) {
      if (rank == 0) {
        value = round * 10;
        ASSERT_EQ(dualpipe_rt_send(1, 0, &value, sizeof value), 0);
        ASSERT_EQ(dualpipe_rt_recv(1, 0, &value, sizeof value), 0);
        EXPECT_EQ(value, round * 10 + 1);
      } else {
        ASSERT_EQ(dualpipe_rt_recv(0, 0, &value, sizeof value), 0);
        ++value;
        ASSERT_EQ(dualpipe_rt_send(0, 0, &value, sizeof value), 0);
      }
    }
  });
  EXPECT_EQ(dualpipe_world_failed(world.get()), 0) << worldError(world.get());
}

TEST(PointToPoint, LinkIsFifo) {
  constexpr int kMessages = 2000;
  WorldPtr world = makeWorld(2);
  runRanks(world.get(), [](int32_t rank) {
    for (int i = 0; i < kMessages; ++i) {
      std::vector<int32_t> payload(1 + i % 7, i);
      if (rank == 0) {
        ASSERT_EQ(dualpipe_rt_send(1, 3, payload.data(),
                                   payload.size() * sizeof(int32_t)),
                  0);
      } else {
        std::vector<int32_t> got(payload.size(), -1);
        ASSERT_EQ(dualpipe_rt_recv(0, 3, got.data(),
                                   got.size() * sizeof(int32_t)),
                  0)
            << lastError();
        ASSERT_EQ(got, payload) << "message " << i << " out of order";
      }
    }
  });
}

TEST(PointToPoint, TagsAndSourcesMatchSeparately) {
  WorldPtr world = makeWorld(3);
  runRanks(world.get(), [](int32_t rank) {
    if (rank == 0 || rank == 1) {
      // Tag 1 first, then tag 2; the receiver asks in the other order.
      int32_t first = rank * 100 + 1, second = rank * 100 + 2;
      ASSERT_EQ(dualpipe_rt_send(2, 1, &first, 4), 0);
      ASSERT_EQ(dualpipe_rt_send(2, 2, &second, 4), 0);
      return;
    }
    int32_t value = 0;
    for (int32_t source : {1, 0})
      for (int64_t tag : {2, 1}) {
        ASSERT_EQ(dualpipe_rt_recv(source, tag, &value, 4), 0) << lastError();
        EXPECT_EQ(value, source * 100 + tag);
      }
  });
  EXPECT_EQ(dualpipe_world_failed(world.get()), 0) << worldError(world.get());
}

TEST(PointToPoint, ZeroByteMessage) {
  WorldPtr world = makeWorld(2);
  runRanks(world.get(), [](int32_t rank) {
    if (rank == 0)
      EXPECT_EQ(dualpipe_rt_send(1, 9, nullptr, 0), 0) << lastError();
    else
      EXPECT_EQ(dualpipe_rt_recv(0, 9, nullptr, 0), 0) << lastError();
  });
}

TEST(PointToPoint, SizeMismatchNamesBothSizes) {
  WorldPtr world = makeWorld(2);
  std::string message;
  runRanks(world.get(), [&](int32_t rank) {
    std::vector<unsigned char> buffer(64, 0xAB);
    if (rank == 0) {
      ASSERT_EQ(dualpipe_rt_send(1, 7, buffer.data(), 32), 0);
      return;
    }
    dualpipe_rt_begin_action(DUALPIPE_ACTION_B, 2, 5);
    EXPECT_NE(dualpipe_rt_recv(0, 7, buffer.data(), 64), 0);
    message = lastError();
    EXPECT_EQ(buffer, std::vector<unsigned char>(64, 0))
        << "a failed receive leaves the buffer zero-filled";
    dualpipe_rt_end_action();
  });
  EXPECT_EQ(message, "rank 1: receive from rank 0 (tag 7) during B of stage "
                     "2, micro-batch 5: the receive is for 64 bytes but the "
                     "matching send has 32 bytes (the two ranks disagree on "
                     "this buffer's shape or type)");
  EXPECT_EQ(worldError(world.get()), message);
  EXPECT_EQ(dualpipe_world_failed_rank(world.get()), 1);
}

/// Binds the calling thread to `rank` of a fresh world of `size`, runs `body`
/// and returns the error it left.
std::string errorOf(int32_t size, int32_t rank,
                    const std::function<int32_t()> &body) {
  WorldPtr world = makeWorld(size);
  EXPECT_EQ(dualpipe_rt_bind(world.get(), rank), 0);
  EXPECT_NE(body(), 0);
  std::string message = lastError();
  EXPECT_EQ(worldError(world.get()), message) << "the world fails too";
  dualpipe_rt_unbind();
  return message;
}

TEST(PointToPoint, BadPeerNamesRankAndWorldSize) {
  int32_t value = 1;
  EXPECT_EQ(errorOf(4, 1, [&] { return dualpipe_rt_send(5, 7, &value, 4); }),
            "rank 1: send to rank 5 (tag 7): rank 5 is outside the world of "
            "4 ranks (valid ranks are 0 to 3)");
  EXPECT_EQ(errorOf(4, 1, [&] { return dualpipe_rt_send(-1, 0, &value, 4); }),
            "rank 1: send to rank -1 (tag 0): rank -1 is outside the world of "
            "4 ranks (valid ranks are 0 to 3)");
  EXPECT_EQ(errorOf(4, 2, [&] { return dualpipe_rt_send(2, 0, &value, 4); }),
            "rank 2: send to rank 2 (tag 0): a rank cannot send to itself "
            "(world of 4 ranks)");
  EXPECT_EQ(errorOf(2, 0, [&] { return dualpipe_rt_recv(2, 1, &value, 4); }),
            "rank 0: receive from rank 2 (tag 1): rank 2 is outside the world "
            "of 2 ranks (valid ranks are 0 to 1)");
  EXPECT_EQ(errorOf(2, 0, [&] { return dualpipe_rt_send(1, 0, nullptr, 4); }),
            "rank 0: send to rank 1 (tag 0): the buffer is NULL");
  EXPECT_EQ(errorOf(2, 0, [&] { return dualpipe_rt_recv(1, 0, &value, -4); }),
            "rank 0: receive from rank 1 (tag 0): the byte count is negative "
            "(-4)");
}

TEST(PointToPoint, TimeoutNamesRankPeerTagAndAction) {
  WorldPtr world = makeWorld(2, 0.2);
  ASSERT_EQ(dualpipe_rt_bind(world.get(), 1), 0);
  dualpipe_rt_begin_action(DUALPIPE_ACTION_F, 1, 3);
  float buffer[4];
  auto start = std::chrono::steady_clock::now();
  EXPECT_NE(dualpipe_rt_recv(0, 7, buffer, sizeof buffer), 0);
  double waited = secondsSince(start);
  EXPECT_GE(waited, 0.19);
  EXPECT_LT(waited, 2.0);
  EXPECT_EQ(lastError(),
            "rank 1: receive from rank 0 (tag 7) during F of stage 1, "
            "micro-batch 3 timed out after 0.2 s (nothing unreceived from "
            "rank 0: its matching send is missing, late, or it is blocked "
            "itself)");
  EXPECT_EQ(worldError(world.get()), lastError());
  dualpipe_rt_end_action();
  dualpipe_rt_unbind();
}

// Compiled steps wait for a message between actions, just before the one
// that uses it: the message names the action the rank finished last.
TEST(PointToPoint, TimeoutBetweenActionsNamesTheLastOne) {
  WorldPtr world = makeWorld(2, 0.2);
  ASSERT_EQ(dualpipe_rt_bind(world.get(), 1), 0);
  dualpipe_rt_begin_action(DUALPIPE_ACTION_F, 1, 2);
  dualpipe_rt_end_action();
  float buffer[4];
  EXPECT_NE(dualpipe_rt_recv(0, 7, buffer, sizeof buffer), 0);
  EXPECT_EQ(lastError(),
            "rank 1: receive from rank 0 (tag 7) following F of stage 1, "
            "micro-batch 2 timed out after 0.2 s (nothing unreceived from "
            "rank 0: its matching send is missing, late, or it is blocked "
            "itself)");
  dualpipe_rt_unbind();
}

TEST(PointToPoint, TimeoutPointsAtATagMismatch) {
  WorldPtr world = makeWorld(2, 0.2);
  std::string message;
  runRanks(world.get(), [&](int32_t rank) {
    int32_t value = 0;
    if (rank == 0) {
      ASSERT_EQ(dualpipe_rt_send(1, 8, &value, 4), 0);
      return;
    }
    dualpipe_rt_begin_action(DUALPIPE_ACTION_PAIR, 0, 2);
    dualpipe_rt_begin_action(DUALPIPE_ACTION_I, 3, 1);
    EXPECT_NE(dualpipe_rt_recv(0, 7, &value, 4), 0);
    message = lastError();
  });
  EXPECT_EQ(message, "rank 1: receive from rank 0 (tag 7) during I of stage "
                     "3, micro-batch 1 inside F&B of stage 0, micro-batch 2 "
                     "timed out after 0.2 s (rank 0 did send messages with "
                     "tag 8: do the two ranks disagree on the tag?)");
}

TEST(PointToPoint, FailingRankReleasesAllOthersQuickly) {
  constexpr int32_t kRanks = 6;
  WorldPtr world = makeWorld(kRanks, 10.0);
  std::vector<std::string> errors(kRanks);
  std::vector<double> finishedAfter(kRanks);
  auto start = std::chrono::steady_clock::now();
  runRanks(world.get(), [&](int32_t rank) {
    std::vector<float> buffer(16, 1.0f);
    int32_t pair[] = {2, 3};
    int32_t code = 0;
    switch (rank) {
    case 0: // Fails after the others are blocked.
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      dualpipe_rt_fail("loss is NaN at micro-batch 4");
      code = 1;
      break;
    case 1:
      code = dualpipe_rt_recv(0, 1, buffer.data(), 64);
      EXPECT_EQ(buffer, std::vector<float>(16, 0.0f));
      break;
    case 2:
      code = dualpipe_rt_recv(0, 2, buffer.data(), 64);
      break;
    case 3: // Rank 2 never joins: rank 3 waits alone.
      code = dualpipe_rt_allreduce_sum_f32(buffer.data(), 16, pair, 2);
      break;
    case 4:
      code = dualpipe_rt_barrier();
      break;
    default:
      code = dualpipe_rt_recv(4, 1, buffer.data(), 64);
      break;
    }
    EXPECT_NE(code, 0) << "rank " << rank;
    errors[rank] = lastError();
    finishedAfter[rank] = secondsSince(start);
    // Later calls fail at once too.
    EXPECT_NE(dualpipe_rt_send(rank == 0 ? 1 : 0, 0, buffer.data(), 4), 0);
  });
  const std::string first = "rank 0: loss is NaN at micro-batch 4";
  EXPECT_EQ(worldError(world.get()), first);
  EXPECT_EQ(dualpipe_world_failed_rank(world.get()), 0);
  for (int32_t rank = 0; rank < kRanks; ++rank) {
    EXPECT_LT(finishedAfter[rank], 1.0) << "rank " << rank << " was not "
                                        << "released well before the timeout";
    if (rank == 0)
      continue;
    EXPECT_NE(errors[rank].find("abandoned because the world failed: " + first),
              std::string::npos)
        << errors[rank];
    EXPECT_EQ(errors[rank].rfind("rank " + std::to_string(rank) + ": ", 0), 0u)
        << errors[rank];
  }
}

TEST(PointToPoint, HostFailureReleasesBlockedRanks) {
  WorldPtr world = makeWorld(2, 10.0);
  std::thread host([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    dualpipe_world_fail(world.get(), -1, "interrupted by the user");
  });
  auto start = std::chrono::steady_clock::now();
  runRanks(world.get(), [](int32_t rank) {
    double value;
    EXPECT_NE(dualpipe_rt_recv(1 - rank, 0, &value, sizeof value), 0);
  });
  host.join();
  EXPECT_LT(secondsSince(start), 1.0);
  EXPECT_EQ(worldError(world.get()), "interrupted by the user");
  EXPECT_EQ(dualpipe_world_failed_rank(world.get()), -1);
}

TEST(PointToPoint, OnlyTheFirstFailureIsKept) {
  WorldPtr world = makeWorld(3);
  dualpipe_world_fail(world.get(), 2, "first");
  dualpipe_world_fail(world.get(), 1, "second");
  EXPECT_EQ(dualpipe_world_failed(world.get()), 1);
  EXPECT_EQ(worldError(world.get()), "rank 2: first");
  EXPECT_EQ(dualpipe_world_failed_rank(world.get()), 2);
}

} // namespace
