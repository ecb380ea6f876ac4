//===- NcclTransport.h - Bookkeeping of the nccl transport ------*- C++ -*-===//
//
// The parts of the nccl transport that need neither a GPU nor NCCL, kept
// apart so that they are unit-tested on any machine (test/unit/Runtime/
// NcclLogicTest.cpp): the FIFO numbering of messages per directed link, the
// keys of the communicator cache, and the watchdog's clock.
//
// Why FIFO numbering is enough. NCCL point-to-point has no tags: the n-th
// ncclSend from rank a to rank b meets the n-th ncclRecv on b from a. The
// compiler emits, for every directed link, the sends and receives of a step
// in the same order on both ends (the runtime's contract: each link is FIFO,
// and tags only name the messages), so matching by position on the link is
// matching by tag. Each link has its own two-rank communicator and stream, so
// traffic of one link never waits behind another link's.
//
//===----------------------------------------------------------------------===//

#ifndef DUALPIPE_RUNTIME_NCCLTRANSPORT_H
#define DUALPIPE_RUNTIME_NCCLTRANSPORT_H

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dualpipe::rt::nccl {

enum class Direction : uint8_t { Out, In };

/// Numbers the messages of each directed link of one rank: the position a
/// message has on its link is what NCCL matches it by.
class LinkLedger {
public:
  struct Message {
    uint64_t index; ///< 0 for the first message on the link.
    int64_t tag;
    int64_t bytes;
  };

  /// Records the next message on the link to (Out) or from (In) `peer`.
  Message post(int32_t peer, Direction direction, int64_t tag, int64_t bytes) {
    Link &link = links_[{peer, direction}];
    Message message{link.count++, tag, bytes};
    link.recent.push_back(message);
    if (link.recent.size() > kRecent)
      link.recent.pop_front();
    return message;
  }

  /// How many messages the link has carried so far.
  uint64_t count(int32_t peer, Direction direction) const {
    auto it = links_.find({peer, direction});
    return it == links_.end() ? 0 : it->second.count;
  }

  /// The last few messages of the link, oldest first (for error messages).
  std::vector<Message> recent(int32_t peer, Direction direction) const {
    auto it = links_.find({peer, direction});
    if (it == links_.end())
      return {};
    return {it->second.recent.begin(), it->second.recent.end()};
  }

  /// "message 5 on the link 0 -> 1": where a message sits on its link.
  static std::string where(int32_t self, int32_t peer, Direction direction,
                           uint64_t index) {
    int32_t from = direction == Direction::Out ? self : peer;
    int32_t to = direction == Direction::Out ? peer : self;
    return "message " + std::to_string(index) + " on the link " +
           std::to_string(from) + " -> " + std::to_string(to);
  }

private:
  static constexpr size_t kRecent = 8;
  struct Link {
    uint64_t count = 0;
    std::deque<Message> recent;
  };
  std::map<std::pair<int32_t, Direction>, Link> links_;
};

/// The key of a group's communicator: its sorted member list. The whole world
/// uses the world communicator; any other group gets its own, made the first
/// time its members all-reduce (only members take part, so it can be made
/// lazily) and kept for the life of the world.
inline std::vector<int32_t> groupKey(std::vector<int32_t> group) {
  std::sort(group.begin(), group.end());
  group.erase(std::unique(group.begin(), group.end()), group.end());
  return group;
}

inline bool isWholeWorld(const std::vector<int32_t> &sortedGroup,
                         int32_t worldSize) {
  if (static_cast<int32_t>(sortedGroup.size()) != worldSize)
    return false;
  for (int32_t r = 0; r < worldSize; ++r)
    if (sortedGroup[r] != r)
      return false;
  return true;
}

/// The control-plane tag that carries the NCCL unique id of a group's
/// communicator from its first member to the others: distinct for distinct
/// groups with high probability, inside [kFirstGroupTag, upperBound].
constexpr int64_t kWorldIdTag = 1;
constexpr int64_t kLinkIdTag = 2;
constexpr int64_t kFirstGroupTag = 16;
inline int64_t groupTag(const std::vector<int32_t> &sortedGroup,
                        int64_t upperBound = 32767) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (int32_t r : sortedGroup)
    h = (h ^ static_cast<uint32_t>(r)) * 0x100000001b3ULL;
  uint64_t span = static_cast<uint64_t>(upperBound - kFirstGroupTag + 1);
  return kFirstGroupTag + static_cast<int64_t>(h % span);
}

/// A cache of communicators (or anything) by group.
template <typename Comm> class GroupCache {
public:
  /// The group's entry, made with `make` the first time; `made` tells.
  template <typename Make>
  Comm &get(const std::vector<int32_t> &group, Make make, bool *made = nullptr) {
    std::vector<int32_t> key = groupKey(group);
    auto it = entries_.find(key);
    if (made)
      *made = it == entries_.end();
    if (it == entries_.end())
      it = entries_.emplace(key, make(key)).first;
    return it->second;
  }
  bool contains(const std::vector<int32_t> &group) const {
    return entries_.count(groupKey(group)) != 0;
  }
  size_t size() const { return entries_.size(); }
  template <typename Fn> void forEach(Fn fn) {
    for (auto &entry : entries_)
      fn(entry.first, entry.second);
  }

private:
  std::map<std::vector<int32_t>, Comm> entries_;
};

/// The watchdog's clock: the operations a rank has queued on the GPU, each
/// with what it is (for the message) and when it was queued. The transport
/// asks `poll` with a `done` predicate (cudaEventQuery on the operation's
/// event); finished operations are dropped, and the oldest one that has been
/// queued longer than the timeout is returned. An operation's clock starts
/// when it is queued, not when it could start: the world's timeout bounds a
/// whole step's wait, as on the other transports.
template <typename Handle> class Watchdog {
public:
  using Clock = std::chrono::steady_clock;
  struct Op {
    Handle handle;
    std::string what;
    Clock::time_point queued;
  };

  explicit Watchdog(std::chrono::nanoseconds timeout) : timeout_(timeout) {}

  void add(Handle handle, std::string what, Clock::time_point now) {
    ops_.push_back({std::move(handle), std::move(what), now});
  }

  /// Drops finished operations (calling `release` on each) and returns the
  /// oldest overdue one, if any. Operations finish in any order (links are
  /// independent), so every one is asked.
  template <typename Done, typename Release>
  std::optional<Op> poll(Clock::time_point now, Done done, Release release) {
    std::optional<Op> overdue;
    for (auto it = ops_.begin(); it != ops_.end();) {
      if (done(it->handle)) {
        release(it->handle);
        it = ops_.erase(it);
        continue;
      }
      if (!overdue && now - it->queued >= timeout_)
        overdue = *it;
      ++it;
    }
    return overdue;
  }

  size_t pending() const { return ops_.size(); }
  bool empty() const { return ops_.empty(); }
  std::chrono::nanoseconds timeout() const { return timeout_; }

  /// Every operation still queued (e.g. to release at shutdown).
  template <typename Fn> void forEach(Fn fn) {
    for (Op &op : ops_)
      fn(op);
  }
  void clear() { ops_.clear(); }

private:
  std::chrono::nanoseconds timeout_;
  std::deque<Op> ops_;
};

/// The error for an operation the watchdog found overdue, worded as the
/// other transports word a timeout: "rank 1: receive from rank 0 (tag 7)
/// during F of stage 1, micro-batch 3 timed out after 5.0 s (...)".
/// `what` already holds the operation and the action.
inline std::string overdueMessage(int32_t self, const std::string &what,
                                  const std::string &timeout,
                                  const std::string &where) {
  return "rank " + std::to_string(self) + ": " + what + " timed out after " +
         timeout + " on the GPU (" + where +
         "; the NCCL communicators of this rank were aborted: the peer never "
         "made the matching call, or it failed or hangs itself)";
}

/// The local rank that picks this process's GPU: set by the launcher
/// (OpenMPI, MPICH/MVAPICH, Slurm), else 0. `getenv` is a parameter for tests.
inline int32_t localRankFromEnvironment(
    const std::function<const char *(const char *)> &getenv) {
  for (const char *name :
       {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "MV2_COMM_WORLD_LOCAL_RANK",
        "PMI_LOCAL_RANK", "SLURM_LOCALID", "LOCAL_RANK"}) {
    const char *value = getenv(name);
    if (value && *value) {
      char *end = nullptr;
      long rank = std::strtol(value, &end, 10);
      if (end && *end == '\0' && rank >= 0 && rank < (1L << 30))
        return static_cast<int32_t>(rank);
    }
  }
  return 0;
}

/// True while a send this process queued on a GPU link has not finished
/// (NcclTransport.cpp; false when no nccl world exists). The cuda runtime
/// defers cudaFree of managed memory meanwhile: cudaFree waits for the whole
/// device, and waiting for a send waits for its receiver, which may itself
/// be waiting for a message this rank has yet to queue.
bool sendsInFlight();

} // namespace dualpipe::rt::nccl

#endif // DUALPIPE_RUNTIME_NCCLTRANSPORT_H
