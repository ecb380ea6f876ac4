//===- Validator.h - Schedule validity and communication --------*- C++ -*-===//
//
// The validator checks a schedule against docs/schedules/contract.md:
// every (stage, micro-batch) of a pipeline gets F then B, or F then I then
// W, exactly once; every action sits on the rank its stage is placed on;
// cross-stage dependencies can be met; every directed link is FIFO (send
// order equals receive order); and the schedule cannot deadlock under
// blocking-group semantics (below). It also exposes the messages each
// action receives and sends, which the comm-insertion pass reuses.
//
//===----------------------------------------------------------------------===//

#ifndef DUALPIPE_SCHEDULE_VALIDATOR_H
#define DUALPIPE_SCHEDULE_VALIDATOR_H

#include "dualpipe/Schedule/Schedule.h"

#include <string>
#include <vector>

namespace dualpipe::sched {

/// One problem found by validate(). `rank` and `actionIndex` are -1 when the
/// problem is not tied to one action (e.g. a missing action).
struct Diagnostic {
  int rank = -1;
  int actionIndex = -1;
  std::string message;

  /// "rank 2, action 5 (2F3): <message>" (or just the message).
  std::string str(const Schedule &schedule) const;
};

/// The outcome of validate(): empty `errors` means valid.
struct ValidationReport {
  std::vector<Diagnostic> errors;
  bool ok() const { return errors.empty(); }
  /// All errors, one per line, at most `limit` of them plus a count of the
  /// rest.
  std::string str(const Schedule &schedule, size_t limit = 20) const;
};

/// Checks everything listed at the top of this file. Stops after the first
/// failing group of checks (structure, then completeness and order, then
/// dependencies, then links: every message sent is received and the
/// receives posted in send order, then blocking deadlock), since later
/// checks assume the earlier ones hold.
ValidationReport validate(const Schedule &schedule);

/// The completion of a forward (F of `stage` on `microbatch`) or of an
/// input-gradient backward (B or I) that another action waits for.
struct Event {
  int stage = 0;
  int microbatch = 0;
  bool backward = false;
};

/// The events one single action (not a pair; split pairs with
/// Action::part) waits for: F waits for the upstream F; B and I wait for
/// their own F and the downstream B/I; W waits for its own I.
std::vector<Event> inputsOf(const Action &single,
                            const std::vector<StageLinks> &links);

/// A point-to-point message between two ranks: the activation F of
/// `fromStage` sends to `toStage`, or the input gradient B/I of `fromStage`
/// sends back to `toStage`. Local hand-offs (both stages on one rank) are
/// not messages.
struct Message {
  int fromRank = 0;
  int toRank = 0;
  int fromStage = 0;
  int toStage = 0;
  int microbatch = 0;
  bool gradient = false;

  /// "activation 2F5 -> stage 3" / "gradient 3B5 -> stage 2".
  std::string str() const;
};

/// The messages of one action: what it must receive before it starts (in
/// the order it consumes them, forward part of a pair first) and what it
/// sends when it ends (same order).
struct ActionComm {
  std::vector<Message> recvs;
  std::vector<Message> sends;
};

/// Per rank, per action (same indices as Schedule::ranks): its messages.
/// Assumes the structural checks of validate() hold.
std::vector<std::vector<ActionComm>> communication(const Schedule &schedule);

/// Blocking-group semantics used by the deadlock check ("early receive,
/// late wait"). A rank issuing actions a_0..a_{K-1} runs K+1 groups; group
/// i sits before a_i (group K after a_{K-1}):
///  - the sends of a_{i-1} are posted in group i, and group i completes only
///    when the peer has posted the matching receives;
///  - the receives of a_i are waited for in group i (it completes only when
///    the peer has posted the matching sends), but they are posted earlier:
///    in the group of the second-to-last earlier action that receives
///    anything (a prefetch of two receiving actions; DeepSeek's DualPipe and
///    Megatron-LM post the next receive with the current exchange, and ZB-V
///    needs one more because W's separate its exchanges);
///  - every directed link is FIFO, so the receiver posts receives in the
///    sender's order: a receive is posted no later than the receive of any
///    message sent after it.
/// A rank has posted an operation once it has reached the group posting it.
/// The check reports a deadlock when no rank can complete its group.
/// commGroups() returns the groups, K+1 per rank, each group's operations in
/// link order.
struct CommGroup {
  std::vector<Message> sends;     ///< Posted and waited for here.
  std::vector<Message> postRecvs; ///< Receives posted here.
  std::vector<Message> waitRecvs; ///< Receives waited for here.
};
std::vector<std::vector<CommGroup>> commGroups(const Schedule &schedule);

} // namespace dualpipe::sched

#endif // DUALPIPE_SCHEDULE_VALIDATOR_H
