//===- CAbiTest.cpp - Binding, world creation and misuse of the C ABI -----===//

#include "RuntimeTestUtil.h"

#include <cmath>
#include <limits>

using namespace dualpipe::test;

extern "C" int dualpipe_test_c_abi_smoke(void);
extern "C" int dualpipe_test_step_abi_declared(void);
extern "C" int dualpipe_test_host_header(void);

namespace {

TEST(CAbi, UsableFromC) { EXPECT_EQ(dualpipe_test_c_abi_smoke(), 0); }

// StepABI.h (what generated code calls) and Host.h (what runners call) each
// compile alone as C99.
TEST(CAbi, StepAbiAndHostHeadersStandAlone) {
  EXPECT_EQ(dualpipe_test_step_abi_declared(), 0);
  EXPECT_EQ(dualpipe_test_host_header(), 0);
}

TEST(CAbi, CreateRejectsBadArguments) {
  EXPECT_EQ(dualpipe_world_create_local(0, 1.0), nullptr);
  EXPECT_EQ(lastError(), "dualpipe_world_create_local: a local world needs 1 "
                         "to 4096 ranks, got 0");
  for (double timeout : {0.0, -1.0, std::nan(""),
                         std::numeric_limits<double>::infinity()}) {
    EXPECT_EQ(dualpipe_world_create_local(2, timeout), nullptr) << timeout;
    EXPECT_NE(lastError().find("the timeout must be a positive number"),
              std::string::npos);
  }
}

TEST(CAbi, UnboundThreadIsToldToBind) {
  EXPECT_EQ(dualpipe_rt_rank(), -1);
  EXPECT_EQ(dualpipe_rt_size(), 0);
  int32_t value = 0;
  EXPECT_NE(dualpipe_rt_send(1, 0, &value, 4), 0);
  EXPECT_EQ(lastError(), "dualpipe_rt_send: the calling thread is not bound "
                         "to a rank (call dualpipe_rt_bind first)");
  EXPECT_NE(dualpipe_rt_barrier(), 0);
  // Harmless without a rank.
  dualpipe_rt_begin_action(DUALPIPE_ACTION_F, 0, 0);
  dualpipe_rt_end_action();
  dualpipe_rt_unbind();
}

TEST(CAbi, BindingRules) {
  WorldPtr world = makeWorld(2);
  EXPECT_NE(dualpipe_rt_bind(world.get(), 2), 0);
  EXPECT_EQ(lastError(),
            "dualpipe_rt_bind: cannot bind to rank 2: the world has ranks 0 to "
            "1");
  ASSERT_EQ(dualpipe_rt_bind(world.get(), 1), 0);
  EXPECT_EQ(dualpipe_rt_last_error(), nullptr) << "cleared by a success";
  EXPECT_EQ(dualpipe_rt_rank(), 1);
  EXPECT_EQ(dualpipe_rt_size(), 2);
  EXPECT_NE(dualpipe_rt_bind(world.get(), 0), 0);
  EXPECT_EQ(lastError(), "dualpipe_rt_bind: this thread is already bound to "
                         "rank 1 (call dualpipe_rt_unbind first)");
  std::thread other([&] {
    EXPECT_NE(dualpipe_rt_bind(world.get(), 1), 0);
    EXPECT_EQ(lastError(), "dualpipe_rt_bind: cannot bind to rank 1: it is "
                           "already bound to another thread");
  });
  other.join();
  dualpipe_rt_unbind();
  EXPECT_EQ(dualpipe_rt_rank(), -1);
  // Released: another thread may take the rank now.
  std::thread again([&] {
    EXPECT_EQ(dualpipe_rt_bind(world.get(), 1), 0) << lastError();
    dualpipe_rt_unbind();
  });
  again.join();
  EXPECT_EQ(dualpipe_world_failed(world.get()), 0)
      << "binding mistakes do not fail the world";
}

TEST(CAbi, LastErrorOutlivesVoidCalls) {
  WorldPtr world = makeWorld(2);
  ASSERT_EQ(dualpipe_rt_bind(world.get(), 0), 0);
  dualpipe_rt_begin_action(DUALPIPE_ACTION_W, 0, 1);
  EXPECT_NE(dualpipe_rt_send(0, 0, nullptr, 0), 0);
  std::string message = lastError();
  EXPECT_EQ(message, "rank 0: send to rank 0 (tag 0) during W of stage 0, "
                     "micro-batch 1: a rank cannot send to itself (world of 2 "
                     "ranks)");
  dualpipe_rt_end_action();
  dualpipe_rt_unbind();
  EXPECT_EQ(lastError(), message);
}

TEST(CAbi, NullWorldIsHarmless) {
  EXPECT_EQ(dualpipe_world_size(nullptr), 0);
  EXPECT_EQ(dualpipe_world_failed(nullptr), 0);
  EXPECT_EQ(dualpipe_world_error(nullptr), nullptr);
  EXPECT_NE(dualpipe_rt_bind(nullptr, 0), 0);
  EXPECT_NE(dualpipe_world_write_trace(nullptr, "/tmp/x.json"), 0);
  dualpipe_world_fail(nullptr, 0, "ignored");
  dualpipe_world_destroy(nullptr);
}

} // namespace
