//===- CommSummaryTest.cpp - What the comm summary counts as hidden -------===//
//
// summarizeComm (runtime/src/Trace.cpp) on timelines written by hand, against
// the overlaps worked out by hand. Built from the source file: the runtime
// library exports only its C ABI.
//
//===----------------------------------------------------------------------===//

#include "Trace.h"

#include <gtest/gtest.h>

namespace {

//--- The summary's arithmetic on a timeline written by hand ----------------//

using dualpipe::rt::TraceEvent;

TraceEvent action(double start, double duration) {
  TraceEvent e;
  e.type = TraceEvent::Type::Action;
  e.startUs = start;
  e.durationUs = duration;
  return e;
}

TraceEvent message(double sent, double arrived, double waitStart,
                   double waitDuration) {
  TraceEvent e;
  e.type = TraceEvent::Type::Recv;
  e.postUs = 0;
  e.sentUs = sent;
  e.arrivedUs = arrived;
  e.startUs = waitStart;
  e.durationUs = waitDuration;
  return e;
}

TEST(CommSummary, CountsTheTransferTimeInsideComputeActions) {
  std::vector<TraceEvent> events = {
      action(0, 100), action(150, 100), // compute [0,100) and [150,250)
      action(160, 20),                  // nested: counted once
      message(50, 120, 120, 30),        // 70 in flight, 50 under compute
      message(100, 150, 100, 50),       // 50 in flight, none under compute
      message(200, 240, 250, 0)};       // 40 in flight, all under compute
  TraceEvent reduce;
  reduce.type = TraceEvent::Type::AllReduce;
  reduce.startUs = 240;
  reduce.durationUs = 20; // 10 under compute
  events.push_back(reduce);
  TraceEvent failed = message(0, 10, 0, 10);
  failed.failed = true; // not counted
  events.push_back(failed);
  dualpipe::rt::CommSummary s = dualpipe::rt::summarizeComm(events);
  EXPECT_EQ(s.messages, 3);
  EXPECT_DOUBLE_EQ(s.transferUs, 160);
  EXPECT_DOUBLE_EQ(s.transferHiddenUs, 90);
  EXPECT_EQ(s.allReduces, 1);
  EXPECT_DOUBLE_EQ(s.allReduceUs, 20);
  EXPECT_DOUBLE_EQ(s.allReduceHiddenUs, 10);
}

} // namespace
