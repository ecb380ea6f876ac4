//===- Trace.h - Per-rank timeline recorder ---------------------*- C++ -*-===//
//
// Each rank records its actions and communication as it runs; the runner
// writes all ranks as one Chrome trace JSON file (one pid per rank) to be
// opened in Perfetto next to the schedule engine's simulated timeline.
//
// Events are small fixed records; names are rendered only when written, so
// recording costs a clock read and a push under an uncontended mutex (the
// mutex lets the host snapshot a timeline while its rank is still running).
//
//===----------------------------------------------------------------------===//

#ifndef DUALPIPE_RUNTIME_TRACE_H
#define DUALPIPE_RUNTIME_TRACE_H

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace dualpipe::rt {

struct TraceEvent {
  /// Recv: a blocking receive, or the wait of a posted one (postUs >= 0).
  enum class Type : uint8_t { Action, Send, Recv, AllReduce, Barrier, Error };
  Type type = Type::Action;
  bool failed = false;     ///< The call failed, or the action never ended.
  int32_t kind = 0;        ///< Action: dualpipe_action_kind.
  int32_t stage = -1;      ///< Action.
  int32_t microbatch = -1; ///< Action.
  int32_t peer = -1;       ///< Send, Recv; AllReduce: members of the group.
  int64_t tag = 0;         ///< Send, Recv.
  int64_t bytes = 0;       ///< Send, Recv, AllReduce.
  double startUs = 0;      ///< Microseconds since the world was created.
  double durationUs = 0;
  /// Recv: when the receive was posted, when the sender started sending and
  /// when the bytes arrived (same clock as startUs; -1: not known).
  double postUs = -1, sentUs = -1, arrivedUs = -1;
  std::string message; ///< Error.
};

/// "F", "B", "I", "W", "F&B", or "kind 7" for a code this build does not know.
std::string actionKindName(int32_t kind);
/// "F s1 mb3" (a negative stage or micro-batch is left out).
std::string actionShortName(int32_t kind, int32_t stage, int32_t microbatch);
/// "F of stage 1, micro-batch 3".
std::string actionLongName(int32_t kind, int32_t stage, int32_t microbatch);

/// One rank's events. Keeps at most `limit` (a long run must not grow
/// without bound) and counts the ones it dropped.
class Timeline {
public:
  static constexpr int64_t kDefaultLimit = 1'000'000;

  void add(TraceEvent event) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (static_cast<int64_t>(events_.size()) < limit_)
      events_.push_back(std::move(event));
    else
      ++dropped_;
  }
  void setLimit(int64_t limit) {
    std::lock_guard<std::mutex> lock(mutex_);
    limit_ = limit;
  }
  /// Forgets the events so far (and the count of dropped ones).
  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    events_.clear();
    dropped_ = 0;
  }
  std::vector<TraceEvent> snapshot(int64_t &dropped) const {
    std::lock_guard<std::mutex> lock(mutex_);
    dropped = dropped_;
    return events_;
  }

private:
  mutable std::mutex mutex_;
  std::vector<TraceEvent> events_;
  int64_t limit_ = kDefaultLimit;
  int64_t dropped_ = 0;
};

/// How much of a rank's communication ran while it computed.
struct CommSummary {
  /// Point-to-point messages received: the time each was in flight (sent to
  /// arrived) and the part of it during which the receiver was inside a
  /// compute action.
  double transferUs = 0, transferHiddenUs = 0;
  int64_t messages = 0;
  /// Gradient all-reduces: their time and the part during compute.
  double allReduceUs = 0, allReduceHiddenUs = 0;
  int64_t allReduces = 0;
};
CommSummary summarizeComm(const std::vector<TraceEvent> &events);

struct TraceInfo {
  std::string backend;
  std::string error;       ///< The world's first error, if any.
  int64_t droppedEvents = 0; ///< Over all ranks, past the per-rank limit.
};

/// Chrome trace JSON ("traceEvents" with complete "X" events, pid = rank).
std::string renderChromeTrace(const std::vector<std::vector<TraceEvent>> &ranks,
                              const TraceInfo &info);

} // namespace dualpipe::rt

#endif // DUALPIPE_RUNTIME_TRACE_H
