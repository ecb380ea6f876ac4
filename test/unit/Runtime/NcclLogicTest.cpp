//===- NcclLogicTest.cpp - the nccl transport's bookkeeping, on the CPU ---===//
//
// What the nccl transport decides without a GPU: the position of each
// message on its directed link (how NCCL matches messages, having no tags),
// the keys and tags of group communicators, the watchdog's clock and its
// message, the choice of GPU from the launcher's environment. Also the C
// ABI's answer when the nccl backend cannot start here.
//
//===----------------------------------------------------------------------===//

#include "NcclTransport.h"

#include "dualpipe/Runtime/Runtime.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

using namespace dualpipe::rt::nccl;
using std::chrono::milliseconds;

namespace {

TEST(NcclLedger, NumbersMessagesPerDirectedLink) {
  LinkLedger ledger;
  EXPECT_EQ(ledger.post(1, Direction::Out, 7, 64).index, 0u);
  EXPECT_EQ(ledger.post(1, Direction::Out, 9, 32).index, 1u);
  // The other direction and other peers count on their own.
  EXPECT_EQ(ledger.post(1, Direction::In, 7, 64).index, 0u);
  EXPECT_EQ(ledger.post(2, Direction::Out, 7, 64).index, 0u);
  EXPECT_EQ(ledger.post(1, Direction::Out, 7, 64).index, 2u);
  EXPECT_EQ(ledger.count(1, Direction::Out), 3u);
  EXPECT_EQ(ledger.count(1, Direction::In), 1u);
  EXPECT_EQ(ledger.count(3, Direction::In), 0u);
}

TEST(NcclLedger, SendsAndReceivesInTheSameOrderMatchByPosition) {
  // Rank 0 sends tags 5, 6, 5 to rank 1; rank 1 receives in the same order:
  // the n-th receive meets the n-th send, so the tags agree.
  LinkLedger sender, receiver;
  std::vector<int64_t> tags = {5, 6, 5, 8};
  std::map<uint64_t, int64_t> sent;
  for (int64_t tag : tags)
    sent[sender.post(1, Direction::Out, tag, 16).index] = tag;
  for (int64_t tag : tags) {
    LinkLedger::Message m = receiver.post(0, Direction::In, tag, 16);
    EXPECT_EQ(sent.at(m.index), tag);
  }
}

TEST(NcclLedger, KeepsTheLastMessagesAndSaysWhereOneIs) {
  LinkLedger ledger;
  for (int64_t tag = 0; tag < 20; ++tag)
    ledger.post(3, Direction::In, tag, 4);
  std::vector<LinkLedger::Message> recent = ledger.recent(3, Direction::In);
  ASSERT_EQ(recent.size(), 8u);
  EXPECT_EQ(recent.front().tag, 12);
  EXPECT_EQ(recent.back().index, 19u);
  EXPECT_EQ(LinkLedger::where(1, 3, Direction::In, 19),
            "message 19 on the link 3 -> 1");
  EXPECT_EQ(LinkLedger::where(1, 3, Direction::Out, 0),
            "message 0 on the link 1 -> 3");
}

TEST(NcclGroups, KeysAreSortedMemberLists) {
  EXPECT_EQ(groupKey({3, 0}), (std::vector<int32_t>{0, 3}));
  EXPECT_EQ(groupKey({2, 1, 2}), (std::vector<int32_t>{1, 2}));
  EXPECT_TRUE(isWholeWorld({0, 1, 2, 3}, 4));
  EXPECT_FALSE(isWholeWorld({0, 3}, 4));
  EXPECT_FALSE(isWholeWorld({0, 1, 2, 4}, 4));
}

TEST(NcclGroups, CacheMakesEachGroupOnce) {
  GroupCache<int> cache;
  int made = 0;
  auto make = [&](const std::vector<int32_t> &key) {
    ++made;
    return static_cast<int>(key.size()) * 100 + made;
  };
  bool fresh = false;
  int a = cache.get({3, 0}, make, &fresh);
  EXPECT_TRUE(fresh);
  int b = cache.get({0, 3}, make, &fresh); // same group, any order
  EXPECT_FALSE(fresh);
  EXPECT_EQ(a, b);
  cache.get({1, 2}, make);
  EXPECT_EQ(made, 2);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_TRUE(cache.contains({3, 0}));
  EXPECT_FALSE(cache.contains({0, 1}));
}

TEST(NcclGroups, TagsAreStableInRangeAndApartFromTheFixedOnes) {
  std::set<int64_t> seen;
  for (int32_t a = 0; a < 16; ++a)
    for (int32_t b = a + 1; b < 16; ++b) {
      int64_t tag = groupTag({a, b});
      EXPECT_GE(tag, kFirstGroupTag);
      EXPECT_LE(tag, 32767);
      EXPECT_EQ(tag, groupTag({a, b}));
      seen.insert(tag);
    }
  EXPECT_GT(seen.size(), 110u); // 120 pairs, few collisions
  EXPECT_LT(kWorldIdTag, kFirstGroupTag);
  EXPECT_LT(kLinkIdTag, kFirstGroupTag);
}

TEST(NcclWatchdog, FinishedOperationsLeaveAndAreReleased) {
  Watchdog<int> dog(milliseconds(100));
  auto t0 = Watchdog<int>::Clock::now();
  dog.add(1, "send to rank 1 (tag 7)", t0);
  dog.add(2, "receive from rank 1 (tag 8)", t0);
  std::set<int> done = {1}, released;
  auto overdue = dog.poll(
      t0 + milliseconds(10), [&](int h) { return done.count(h) != 0; },
      [&](int h) { released.insert(h); });
  EXPECT_FALSE(overdue);
  EXPECT_EQ(released, std::set<int>{1});
  EXPECT_EQ(dog.pending(), 1u);
}

TEST(NcclWatchdog, ReportsTheOldestOverdueOperation) {
  Watchdog<int> dog(milliseconds(100));
  auto t0 = Watchdog<int>::Clock::now();
  dog.add(1, "first", t0);
  dog.add(2, "second", t0 + milliseconds(50));
  auto never = [](int) { return false; };
  auto keep = [](int) {};
  EXPECT_FALSE(dog.poll(t0 + milliseconds(99), never, keep));
  auto overdue = dog.poll(t0 + milliseconds(100), never, keep);
  ASSERT_TRUE(overdue);
  EXPECT_EQ(overdue->what, "first");
  // Once the first finishes, the second is the one (from its own queue time).
  auto firstDone = [](int h) { return h == 1; };
  EXPECT_FALSE(dog.poll(t0 + milliseconds(140), firstDone, keep));
  overdue = dog.poll(t0 + milliseconds(150), never, keep);
  ASSERT_TRUE(overdue);
  EXPECT_EQ(overdue->what, "second");
}

TEST(NcclWatchdog, MessageNamesRankActionPeerTagAndLink) {
  std::string message = overdueMessage(
      1,
      "receive from rank 0 (tag 7) during F of stage 1, micro-batch 3 "
      "[message 4 on the link 0 -> 1]",
      "5.0 s", "device 1");
  EXPECT_EQ(message.rfind("rank 1: receive from rank 0 (tag 7) during F of "
                          "stage 1, micro-batch 3 [message 4 on the link 0 -> "
                          "1] timed out after 5.0 s on the GPU (device 1;",
                          0),
            0u)
      << message;
  EXPECT_NE(message.find("aborted"), std::string::npos);
}

TEST(NcclDevice, LocalRankComesFromTheLauncher) {
  std::map<std::string, std::string> env;
  auto get = [&](const char *name) -> const char * {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  EXPECT_EQ(localRankFromEnvironment(get), 0);
  env["SLURM_LOCALID"] = "3";
  EXPECT_EQ(localRankFromEnvironment(get), 3);
  env["OMPI_COMM_WORLD_LOCAL_RANK"] = "1"; // OpenMPI first
  EXPECT_EQ(localRankFromEnvironment(get), 1);
  env["OMPI_COMM_WORLD_LOCAL_RANK"] = "x"; // not a number: the next one
  EXPECT_EQ(localRankFromEnvironment(get), 3);
}

// Without a GPU (or without the backend) the C ABI answers with one clear
// error, before MPI starts; with a GPU this case is covered under mpirun
// (test/mpi/nccl-run.sh).
TEST(NcclWorld, CreateSaysWhyItCannotStart) {
  dualpipe_world *world = dualpipe_world_create_nccl(0, 5.0);
  if (world) {
    dualpipe_world_destroy(world);
    GTEST_SKIP() << "a GPU answered: the nccl world started";
  }
  ASSERT_NE(dualpipe_rt_last_error(), nullptr);
  std::string error = dualpipe_rt_last_error();
  EXPECT_EQ(error.rfind("dualpipe_world_create_nccl: ", 0), 0u) << error;
  if (dualpipe_rt_has_backend("nccl"))
    EXPECT_NE(error.find("no CUDA device"), std::string::npos) << error;
  else
    EXPECT_NE(error.find("built without the nccl backend"), std::string::npos)
        << error;
}

TEST(NcclWorld, RejectsBadArguments) {
  EXPECT_EQ(dualpipe_world_create_nccl(0, -1.0), nullptr);
  EXPECT_NE(std::string(dualpipe_rt_last_error()).find("timeout"),
            std::string::npos);
  EXPECT_EQ(dualpipe_world_create_nccl(-2, 5.0), nullptr);
  EXPECT_NE(std::string(dualpipe_rt_last_error()).find("negative"),
            std::string::npos);
}

TEST(NcclWorld, StreamCallsNeedABoundRank) {
  EXPECT_EQ(dualpipe_rt_stream_ordered(), 0);
  EXPECT_NE(dualpipe_rt_send_on_stream(1, 0, nullptr, 0, nullptr), 0);
  EXPECT_NE(std::string(dualpipe_rt_last_error()).find("not bound"),
            std::string::npos);
  EXPECT_NE(dualpipe_rt_synchronize(), 0);
}

TEST(NcclWorld, HostTransportsHaveNoStreamOrderedCalls) {
  dualpipe_world *world = dualpipe_world_create_local(2, 5.0);
  ASSERT_NE(world, nullptr);
  ASSERT_EQ(dualpipe_rt_bind(world, 0), 0);
  EXPECT_EQ(dualpipe_rt_stream_ordered(), 0);
  EXPECT_EQ(dualpipe_rt_synchronize(), 0); // nothing queued: at once
  float x = 1;
  EXPECT_NE(dualpipe_rt_send_on_stream(1, 3, &x, sizeof x, nullptr), 0);
  std::string error = dualpipe_rt_last_error();
  EXPECT_NE(error.find("rank 0: send to rank 1 (tag 3): the local transport "
                       "has no stream-ordered sends"),
            std::string::npos)
      << error;
  dualpipe_rt_unbind();
  dualpipe_world_destroy(world);
}

} // namespace
