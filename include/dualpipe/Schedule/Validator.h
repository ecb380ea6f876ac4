//===- Validator.h - Schedule validity and communication --------*- C++ -*-===//
//
// The validator checks a schedule against docs/schedules/contract.md: every (stage,
// micro-batch) of a pipeline gets F then B, or F then I then W, exactly once;
// every action sits on the rank its stage is placed on; cross-stage
// dependencies can be met; every message sent is received, on FIFO links;
// a compute+comms schedule's own SEND/RECV/UNSHARD/RESHARD/REDUCE_GRAD
// actions stand where they can; and the schedule cannot deadlock under the
// runtime's comm model: Posted (sends never wait; the CPU transports and
// torch's runtime) or BlockingGroups (NCCL). It also exposes the messages
// each action receives and sends, and where a lowering posts and waits for
// each receive (planCommunication), which the comm-insertion pass reuses.
//
//===----------------------------------------------------------------------===//

#ifndef DUALPIPE_SCHEDULE_VALIDATOR_H
#define DUALPIPE_SCHEDULE_VALIDATOR_H

#include "dualpipe/Schedule/Schedule.h"

#include <optional>
#include <string>
#include <utility>
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

/// What the runtime does with a message (docs/schedules/README.md, "Comm
/// models").
enum class CommModel : uint8_t {
  /// The CPU transports and torch's runtime: a send never waits for its
  /// receiver (its buffer is released later); a receive is posted, without
  /// waiting, and its completion is awaited just before the action that
  /// consumes it. Deadlock only through a cycle of waits over data
  /// dependencies and each rank's issue order.
  Posted,
  /// NCCL: a rank's sends and the receives it posts or awaits at one point
  /// form a group, and the group completes only when every peer has posted
  /// the matching operations (commGroups()).
  BlockingGroups,
};

/// Where receives are posted.
enum class ReceivePosting : uint8_t {
  /// As early as the receive buffers allow: on each directed link at most
  /// `buffersPerLink` receives are posted and not yet waited for, in the
  /// link's send order; each is posted as soon as a buffer is free.
  Early,
  /// commGroups(schedule)'s policy: two receiving actions ahead (and
  /// earlier where the link's FIFO order requires it).
  TwoAhead,
};

struct PostingOptions {
  ReceivePosting policy = ReceivePosting::Early;
  /// Early: receive buffers per directed link; 0 = unlimited (every receive
  /// is posted before the rank's first action). A link whose messages are
  /// consumed out of send order gets as many as it needs at least
  /// (CommPlan::buffers reports them).
  int buffersPerLink = 2;
};

struct ValidateOptions {
  CommModel model = CommModel::Posted;
  /// Where receives are posted, for BlockingGroups (under Posted where a
  /// receive is posted cannot make a schedule hang). A schedule with its
  /// own SEND/RECV actions (read from a compute+comms CSV) is checked where
  /// they stand instead.
  PostingOptions posting;
};

/// Checks everything listed at the top of this file under `options.model`
/// (default Posted). Stops after the first failing group of checks
/// (structure, then completeness and order, then dependencies, then links:
/// every message sent is received, then a schedule's own non-compute
/// actions, then deadlock), since later checks assume the earlier ones
/// hold.
ValidationReport validate(const Schedule &schedule, const ValidateOptions &options);
/// validate(schedule, ValidateOptions{}): the Posted model.
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

/// Blocking-group semantics (CommModel::BlockingGroups) with commGroups(s)'s
/// two-ahead posting ("early receive, late wait"); commGroups(s, posting)
/// and the Early policy change only where receives are posted. A rank
/// issuing actions a_0..a_{K-1} runs K+1 groups; group i sits before a_i
/// (group K after a_{K-1}):
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
/// The same groups with receives posted as `posting` says.
std::vector<std::vector<CommGroup>> commGroups(const Schedule &schedule,
                                               const PostingOptions &posting);

/// Where a lowering issues each operation of one rank, in positions
/// 0..K of its K actions (position i is just before action i, K after the
/// last): a receive is posted at `post` and waited for at `wait` (the index
/// of the action consuming it), with post <= wait; a send is issued at
/// `position` (just after the action producing it, unless the schedule's
/// own SEND actions say later).
struct PlannedRecv {
  Message msg;
  int post = 0;
  int wait = 0;
};
struct PlannedSend {
  Message msg;
  int position = 0;
};
struct CommPlan {
  /// Per rank, receives in posting order (per link: the link's send order).
  std::vector<std::vector<PlannedRecv>> recvs;
  /// Per rank, sends in issue order.
  std::vector<std::vector<PlannedSend>> sends;
  /// Per directed link (from, to): the most receives posted and not yet
  /// waited for at once, i.e. the receive buffers the link needs.
  std::vector<std::pair<std::pair<int, int>, int>> buffers;
};

/// The receive posting of `posting` for a schedule whose structure
/// validate() accepts: the positions a lowering puts each isend, irecv and
/// wait at. A schedule with its own SEND/RECV actions gets their positions.
CommPlan planCommunication(const Schedule &schedule, const PostingOptions &posting = {});

/// Per directed link, the fewest receive buffers under which every receive
/// can be posted no later than its wait in the link's send order (1 when
/// the receiver consumes the link's messages in send order).
std::vector<std::pair<std::pair<int, int>, int>> minimumReceiveBuffers(const Schedule &schedule);

/// The fewest receive buffers per link with which `schedule`, its receives
/// posted Early, cannot deadlock under BlockingGroups: what an NCCL
/// lowering needs. 0 when only unlimited buffers do; nullopt when the
/// schedule is invalid under the posted model already.
std::optional<int> fewestReceiveBuffers(const Schedule &schedule);

/// `schedule` with SEND/RECV actions where planCommunication(posting) puts
/// them (no UNSHARD/RESHARD/REDUCE_GRAD), for a compute+comms CSV.
Schedule withPlannedComms(const Schedule &schedule, const PostingOptions &posting = {});

/// `schedule` lowered as torch.distributed.pipelining lowers a compute-only
/// schedule (_PipelineScheduleRuntime._prepare_schedule_with_comms):
/// UNSHARD/RESHARD of at most 3 active stages (_add_unshard_reshard),
/// REDUCE_GRAD after each stage's last B or W (_add_reduce_grad), then
/// SEND after each producing action and the matching RECV on the receiver
/// where the ranks' lock-step walk stands when it is sent (_add_send_recv).
/// Fails (naming the ranks' next actions) where that walk cannot go on.
Expected<Schedule> withPyTorchComms(const Schedule &schedule);

} // namespace dualpipe::sched

#endif // DUALPIPE_SCHEDULE_VALIDATOR_H
