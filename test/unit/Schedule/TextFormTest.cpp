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

TEST(TextForm, RejectsMalformedTextWithLineAndColumn) {
  EXPECT_EQ(parseError("0F0,0F1\n1F0,1X0\n"),
            "line 2, column 6: expected an action kind F, B, I or W after the stage "
            "number, found 'X'");
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
