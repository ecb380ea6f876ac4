//===- ValidatorTest.cpp - Broken schedules and what the validator says ---===//

#include "TestUtil.h"

#include "dualpipe/Schedule/TextForm.h"
#include "dualpipe/Schedule/Validator.h"

using namespace dualpipe::sched;
using namespace dualpipe::sched::test;

static std::string firstError(const std::string &csv, ParseOptions po = {}) {
  Expected<Schedule> s = parseCSV(csv, po);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  if (!s.ok())
    return "";
  ValidationReport rep = validate(*s);
  EXPECT_FALSE(rep.ok()) << csv;
  return rep.ok() ? "" : rep.errors.front().str(*s);
}

TEST(Validator, AcceptsAHandWrittenSchedule) {
  Expected<Schedule> s = parseCSV("0F0,0F1,0B0,0B1\n1F0,1B0,1F1,1B1\n");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(validate(*s).ok()) << validate(*s).str(*s);
}

TEST(Validator, MissingBackward) {
  EXPECT_EQ(firstError("0F0,0F1,0B0\n1F0,1B0,1F1,1B1\n"),
            "rank 0: stage 0 micro-batch 1 never runs its backward (0B1 or 0I1)");
}

TEST(Validator, DuplicateForward) {
  EXPECT_EQ(firstError("0F0,0F0,0B0\n1F0,1B0\n"),
            "rank 0, action 1 (0F0): second forward of stage 0 on micro-batch 0 (the "
            "first is action 0)");
}

TEST(Validator, BackwardBeforeForward) {
  EXPECT_EQ(firstError("0B0,0F0\n1F0,1B0\n"),
            "rank 0, action 0 (0B0): backward comes before its forward 0F0 (action 1)");
}

TEST(Validator, WWithoutI) {
  EXPECT_EQ(firstError("0F0,0B0,0W0\n1F0,1B0\n"),
            "rank 0, action 2 (0W0): stage 0 micro-batch 0 runs W without an earlier I (a "
            "full B already does the weight work)");
}

TEST(Validator, IWithoutW) {
  EXPECT_EQ(firstError("0F0,0I0\n1F0,1B0\n"),
            "rank 0, action 1 (0I0): stage 0 micro-batch 0 defers weight work with I but "
            "never runs its W (0W0)");
}

TEST(Validator, ActionOnTheWrongRank) {
  Schedule s = mustGenerate(ScheduleKind::OneFOneB, 2, 2);
  std::swap(s.ranks[0][0], s.ranks[1][0]);
  ValidationReport rep = validate(s);
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.errors.front().str(s),
            "rank 0, action 0 (1F0): stage 1 is placed on rank 1, not on rank 0 (one "
            "placement per stage)");
}

TEST(Validator, CrossStageCycle) {
  // Rank 1 runs micro-batch 1 first, but rank 0 only sends it after the
  // backward of micro-batch 0, which needs rank 1's backward of 0.
  std::string err = firstError("0F0,0B0,0F1,0B1\n1F1,1B1,1F0,1B0\n");
  EXPECT_NE(err.find("rank 0, action 1 (0B0): waits for 1B/I0 (rank 1, action 3)"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("cycle"), std::string::npos) << err;
}

const ValidateOptions kNcclTwoAhead{CommModel::BlockingGroups,
                                    {ReceivePosting::TwoAhead, 0}};

TEST(Validator, DeadlockUnderBlockingGroups) {
  // Rank 0 runs all forwards first (GPipe) while rank 1 runs 1F1B. The data
  // flow is fine if sends never block, but with rendezvous groups rank 0
  // waits for rank 1 to post receives of activations far ahead, while rank 1
  // waits for rank 0 to post the receives of its gradients, which rank 0 only
  // posts when it reaches its backwards.
  std::string r0 = "0F0,0F1,0F2,0F3,0F4,0F5,0F6,0F7,0B0,0B1,0B2,0B3,0B4,0B5,0B6,0B7\n";
  std::string r1 = "1F0,1B0,1F1,1B1,1F2,1B2,1F3,1B3,1F4,1B4,1F5,1B5,1F6,1B6,1F7,1B7\n";
  Expected<Schedule> s = parseCSV(r0 + r1);
  ASSERT_TRUE(s.ok());
  ValidationReport rep = validate(*s, kNcclTwoAhead);
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.errors.front().message.find("deadlock under blocking-group semantics"),
            std::string::npos)
      << rep.str(*s);
  // Early posting with 2 buffers per link does not help: rank 0's 8 sends
  // need rank 1 to post 8 receives before its first gradient goes back.
  ValidateOptions early{CommModel::BlockingGroups, {ReceivePosting::Early, 2}};
  EXPECT_FALSE(validate(*s, early).ok());
  // With a buffer per activation it runs.
  early.posting.buffersPerLink = 8;
  EXPECT_TRUE(validate(*s, early).ok()) << validate(*s, early).str(*s);
  // Under the posted model (sends never wait) nothing waits in a cycle.
  EXPECT_TRUE(validate(*s).ok()) << validate(*s).str(*s);
  // The same two ranks both in 1F1B order are fine in every model.
  Expected<Schedule> ok = parseCSV("0F0,0F1,0B0,0F2,0B1,0F3,0B2,0B3\n"
                                   "1F0,1B0,1F1,1B1,1F2,1B2,1F3,1B3\n");
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(validate(*ok).ok()) << validate(*ok).str(*ok);
  EXPECT_TRUE(validate(*ok, kNcclTwoAhead).ok());
}

TEST(Validator, TorchSchedulesTheOldModelRejected) {
  // Interleaved ZB1P, 2 stages per rank, N=4 M=8: torch's runtime runs it
  // (posted receives); with receives posted two receiving actions ahead
  // the NCCL groups hang, and early posting with enough buffers fixes it.
  Schedule s = mustGenerate(ScheduleKind::InterleavedZB, 4, 8, 2);
  EXPECT_TRUE(validate(s).ok()) << validate(s).str(s);
  ValidationReport old = validate(s, kNcclTwoAhead);
  ASSERT_FALSE(old.ok());
  EXPECT_NE(old.errors.front().message.find("deadlock under blocking-group semantics"),
            std::string::npos);
  EXPECT_TRUE(validate(s, {CommModel::BlockingGroups, {ReceivePosting::Early, 0}}).ok());
  std::optional<int> fewest = fewestReceiveBuffers(s);
  ASSERT_TRUE(fewest.has_value());
  ASSERT_GT(*fewest, 1);
  EXPECT_TRUE(validate(s, {CommModel::BlockingGroups, {ReceivePosting::Early, *fewest}}).ok());
  EXPECT_FALSE(
      validate(s, {CommModel::BlockingGroups, {ReceivePosting::Early, *fewest - 1}}).ok());
}

TEST(Validator, PostedModelStillFindsCycles) {
  // A cycle of waits through data dependencies hangs any runtime.
  Expected<Schedule> s = parseCSV("0F0,0B0,0F1,0B1\n1F1,1B1,1F0,1B0\n");
  ASSERT_TRUE(s.ok());
  for (CommModel model : {CommModel::Posted, CommModel::BlockingGroups}) {
    ValidationReport rep = validate(*s, {model, {}});
    ASSERT_FALSE(rep.ok());
    EXPECT_NE(rep.errors.front().str(*s).find("waits for 1B/I0 (rank 1, action 3)"),
              std::string::npos);
  }
}

TEST(Validator, ReceivePlanPostsAsEarlyAsBuffersAllow) {
  // 1F1B N=2 M=3. Rank 1 consumes activations 0F0, 0F1, 0F2 at actions 0,
  // 2, 4; with 2 buffers the third is posted after the first is consumed
  // (position 1). Rank 0 consumes gradients at actions 2, 4, 5: the third
  // is posted at position 3.
  Schedule s = mustGenerate(ScheduleKind::OneFOneB, 2, 3);
  CommPlan plan = planCommunication(s, {ReceivePosting::Early, 2});
  ASSERT_EQ(plan.recvs[1].size(), 3u);
  EXPECT_EQ(plan.recvs[1][0].post, 0);
  EXPECT_EQ(plan.recvs[1][1].post, 0);
  EXPECT_EQ(plan.recvs[1][2].post, 1);
  EXPECT_EQ(plan.recvs[1][2].wait, 4);
  EXPECT_EQ(plan.recvs[0][2].msg.str(), "gradient 1B2 -> stage 0");
  EXPECT_EQ(plan.recvs[0][2].post, 3);
  EXPECT_EQ(plan.recvs[0][2].wait, 5);
  ASSERT_EQ(plan.sends[0].size(), 3u);
  EXPECT_EQ(plan.sends[0][1].position, 2); // just after 0F1 (action 1)
  for (auto [link, used] : plan.buffers)
    EXPECT_LE(used, 2);
  // Unlimited buffers: everything posted before the first action.
  CommPlan all = planCommunication(s, {ReceivePosting::Early, 0});
  for (const auto &rank : all.recvs)
    for (const PlannedRecv &r : rank)
      EXPECT_EQ(r.post, 0);
  // One buffer: in-order links need no more.
  for (auto [link, need] : minimumReceiveBuffers(s))
    EXPECT_EQ(need, 1);
}

TEST(Validator, DualPipeNeedsReorderBuffers) {
  // DualPipe N=8 M=20: rank 1 consumes 15B10 before 0F6 although rank 0
  // sent 0F6 first, so link 0 -> 1 needs more than one buffer; the plan
  // gives it what it needs even when asked for one.
  Schedule s = mustGenerate(ScheduleKind::DualPipe, 8, 20);
  int need01 = 0;
  for (auto [link, need] : minimumReceiveBuffers(s))
    if (link == std::make_pair(0, 1))
      need01 = need;
  EXPECT_GT(need01, 1);
  CommPlan plan = planCommunication(s, {ReceivePosting::Early, 1});
  for (const auto &rank : plan.recvs)
    for (const PlannedRecv &r : rank)
      EXPECT_LE(r.post, r.wait) << r.msg.str();
  for (auto [link, used] : plan.buffers) {
    if (link == std::make_pair(0, 1)) {
      EXPECT_EQ(used, need01);
    }
  }
  EXPECT_TRUE(validate(s, {CommModel::BlockingGroups, {ReceivePosting::Early, 1}}).ok());
}

TEST(Validator, CommGroupsKeepTheirPlacement) {
  // commGroups(s) is the two-ahead posting the compiler's insert-comm pass
  // lowers; the posting overload with TwoAhead gives the same groups.
  Schedule s = mustGenerate(ScheduleKind::DualPipe, 4, 8);
  auto legacy = commGroups(s);
  auto same = commGroups(s, {ReceivePosting::TwoAhead, 0});
  ASSERT_EQ(legacy.size(), same.size());
  for (size_t r = 0; r < legacy.size(); ++r)
    for (size_t g = 0; g < legacy[r].size(); ++g) {
      EXPECT_EQ(legacy[r][g].postRecvs.size(), same[r][g].postRecvs.size());
      EXPECT_EQ(legacy[r][g].waitRecvs.size(), same[r][g].waitRecvs.size());
      EXPECT_EQ(legacy[r][g].sends.size(), same[r][g].sends.size());
    }
}

TEST(Validator, MicrobatchOutsideItsPipeline) {
  // DualPipe N=2 M=4: stage 0 carries micro-batches 0..1 only.
  Schedule s = mustGenerate(ScheduleKind::DualPipe, 2, 4);
  s.ranks[0][0] = Action::forward(0, 3);
  ValidationReport rep = validate(s);
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.errors.front().str(s),
            "rank 0, action 0 (0F3): micro-batch 3 does not flow through stage 0 (its "
            "pipeline carries micro-batches 0..1)");
}

TEST(Validator, PairOfOneChunk) {
  Schedule s = mustGenerate(ScheduleKind::DualPipe, 2, 4);
  s.ranks[0][4] = Action::pair(0, 1, 0, 0);
  ValidationReport rep = validate(s);
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.errors.front().message.find("two different chunks"), std::string::npos);
}

TEST(Validator, CommunicationOfDualPipeV) {
  // The turn on rank N-1 (stage N-1 -> N) is local: no message.
  Schedule s = mustGenerate(ScheduleKind::DualPipeV, 2, 4);
  auto comm = communication(s);
  for (size_t i = 0; i < s.ranks[1].size(); ++i)
    for (const Message &m : comm[1][i].recvs)
      EXPECT_EQ(m.fromRank, 0);
  // Rank 0's first 0F0 sends its activation to stage 1 on rank 1.
  ASSERT_EQ(comm[0][0].sends.size(), 1u);
  EXPECT_EQ(comm[0][0].sends[0].str(), "activation 0F0 -> stage 1");
  // Groups: K+1 per rank.
  auto groups = commGroups(s);
  EXPECT_EQ(groups[0].size(), s.ranks[0].size() + 1);
}
