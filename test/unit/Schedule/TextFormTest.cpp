//===- TextFormTest.cpp - CSV in PyTorch's action grammar -----------------===//

#include "TestUtil.h"

#include "dualpipe/Schedule/TextForm.h"
#include "dualpipe/Schedule/Validator.h"

using namespace dualpipe::sched;
using namespace dualpipe::sched::test;

TEST(TextForm, FormatsActions) {
  EXPECT_EQ(formatAction(Action::forward(0, 3)), "0F3");
  EXPECT_EQ(formatAction(Action::backwardInput(7, 1)), "7I1");
  EXPECT_EQ(formatAction(Action::backwardWeight(7, 1)), "7W1");
  EXPECT_EQ(formatAction(Action::backward(5, 2)), "5B2");
  EXPECT_EQ(formatAction(Action::pair(0, 3, 7, 1)), "(0F3;7B1)OVERLAP_F_B");
}

TEST(TextForm, ParsesActions) {
  Expected<Action> a = parseAction("(0F3;7B1)OVERLAP_F_B");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, Action::pair(0, 3, 7, 1));
  EXPECT_EQ(*parseAction("12W34"), Action::backwardWeight(12, 34));
}

TEST(TextForm, CSVIsOneLinePerRank) {
  Schedule s = mustGenerate(ScheduleKind::OneFOneB, 2, 3);
  EXPECT_EQ(toCSV(s), "0F0,0F1,0B0,0F2,0B1,0B2\n1F0,1B0,1F1,1B1,1F2,1B2\n");
}

TEST(TextForm, RoundTripsEveryScheduleAndInfersThePlacement) {
  for (ScheduleKind k : allScheduleKinds()) {
    int n = 4, m = 8;
    Schedule s = mustGenerate(k, n, m);
    // Inferred placement.
    Expected<Schedule> back = parseCSV(toCSV(s));
    ASSERT_TRUE(back.ok()) << scheduleName(k) << ": " << back.error().message;
    EXPECT_EQ(back->ranks.size(), s.ranks.size());
    for (int r = 0; r < n; ++r)
      EXPECT_TRUE(back->ranks[r] == s.ranks[r]) << scheduleName(k) << " rank " << r;
    EXPECT_EQ(back->stageToRank, s.stageToRank) << scheduleName(k);
    EXPECT_EQ(back->pipelines.size(), s.pipelines.size()) << scheduleName(k);
    EXPECT_TRUE(validate(*back).ok()) << scheduleName(k) << "\n"
                                      << validate(*back).str(*back);
    // Named placement.
    ParseOptions po;
    po.kind = k;
    Expected<Schedule> named = parseCSV(toCSV(s), po);
    ASSERT_TRUE(named.ok()) << named.error().message;
    EXPECT_EQ(named->kind, k);
    EXPECT_TRUE(validate(*named).ok()) << scheduleName(k);
  }
}

TEST(TextForm, AcceptsBlanksCRLFAndEmptyCells) {
  Expected<Schedule> s = parseCSV(" 0F0 , 0B0\r\n1F0,,1B0\r\n\n");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->numRanks, 2);
  EXPECT_EQ(rankLine(*s, 1), "1F0,1B0");
  EXPECT_TRUE(validate(*s).ok());
}

static std::string parseError(const std::string &text, ParseOptions po = {}) {
  Expected<Schedule> s = parseCSV(text, po);
  EXPECT_FALSE(s.ok()) << text;
  return s.ok() ? "" : s.error().message;
}

// Found by dualpipe-fuzz-csv: a last line of empty fields is a rank with no
// actions, and toCSV wrote it as an empty line, which parseCSV drops as a
// trailing blank line: the schedule lost a rank on the way back.
TEST(TextForm, RoundTripsIdleTrailingRanks) {
  Expected<Schedule> s = parseCSV("0F0,0B0\n,\n \"\"\n");
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_EQ(s->numRanks, 3);
  EXPECT_TRUE(s->ranks[1].empty());
  EXPECT_TRUE(s->ranks[2].empty());
  std::string csv = toCSV(*s);
  EXPECT_EQ(csv, "0F0,0B0\n\"\"\n\"\"\n");
  Expected<Schedule> back = parseCSV(csv);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->numRanks, 3);
  EXPECT_EQ(back->ranks, s->ranks);
  // An idle rank between busy ones stays an empty line.
  Expected<Schedule> mid = parseCSV("0F0,0B0\n\n1F0,1B0\n");
  ASSERT_TRUE(mid.ok()) << mid.error().message;
  EXPECT_EQ(toCSV(*mid), "0F0,0B0\n\n1F0,1B0\n");
}

// Found by dualpipe-fuzz-csv: one stray digit (2F121474830) made the
// placement and the validator size their tables for 121 million
// micro-batches (dualpipe-sched grew past 20 GB).
TEST(TextForm, RejectsNumbersTheActionsCannotCover) {
  Expected<Schedule> mb = parseCSV("0F1,2F121474830,1F2,,1W3,,0F2");
  ASSERT_FALSE(mb.ok());
  EXPECT_EQ(mb.error().message,
            "line 1, column 5: micro-batch 121474830 is out of range: 3 stages x 121474831 "
            "micro-batches need at least 182212246 forward actions, and the file holds 5 "
            "actions; number stages and micro-batches from 0 without gaps");
  Expected<Schedule> st = parseCSV("0F0,0B0\n99999F0,99999B0\n");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("line 2, column 1: stage 99999 is out of range"),
            std::string::npos)
      << st.error().message;
  // Gaps the validator explains are still read (micro-batches 1..39 missing).
  EXPECT_TRUE(parseCSV("0F0,0F40\n").ok());
}

TEST(TextForm, RejectsMalformedTextWithLineAndColumn) {
  EXPECT_EQ(parseError("0F0,0F1\n1F0,1X0\n"),
            "line 2, column 6: expected an action kind F, B, I or W after the stage "
            "number, found 'X'; non-compute actions are SEND_F, RECV_F, SEND_B, RECV_B "
            "(with a micro-batch), UNSHARD, RESHARD and REDUCE_GRAD");
  EXPECT_EQ(parseError("0F0,0SEND_F\n1F0\n"),
            "line 1, column 12: expected a micro-batch number after 'SEND_F', found end "
            "of field");
  EXPECT_EQ(parseError("0UNSHARD3\n"),
            "line 1, column 9: UNSHARD names a stage only, not a micro-batch; found '3'");
  EXPECT_EQ(parseError("0F0,F1\n"),
            "line 1, column 5: expected a stage number, found 'F'");
  EXPECT_EQ(parseError("0F\n"),
            "line 1, column 3: expected a micro-batch number after 'F', found end of field");
  EXPECT_EQ(parseError("0F0;1F1\n"),
            "line 1, column 4: unexpected ';' after the action; actions are separated by ','");
  EXPECT_EQ(parseError("(0B3;7B1)OVERLAP_F_B\n"),
            "line 1, column 2: the first action of an overlapped pair must be a forward (F)");
  EXPECT_EQ(parseError("(0F3;7I1)OVERLAP_F_B\n"),
            "line 1, column 6: the second action of an overlapped pair must be a full "
            "backward (B)");
  EXPECT_EQ(parseError("(0F3;7B1)OVERLAP\n"),
            "line 1, column 9: expected ')OVERLAP_F_B' to close the overlapped pair, found ')'");
  EXPECT_EQ(parseError("(0F3,7B1)OVERLAP_F_B\n"),
            "line 1, column 5: expected ';' between the two actions of an overlapped pair, "
            "found end of field");
  EXPECT_NE(parseError("").find("empty"), std::string::npos);
}

TEST(TextForm, SaysWhatIsAmbiguousInThePlacement) {
  // Stage 1 on two ranks.
  EXPECT_EQ(parseError("0F0,1F0\n1F0\n"),
            "stage 1 appears on ranks 0 and 1; a stage is placed on one rank");
  // V placement whose micro-batches neither coincide nor are disjoint.
  std::string err = parseError("0F0,3F0,3F1\n1F0,2F1\n");
  EXPECT_NE(err.find("V placement"), std::string::npos) << err;
  EXPECT_NE(err.find("--schedule=dualpipe"), std::string::npos) << err;
  // A stage no rank holds.
  EXPECT_NE(parseError("0F0\n2F0\n").find("stage 1 appears on no rank"), std::string::npos);
}

TEST(TextForm, InfersDualPipeFromDisjointMicrobatches) {
  Schedule s = mustGenerate(ScheduleKind::DualPipe, 4, 8);
  Expected<Schedule> back = parseCSV(toCSV(s));
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->pipelines.size(), 2u);
  EXPECT_EQ(back->pipelines[1].firstMicrobatch, 4);
  Schedule v = mustGenerate(ScheduleKind::DualPipeV, 4, 8);
  Expected<Schedule> backV = parseCSV(toCSV(v));
  ASSERT_TRUE(backV.ok());
  EXPECT_EQ(backV->pipelines.size(), 1u);
  EXPECT_EQ(backV->pipelines[0].stages.size(), 8u);
}

TEST(TextForm, NonComputeActions) {
  Expected<CommAction> a = parseCommAction("3SEND_F1");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->kind, CommKind::SendF);
  EXPECT_EQ(a->stage, 3);
  EXPECT_EQ(a->microbatch, 1);
  EXPECT_EQ(formatCommAction(*a), "3SEND_F1");
  for (const char *t : {"4RECV_B0", "2UNSHARD", "2RESHARD", "7REDUCE_GRAD", "1RECV_F12",
                        "0SEND_B3"})
    EXPECT_EQ(formatCommAction(*parseCommAction(t)), t);
  EXPECT_FALSE(parseCommAction("3F1").ok());
}

// 1F1B N=2 M=3 lowered as torch's _prepare_schedule_with_comms does, worked
// out by hand from its lock-step walk: rank 0's F sends at once and its
// receive of 1B0 lands when rank 1 runs 1B0 (rank 0 is then at 0B0).
static const char *kTorch1F1B =
    "0UNSHARD,0F0,0SEND_F0,0F1,0SEND_F1,0RECV_B0,0B0,0F2,0SEND_F2,0RECV_B1,0B1,"
    "0RECV_B2,0B2,0REDUCE_GRAD,0RESHARD\n"
    "1UNSHARD,1RECV_F0,1F0,1RECV_F1,1B0,1SEND_B0,1F1,1RECV_F2,1B1,1SEND_B1,1F2,1B2,"
    "1SEND_B2,1REDUCE_GRAD,1RESHARD\n";

TEST(TextForm, LowersAsTorchDoes) {
  Schedule s = mustGenerate(ScheduleKind::OneFOneB, 2, 3);
  Expected<Schedule> lowered = withPyTorchComms(s);
  ASSERT_TRUE(lowered.ok()) << lowered.error().message;
  EXPECT_EQ(toCSV(*lowered), kTorch1F1B);
  EXPECT_TRUE(validate(*lowered).ok()) << validate(*lowered).str(*lowered);
}

TEST(TextForm, ComputeAndCommsRoundTrip) {
  // torch's csv.writer ends rows in "\r\n".
  std::string crlf;
  for (const char *c = kTorch1F1B; *c; ++c)
    crlf += *c == '\n' ? std::string("\r\n") : std::string(1, *c);
  Expected<Schedule> s = parseCSV(crlf);
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_TRUE(s->hasComms());
  EXPECT_EQ(rankLine(*s, 0), "0F0,0F1,0B0,0F2,0B1,0B2");
  EXPECT_EQ(s->comms[0].front(), (CommAction{CommKind::Unshard, 0, -1, 0}));
  EXPECT_EQ(s->comms[0].back(), (CommAction{CommKind::Reshard, 0, -1, 6}));
  EXPECT_EQ(toCSV(*s), kTorch1F1B);
  EXPECT_TRUE(validate(*s).ok()) << validate(*s).str(*s);
  // Every generated schedule survives torch's lowering and a round trip.
  for (ScheduleKind k : allScheduleKinds()) {
    Schedule g = mustGenerate(k, 4, 8);
    Expected<Schedule> l = withPyTorchComms(g);
    ASSERT_TRUE(l.ok()) << scheduleName(k) << ": " << l.error().message;
    ParseOptions po;
    po.kind = k;
    Expected<Schedule> back = parseCSV(toCSV(*l), po);
    ASSERT_TRUE(back.ok()) << scheduleName(k) << ": " << back.error().message;
    EXPECT_EQ(toCSV(*back), toCSV(*l)) << scheduleName(k);
    EXPECT_TRUE(validate(*back).ok()) << scheduleName(k) << "\n" << validate(*back).str(*back);
    Schedule planned = withPlannedComms(g);
    EXPECT_TRUE(validate(planned).ok()) << scheduleName(k) << "\n"
                                        << validate(planned).str(planned);
  }
}

TEST(TextForm, CommActionsMustBeWhereTheMessagesAre) {
  // Interleaved on 2 ranks (stages 0, 2 on rank 0; 1, 3 on rank 1), one
  // micro-batch, written by hand in torch's compute+comms grammar.
  const std::string r0 = "0F0,0SEND_F0,2RECV_F0,2F0,2SEND_F0,2RECV_B0,2B0,2SEND_B0,0RECV_B0,0B0\n";
  const std::string r1 = "1RECV_F0,1F0,1SEND_F0,3RECV_F0,3F0,3B0,3SEND_B0,1RECV_B0,1B0,1SEND_B0\n";
  Expected<Schedule> ok = parseCSV(r0 + r1);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->stageToRank, (std::vector<int>{0, 1, 0, 1}));
  EXPECT_TRUE(validate(*ok).ok()) << validate(*ok).str(*ok);
  auto firstError = [](const std::string &csv) {
    Expected<Schedule> s = parseCSV(csv);
    EXPECT_TRUE(s.ok());
    ValidationReport rep = validate(*s);
    EXPECT_FALSE(rep.ok()) << csv;
    return rep.ok() ? std::string() : rep.errors.front().str(*s);
  };
  // The receive after its consumer.
  EXPECT_EQ(firstError(r0 + "1F0,1RECV_F0,1SEND_F0,3RECV_F0,3F0,3B0,3SEND_B0,1RECV_B0,1B0,"
                            "1SEND_B0\n"),
            "rank 1, action 0 (1F0): consumes activation 0F0 -> stage 1 before its receive "
            "(1RECV_F0 comes only before action 1 (3F0))");
  // A message never sent.
  EXPECT_EQ(firstError("0F0,2RECV_F0,2F0,2SEND_F0,2RECV_B0,2B0,2SEND_B0,0RECV_B0,0B0\n" + r1),
            "rank 0, action 0 (0F0): computes activation 0F0 -> stage 1 but the rank never "
            "sends it (add 0SEND_F0 after it)");
  // A send before its producer.
  EXPECT_NE(firstError("0SEND_F0,0F0,2RECV_F0,2F0,2SEND_F0,2RECV_B0,2B0,2SEND_B0,0RECV_B0,"
                       "0B0\n" + r1)
                .find("0SEND_F0 before action 0 (0F0): sends activation 0F0 -> stage 1 "
                      "before action 0 (0F0) computes it"),
            std::string::npos);
  // Receives posted out of the link's send order.
  EXPECT_NE(firstError("0F0,2RECV_F0,2F0,2SEND_F0,0SEND_F0,2RECV_B0,2B0,2SEND_B0,0RECV_B0,"
                       "0B0\n" + r1)
                .find("posts the receive of activation 0F0 -> stage 1 before that of "
                      "activation 2F0 -> stage 3, but rank 0 sends them the other way round"),
            std::string::npos);
  // A send placed after the rank waits for its answer: a cycle of waits
  // that only the positions of the SENDs make.
  std::string late = "0F0,2RECV_F0,2F0,0SEND_F0,2SEND_F0,2RECV_B0,2B0,2SEND_B0,0RECV_B0,0B0\n";
  EXPECT_EQ(firstError(late + r1),
            "rank 0, action 1 (2F0): deadlock under posted-receive semantics: rank 0 is "
            "blocked before action 1 (2F0) waiting for rank 1 to post the send of activation "
            "1F0 -> stage 2, but rank 1 is blocked before action 0 (1F0)");
}
