//===- World.h - Ranks, their transport, timeline and failure ---*- C++ -*-===//
//
// A world is what one training run shares: its ranks, the transport joining
// them, one timeline per rank, and the sticky world-wide failure. The C ABI
// (Runtime.cpp) is a thin layer over it; this is where arguments are checked,
// calls are timed onto the timeline, and a failed call fails the world.
//
// Rank-side methods are called only by the thread bound to `self`; they
// return "" on success or the message for the caller (already failing the
// world when the failure is new).
//
//===----------------------------------------------------------------------===//

#ifndef DUALPIPE_RUNTIME_WORLD_H
#define DUALPIPE_RUNTIME_WORLD_H

#include "Trace.h"
#include "Transport.h"

#include <functional>
#include <map>
#include <optional>

namespace dualpipe::rt {

class World {
public:
  using TransportFactory = std::function<std::unique_ptr<Transport>(
      int32_t size, std::chrono::nanoseconds timeout,
      const std::atomic<bool> &failed)>;

  World(int32_t size, std::chrono::nanoseconds timeout,
        const TransportFactory &makeTransport);
  World(const World &) = delete;
  World &operator=(const World &) = delete;

  int32_t size() const { return size_; }
  /// The one rank this process hosts (MPI), or -1 when it hosts all (local).
  int32_t hostedRank() const { return transport_->hostedRank(); }

  //--- Host side ------------------------------------------------------------//

  /// Claims `rank` for the calling thread; "" or why not.
  std::string bind(int32_t rank);
  /// Closes the rank's open actions (marked unfinished) and releases it.
  void unbind(int32_t rank);

  /// Fails the world with `message` (already saying who and what) unless it
  /// has failed before. `rank` is -1 for the host.
  void fail(int32_t rank, const std::string &message);
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  int32_t failedRank() const;
  /// The first error, or null. Stable once set.
  const char *error() const;

  std::string writeTrace(const std::string &path) const;
  /// At most this many events per rank are kept (0: record nothing).
  void setTraceLimit(int64_t eventsPerRank);
  /// Forgets every rank's events so far (a new step starts).
  void clearTrace();

  //--- Rank side (the thread bound to `self`) --------------------------------//

  std::string send(int32_t self, int32_t peer, int64_t tag, const void *data,
                   int64_t bytes);
  std::string recv(int32_t self, int32_t peer, int64_t tag, void *data,
                   int64_t bytes);
  /// Posts a receive (Transport::postRecv) and sets `request` (>= 0) for
  /// wait(); the buffer belongs to the transport until then.
  std::string irecv(int32_t self, int32_t peer, int64_t tag, void *data,
                    int64_t bytes, int64_t &request);
  /// Waits for a posted receive; on failure its buffer is zero-filled.
  std::string wait(int32_t self, int64_t request);
  /// What `self`'s timeline says of its communication (Trace.h).
  CommSummary commSummary(int32_t self) const;
  std::string allReduceSum(int32_t self, DType type, void *data, int64_t count,
                           const int32_t *ranks, int32_t nranks);
  /// Starts an all-reduce of `data` over the group and sets `request` for
  /// wait(), which sums (ascending rank order, bitwise the blocking one's
  /// result) into `data`; the buffer must not be touched before. Members
  /// match by `tag` (0 <= tag < 2^20), not by order: each sends its buffer
  /// to the others as point-to-point messages at once and posts receives
  /// for theirs, so the exchange runs while the ranks compute.
  std::string iallReduceSum(int32_t self, DType type, void *data,
                            int64_t count, const int32_t *ranks,
                            int32_t nranks, int64_t tag, int64_t &request);
  std::string barrier(int32_t self);
  void beginAction(int32_t self, int32_t kind, int32_t stage,
                   int32_t microbatch);
  void endAction(int32_t self);

  /// Stream-ordered point-to-point (Transport::sendOnStream): checked and
  /// recorded like send/recv (the timeline shows the time to queue them).
  bool streamOrdered() const { return transport_->streamOrdered(); }
  std::string sendOnStream(int32_t self, int32_t peer, int64_t tag,
                           const void *data, int64_t bytes, void *stream);
  std::string recvOnStream(int32_t self, int32_t peer, int64_t tag,
                           void *data, int64_t bytes, void *stream);
  /// Waits for every transfer `self` has queued on a stream.
  std::string synchronize(int32_t self);

private:
  struct ActionFrame {
    int32_t kind, stage, microbatch;
    double startUs;
  };
  struct PostedRecv {
    int32_t peer;
    int64_t tag;
    void *data;
    int64_t bytes;
    double postUs;
  };
  /// A started all-reduce: the others' contributions arrive in `incoming`
  /// through posted receives `requests` (-1 for self).
  struct PendingReduce {
    DType type;
    void *data;
    int64_t count;
    std::vector<int32_t> group; ///< Sorted.
    int64_t tag;
    std::vector<std::vector<unsigned char>> incoming;
    std::vector<int64_t> requests;
    double postUs;
    bool started = false; ///< Every send and post went through.
  };
  struct RankState {
    std::atomic<bool> bound{false};
    std::map<int64_t, PostedRecv> posted; ///< Open requests.
    std::map<int64_t, PendingReduce> reductions; ///< Open all-reduces.
    int64_t nextRequest = 0;
    std::vector<ActionFrame> actions; ///< Open actions, innermost last.
    /// The last action that ended since the rank was bound: a call between
    /// two actions (compiled steps wait for a message just before the
    /// action that uses it) is named after it.
    std::optional<ActionFrame> last;
    Timeline timeline;
  };

  double nowUs() const;
  /// " during F of stage 1, micro-batch 3" (innermost action first), else
  /// " following F of stage 1, micro-batch 2" (the last one that ended), or
  /// "" before the rank's first action.
  std::string during(int32_t self) const;
  /// The message for a call that failed before reaching the transport.
  std::string reject(int32_t self, const std::string &op,
                     const std::string &problem);
  /// The message for a transport call's status; fails the world if new.
  std::string conclude(int32_t self, const CommStatus &status);
  /// ": <what is wrong>" with `peer` as a partner of `self`, or "".
  std::string checkPeer(int32_t self, int32_t peer, const char *verb) const;
  /// What is wrong with a point-to-point call's peer or buffer, or "".
  std::string checkP2P(int32_t self, int32_t peer, const void *data,
                       int64_t bytes, const char *verb) const;
  /// What is wrong with an all-reduce's group, count or buffer, or "";
  /// sorts `group`.
  std::string checkGroup(int32_t self, std::vector<int32_t> &group,
                         const void *data, int64_t count) const;
  std::string waitReduce(int32_t self, int64_t request);
  /// Runs one transport call as a traced event of `self`'s timeline.
  CommStatus traced(int32_t self, TraceEvent::Type type, int32_t peer,
                    int64_t tag, int64_t bytes,
                    const std::function<CommStatus()> &call);

  const int32_t size_;
  const std::chrono::steady_clock::time_point start_;
  std::atomic<bool> failed_{false};
  mutable std::mutex failMutex_;
  std::string firstError_; ///< Written once, before failed_ is set.
  int32_t failedRank_ = -1;
  std::vector<std::unique_ptr<RankState>> ranks_;
  std::unique_ptr<Transport> transport_; ///< Last: it refers to failed_.
};

} // namespace dualpipe::rt

#endif // DUALPIPE_RUNTIME_WORLD_H
