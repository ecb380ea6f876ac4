//===- Schedule.h - Pipeline schedules as plain values ----------*- C++ -*-===//
//
// The value types of the schedule engine: an action (one unit of compute a
// rank issues), a schedule (per-rank action lists plus the placement of
// stages on ranks), and a small error-as-value type. The engine is plain
// C++17 with no MLIR dependency and never throws: every fallible function
// returns an Expected<T> or a report. The contract is
// docs/schedules/contract.md.
//
//===----------------------------------------------------------------------===//

#ifndef DUALPIPE_SCHEDULE_SCHEDULE_H
#define DUALPIPE_SCHEDULE_SCHEDULE_H

#include <cassert>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dualpipe::sched {

//===----------------------------------------------------------------------===//
// Errors as values
//===----------------------------------------------------------------------===//

/// A user-facing error: what is wrong, where, and what to do.
struct Error {
  std::string message;
};

/// Either a value or an Error. No exceptions: check `ok()` (or `operator
/// bool`) before calling `value()`.
template <typename T> class Expected {
public:
  Expected(T value) : value_(std::move(value)) {}
  Expected(Error error) : error_(std::move(error)) {}

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }

  T &value() {
    assert(ok() && "value() on an Expected holding an error");
    return *value_;
  }
  const T &value() const {
    assert(ok() && "value() on an Expected holding an error");
    return *value_;
  }
  T &operator*() { return value(); }
  const T &operator*() const { return value(); }
  T *operator->() { return &value(); }
  const T *operator->() const { return &value(); }

  /// The error; only meaningful when !ok().
  const Error &error() const { return error_; }

private:
  std::optional<T> value_;
  Error error_;
};

//===----------------------------------------------------------------------===//
// Actions
//===----------------------------------------------------------------------===//

/// What one action computes (docs/schedules/contract.md, "Vocabulary").
enum class ActionKind : uint8_t {
  Forward,        ///< F: forward of one stage on one micro-batch.
  Backward,       ///< B: full backward (input and weight gradient).
  BackwardInput,  ///< I: input-gradient backward; weight work deferred.
  BackwardWeight, ///< W: the deferred weight-gradient work of an earlier I.
  OverlappedFB,   ///< An F and a full B of two chunks issued as one unit.
};

/// The letter of a kind in the text form ('F', 'B', 'I', 'W'); '?' for a
/// pair, which has no single letter.
char kindLetter(ActionKind kind);

/// One unit of compute issued by a rank. For an overlapped pair, `stage` and
/// `microbatch` name the forward part and `bStage`/`bMicrobatch` the
/// backward part (always a full B).
struct Action {
  ActionKind kind = ActionKind::Forward;
  int stage = 0;
  int microbatch = 0;
  int bStage = -1;
  int bMicrobatch = -1;

  static Action forward(int stage, int mb) {
    return {ActionKind::Forward, stage, mb};
  }
  static Action backward(int stage, int mb) {
    return {ActionKind::Backward, stage, mb};
  }
  static Action backwardInput(int stage, int mb) {
    return {ActionKind::BackwardInput, stage, mb};
  }
  static Action backwardWeight(int stage, int mb) {
    return {ActionKind::BackwardWeight, stage, mb};
  }
  /// pair(F of fStage on fMb, B of bStage on bMb).
  static Action pair(int fStage, int fMb, int bStage, int bMb) {
    return {ActionKind::OverlappedFB, fStage, fMb, bStage, bMb};
  }

  bool isPair() const { return kind == ActionKind::OverlappedFB; }
  /// The forward part of a pair (the action itself otherwise).
  Action forwardPart() const {
    return isPair() ? forward(stage, microbatch) : *this;
  }
  /// The backward part of a pair (the action itself otherwise).
  Action backwardPart() const {
    return isPair() ? backward(bStage, bMicrobatch) : *this;
  }
  /// The single actions this action is made of: one, or two for a pair
  /// (forward part first).
  int numParts() const { return isPair() ? 2 : 1; }
  Action part(int i) const {
    return isPair() ? (i == 0 ? forwardPart() : backwardPart()) : *this;
  }

  bool operator==(const Action &o) const {
    return kind == o.kind && stage == o.stage && microbatch == o.microbatch &&
           (!isPair() || (bStage == o.bStage && bMicrobatch == o.bMicrobatch));
  }
  bool operator!=(const Action &o) const { return !(*this == o); }
};

/// The text form of one action in torch.distributed.pipelining's grammar:
/// `0F3`, `7I1`, `(0F3;7B1)OVERLAP_F_B`.
std::string formatAction(const Action &action);

/// torch.distributed.pipelining's non-compute actions, as its compute+comms
/// schedules (`_dump_csv(format="compute_comms")`) hold them. SEND_F and
/// SEND_B name the sending stage, RECV_F and RECV_B the receiving stage
/// (`0SEND_F3` is matched by `1RECV_F3`); UNSHARD, RESHARD (FSDP's
/// all-gather and release of a stage's parameters) and REDUCE_GRAD (the
/// gradient reduction after a stage's last backward) name a stage only.
enum class CommKind : uint8_t {
  SendF,
  RecvF,
  SendB,
  RecvB,
  Unshard,
  Reshard,
  ReduceGrad,
};

/// "SEND_F", "RECV_F", "SEND_B", "RECV_B", "UNSHARD", "RESHARD",
/// "REDUCE_GRAD".
const char *commKindName(CommKind kind);

/// One non-compute action of a rank, placed before the rank's compute
/// action `before` (`before` == the number of compute actions: after the
/// last one).
struct CommAction {
  CommKind kind = CommKind::SendF;
  int stage = 0;
  int microbatch = -1; ///< -1 for UNSHARD, RESHARD and REDUCE_GRAD.
  int before = 0;

  bool hasMicrobatch() const {
    return kind == CommKind::SendF || kind == CommKind::RecvF ||
           kind == CommKind::SendB || kind == CommKind::RecvB;
  }
  bool operator==(const CommAction &o) const {
    return kind == o.kind && stage == o.stage && microbatch == o.microbatch &&
           before == o.before;
  }
  bool operator!=(const CommAction &o) const { return !(*this == o); }
};

/// `3SEND_F1`, `4RECV_B0`, `2UNSHARD`, `7REDUCE_GRAD`.
std::string formatCommAction(const CommAction &action);

//===----------------------------------------------------------------------===//
// Schedules
//===----------------------------------------------------------------------===//

/// The algorithm a schedule came from. `Custom` is a schedule read from text
/// whose algorithm is not known.
enum class ScheduleKind : uint8_t {
  GPipe,
  OneFOneB,
  Interleaved1F1B,
  ZBH1,
  ZBV,
  DualPipe,
  DualPipeV,
  LoopedBFS,     ///< Breadth-first (Lamy-Poirier), as torch's ScheduleLoopedBFS.
  InterleavedZB, ///< Interleaved ZB1P, as torch's ScheduleInterleavedZeroBubble.
  VHalf,         ///< V-Half (Qi et al., controllable memory): ~1/2 of 1F1B's memory.
  VMin,          ///< V-Min: ~1/3 of 1F1B's activation memory.
  Custom,
};

/// Canonical command-line name: gpipe, 1f1b, interleaved, zb1p, zbv,
/// dualpipe, dualpipev, loopedbfs, interleaved-zb, vhalf, vmin, custom.
const char *scheduleName(ScheduleKind kind);
/// Human name for tables and pictures: "GPipe", "1F1B", "ZB1P", ...
const char *scheduleTitle(ScheduleKind kind);
/// Parses a command-line name, accepting the aliases `interleaved-1f1b`,
/// `zbh1`, `v-half` and `v-min`. Does not accept `auto` (that is a choice, not a schedule).
std::optional<ScheduleKind> parseScheduleName(const std::string &name);
/// Every generated kind, in the order tables list them.
const std::vector<ScheduleKind> &allScheduleKinds();

/// One pipeline: stages in data-flow order and the micro-batches that flow
/// through it. Most schedules have one pipeline holding every stage and
/// every micro-batch; DualPipe has two (docs/schedules/contract.md).
struct Pipeline {
  std::vector<int> stages;
  int firstMicrobatch = 0;
  int numMicrobatches = 0;

  bool hasMicrobatch(int mb) const {
    return mb >= firstMicrobatch && mb < firstMicrobatch + numMicrobatches;
  }
};

/// A complete pipeline schedule: per-rank action lists in issue order, plus
/// the placement (stage -> rank) and the pipelines the stages form.
struct Schedule {
  ScheduleKind kind = ScheduleKind::Custom;
  int numRanks = 0;
  int numStages = 0;
  int numMicrobatches = 0;
  /// Stages held by one rank (1 for 1F1B, 2 for V placements, v for
  /// interleaved).
  int chunksPerRank = 1;
  /// stageToRank[s] is the rank that computes stage s.
  std::vector<int> stageToRank;
  std::vector<Pipeline> pipelines;
  /// ranks[r] is rank r's compute actions in issue order.
  std::vector<std::vector<Action>> ranks;
  /// PyTorch's non-compute actions of a compute+comms schedule: comms[r]
  /// holds rank r's, in issue order (non-decreasing `before`). Empty for a
  /// compute-only schedule (every generated one); then the messages follow
  /// from the compute actions and a receive-posting policy (Validator.h).
  std::vector<std::vector<CommAction>> comms;

  bool hasComms() const {
    for (const auto &r : comms)
      if (!r.empty())
        return true;
    return false;
  }

  /// Total number of actions over all ranks (a pair counts once).
  size_t numActions() const;
};

/// Where a stage sits in its pipeline, derived from Schedule::pipelines.
struct StageLinks {
  int pipeline = -1; ///< Index into Schedule::pipelines, -1 if in none.
  int prev = -1;     ///< Upstream stage, -1 for the first stage.
  int next = -1;     ///< Downstream stage, -1 for the last (loss) stage.
};

/// Per-stage pipeline links; stages that belong to no pipeline get
/// pipeline == -1.
std::vector<StageLinks> stageLinks(const Schedule &schedule);

/// Placement of a schedule family on N ranks: the stage count, stage ->
/// rank map and pipelines (micro-batches 0..M-1). Used by the generators and
/// to interpret a CSV file whose schedule name is known.
struct Placement {
  int numStages = 0;
  int chunksPerRank = 1;
  std::vector<int> stageToRank;
  std::vector<Pipeline> pipelines;
};

/// The placement of `kind` on `numRanks` ranks with `numMicrobatches`
/// micro-batches (and `chunks` chunks per rank for interleaved 1F1B).
/// Fails for Custom and for non-positive sizes.
Expected<Placement> placementFor(ScheduleKind kind, int numRanks,
                                 int numMicrobatches, int chunks = 2);

/// Stage-sized parameter blocks held per device, in the units of the table
/// of docs/schedules/contract.md (1x for 1F1B/ZB1P/GPipe, 2x for DualPipe,
/// DualPipeV and ZB-V, v for interleaved 1F1B).
int parameterCopiesPerDevice(const Schedule &schedule);

} // namespace dualpipe::sched

#endif // DUALPIPE_SCHEDULE_SCHEDULE_H
