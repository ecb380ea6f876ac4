//===- LocalTransport.cpp - Ranks as threads of one process ---------------===//
//
// The default backend: needs nothing, runs anywhere, and is the reference the
// other backends are tested against.
//
// Point-to-point: each rank owns a mailbox keyed by (source, tag) that holds
// either messages that came before their receive or receives posted before
// their message, in order. A send whose receive is posted copies the bytes
// straight into the receiver's buffer on the sender's thread, while the
// receiver computes (the transfer of a posted receive); otherwise it copies
// them into the mailbox, and the receive takes them when it is posted. A
// send never blocks and only waits for posted receives block.
//
// Collectives: the members of a group meet in a rendezvous keyed by (group,
// how many collectives this group has run). Each member copies its data in;
// once all are in, each sums its own slice of the elements (in ascending rank
// order, so every member and every run gets bitwise the same result); once
// all slices are done, each copies the result out. The rendezvous owns every
// buffer, so a member that leaves early (failure) leaves nothing dangling.
//
//===----------------------------------------------------------------------===//

#include "Transport.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <utility>

namespace dualpipe::rt {
namespace {

using Clock = std::chrono::steady_clock;

enum class Wait : uint8_t { Ready, TimedOut, Abandoned };

/// A message that came before its receive was posted.
struct Message {
  std::vector<unsigned char> bytes;
  int64_t sentNs = -1, arrivedNs = -1;
};

/// A receive posted before its message came. The sender that takes it fills
/// `data` outside the mailbox lock, then sets `done` under it.
struct Posted {
  void *data = nullptr;
  int64_t bytes = 0;
  bool done = false;
  std::string problem; ///< A size mismatch, found by the sender.
  Transport::TransferTimes times;
};

struct Mailbox {
  std::mutex mutex;
  std::condition_variable arrived;
  /// (source, tag) -> messages in the order they were sent.
  std::map<std::pair<int32_t, int64_t>, std::deque<Message>> queues;
  /// (source, tag) -> receives waiting for a message, in posting order. A
  /// link has queued messages or posted receives, never both.
  std::map<std::pair<int32_t, int64_t>, std::deque<std::shared_ptr<Posted>>>
      posted;
  /// The owner's open requests (posted or already filled).
  std::map<int64_t, std::shared_ptr<Posted>> requests;
  /// For the timeout hint: the (source, tag) of each open request.
  std::map<int64_t, std::pair<int32_t, int64_t>> requestLinks;
};

std::string sizeMismatch(int64_t want, size_t got) {
  return ": the receive is for " + std::to_string(want) +
         " bytes but the matching send has " + std::to_string(got) +
         " bytes (the two ranks disagree on this buffer's shape or type)";
}

enum class CollectiveOp : uint8_t { AllReduceSum, Barrier };

/// One collective call of one group, shared by its members.
struct Rendezvous {
  CollectiveOp op;
  DType type;
  int64_t count;
  int32_t opener; ///< The first member to arrive; its call sets the signature.
  std::vector<std::vector<unsigned char>> contributions; ///< Per member.
  std::vector<unsigned char> result;
  std::vector<bool> arrivedMembers;
  size_t arrived = 0, reduced = 0, left = 0;
};

std::string describeCollective(CollectiveOp op, DType type, int64_t count,
                               const std::vector<int32_t> &group) {
  if (op == CollectiveOp::Barrier)
    return describeBarrier(static_cast<int32_t>(group.size()));
  return describeAllReduce(type, count, group);
}

template <typename T>
void sumSlice(Rendezvous &r, size_t lo, size_t hi) {
  T *out = reinterpret_cast<T *>(r.result.data());
  for (size_t m = 0; m < r.contributions.size(); ++m) {
    const T *in = reinterpret_cast<const T *>(r.contributions[m].data());
    if (m == 0)
      std::copy(in + lo, in + hi, out + lo);
    else
      for (size_t i = lo; i < hi; ++i)
        out[i] += in[i];
  }
}

class LocalTransport final : public Transport {
public:
  LocalTransport(int32_t size, std::chrono::nanoseconds timeout,
                 const std::atomic<bool> &failed)
      : timeout_(timeout), failed_(failed) {
    for (int32_t r = 0; r < size; ++r)
      mailboxes_.push_back(std::make_unique<Mailbox>());
    blockingRequests_.assign(static_cast<size_t>(size), 0);
    for (int32_t r = 0; r < size; ++r)
      world_.push_back(r);
  }

  const char *name() const override { return "local"; }

  CommStatus send(int32_t self, int32_t peer, int64_t tag, const void *data,
                  int64_t bytes) override {
    if (failed_.load(std::memory_order_acquire))
      return CommStatus::abandoned(describeSend(peer, tag));
    int64_t sentNs = monotonicNs();
    Mailbox &box = *mailboxes_[peer];
    const std::pair<int32_t, int64_t> key{self, tag};
    std::shared_ptr<Posted> receive;
    {
      std::lock_guard<std::mutex> lock(box.mutex);
      auto it = box.posted.find(key);
      if (it != box.posted.end()) {
        receive = std::move(it->second.front());
        it->second.pop_front();
        if (it->second.empty())
          box.posted.erase(it);
      }
    }
    if (receive) {
      // Into the receiver's own buffer, while it computes.
      if (receive->bytes != bytes)
        receive->problem = sizeMismatch(receive->bytes, size_t(bytes));
      else if (bytes > 0)
        std::memcpy(receive->data, data, static_cast<size_t>(bytes));
      {
        std::lock_guard<std::mutex> lock(box.mutex);
        receive->times = {sentNs, monotonicNs()};
        receive->done = true;
      }
      box.arrived.notify_all();
      return CommStatus::success();
    }
    Message message;
    message.bytes.resize(static_cast<size_t>(bytes));
    if (bytes > 0)
      std::memcpy(message.bytes.data(), data, static_cast<size_t>(bytes));
    message.sentNs = sentNs;
    message.arrivedNs = monotonicNs();
    {
      std::lock_guard<std::mutex> lock(box.mutex);
      // A receive posted while this message was copied is first in line now.
      auto it = box.posted.find(key);
      if (it != box.posted.end()) {
        receive = std::move(it->second.front());
        it->second.pop_front();
        if (it->second.empty())
          box.posted.erase(it);
        fill(*receive, std::move(message));
      } else {
        box.queues[key].push_back(std::move(message));
      }
    }
    box.arrived.notify_all();
    return CommStatus::success();
  }

  CommStatus postRecv(int32_t self, int32_t peer, int64_t tag, void *data,
                      int64_t bytes, int64_t request) override {
    Mailbox &box = *mailboxes_[self];
    const std::pair<int32_t, int64_t> key{peer, tag};
    auto receive = std::make_shared<Posted>();
    receive->data = data;
    receive->bytes = bytes;
    std::lock_guard<std::mutex> lock(box.mutex);
    auto it = box.queues.find(key);
    if (it != box.queues.end()) {
      fill(*receive, std::move(it->second.front()));
      it->second.pop_front();
      if (it->second.empty())
        box.queues.erase(it);
    } else {
      box.posted[key].push_back(receive);
    }
    box.requests[request] = std::move(receive);
    box.requestLinks[request] = key;
    return CommStatus::success();
  }

  CommStatus waitRecv(int32_t self, int64_t request,
                      TransferTimes &times) override {
    Clock::time_point deadline = Clock::now() + timeout_;
    Mailbox &box = *mailboxes_[self];
    std::unique_lock<std::mutex> lock(box.mutex);
    auto it = box.requests.find(request);
    if (it == box.requests.end())
      return CommStatus::failed("wait for request " + std::to_string(request),
                                ": no such posted receive");
    std::shared_ptr<Posted> receive = it->second;
    auto [peer, tag] = box.requestLinks[request];
    Wait wait = waitFor(lock, box.arrived, deadline,
                        [&] { return receive->done; });
    if (wait != Wait::Ready) {
      std::string hint = pendingHint(box, peer, tag);
      withdraw(box, lock, {peer, tag}, receive);
      box.requests.erase(request);
      box.requestLinks.erase(request);
      if (wait == Wait::Abandoned)
        return CommStatus::abandoned(describeRecv(peer, tag));
      return CommStatus::failed(describeRecv(peer, tag),
                                " timed out after " + formatSeconds(timeout_) +
                                    hint);
    }
    box.requests.erase(request);
    box.requestLinks.erase(request);
    times = receive->times;
    if (!receive->problem.empty())
      return CommStatus::failed(describeRecv(peer, tag), receive->problem);
    return CommStatus::success();
  }

  CommStatus recv(int32_t self, int32_t peer, int64_t tag, void *data,
                  int64_t bytes) override {
    // Requests of blocking receives count down from -1; the World's count up.
    int64_t request = --blockingRequests_[self];
    CommStatus status = postRecv(self, peer, tag, data, bytes, request);
    TransferTimes times;
    return status.ok() ? waitRecv(self, request, times) : status;
  }

  CommStatus allReduceSum(int32_t self, DType type, void *data, int64_t count,
                          const std::vector<int32_t> &group) override {
    return collective(self, CollectiveOp::AllReduceSum, type, data, count,
                      group);
  }

  CommStatus barrier(int32_t self) override {
    return collective(self, CollectiveOp::Barrier, DType::F32, nullptr, 0,
                      world_);
  }

  void abort() override {
    // Taking each mutex once orders the (already set) failure flag before the
    // waiters' next predicate check, so no wake-up is lost.
    for (auto &box : mailboxes_) {
      { std::lock_guard<std::mutex> lock(box->mutex); }
      box->arrived.notify_all();
    }
    { std::lock_guard<std::mutex> lock(collectiveMutex_); }
    collectiveChanged_.notify_all();
  }

private:
  /// Completes a posted receive with a message that came before it (the
  /// mailbox lock is held).
  static void fill(Posted &receive, Message message) {
    if (static_cast<int64_t>(message.bytes.size()) != receive.bytes)
      receive.problem = sizeMismatch(receive.bytes, message.bytes.size());
    else if (receive.bytes > 0)
      std::memcpy(receive.data, message.bytes.data(),
                  static_cast<size_t>(receive.bytes));
    receive.times = {message.sentNs, message.arrivedNs};
    receive.done = true;
  }

  /// Takes back a receive that will not be waited for any more, so no sender
  /// writes into its buffer after the caller frees it; waits out a sender
  /// that is copying into it right now (a memcpy, never a wait on a peer).
  static void withdraw(Mailbox &box, std::unique_lock<std::mutex> &lock,
                       std::pair<int32_t, int64_t> key,
                       const std::shared_ptr<Posted> &receive) {
    auto it = box.posted.find(key);
    if (it != box.posted.end()) {
      auto &queue = it->second;
      auto at = std::find(queue.begin(), queue.end(), receive);
      if (at != queue.end()) {
        queue.erase(at);
        if (queue.empty())
          box.posted.erase(it);
        return;
      }
    }
    box.arrived.wait(lock, [&] { return receive->done; });
  }

  /// Why a receive may have timed out, from what is waiting in the mailbox.
  static std::string pendingHint(const Mailbox &box, int32_t peer,
                                 int64_t tag) {
    std::string tags;
    for (const auto &[key, queue] : box.queues)
      if (key.first == peer && key.second != tag && !queue.empty())
        tags += (tags.empty() ? "" : ", ") + std::to_string(key.second);
    if (!tags.empty())
      return " (rank " + std::to_string(peer) + " did send messages with tag " +
             tags + ": do the two ranks disagree on the tag?)";
    return " (nothing unreceived from rank " + std::to_string(peer) +
           ": its matching send is missing, late, or it is blocked itself)";
  }

  template <typename Ready>
  Wait waitFor(std::unique_lock<std::mutex> &lock,
               std::condition_variable &changed, Clock::time_point deadline,
               Ready ready) {
    for (;;) {
      if (failed_.load(std::memory_order_acquire))
        return Wait::Abandoned;
      if (ready())
        return Wait::Ready;
      if (changed.wait_until(lock, deadline) == std::cv_status::timeout) {
        if (failed_.load(std::memory_order_acquire))
          return Wait::Abandoned;
        return ready() ? Wait::Ready : Wait::TimedOut;
      }
    }
  }

  CommStatus collective(int32_t self, CollectiveOp op, DType type, void *data,
                        int64_t count, const std::vector<int32_t> &group) {
    Clock::time_point deadline = Clock::now() + timeout_;
    std::string what = describeCollective(op, type, count, group);
    if (failed_.load(std::memory_order_acquire))
      return CommStatus::abandoned(what);

    const size_t members = group.size();
    const size_t me = static_cast<size_t>(
        std::lower_bound(group.begin(), group.end(), self) - group.begin());
    std::pair<std::vector<int32_t>, uint64_t> key;
    std::shared_ptr<Rendezvous> r;
    {
      std::lock_guard<std::mutex> lock(collectiveMutex_);
      std::vector<uint64_t> &calls = callsPerMember_[group];
      calls.resize(members);
      key = {group, calls[me]++};
      std::shared_ptr<Rendezvous> &slot = open_[key];
      if (!slot) {
        slot = std::make_shared<Rendezvous>();
        slot->op = op;
        slot->type = type;
        slot->count = count;
        slot->opener = self;
        slot->contributions.resize(members);
        slot->arrivedMembers.resize(members);
        slot->result.resize(static_cast<size_t>(count * dtypeBytes(type)));
      }
      r = slot;
    }
    if (r->op != op || r->type != type || r->count != count)
      return CommStatus::failed(
          what, ": rank " + std::to_string(r->opener) + " made its " +
                    describeCollective(r->op, r->type, r->count, group) +
                    " at this point (the ranks of the group disagree on the "
                    "order or size of their collectives)");

    const size_t bytes = static_cast<size_t>(count * dtypeBytes(type));
    if (bytes > 0) {
      const auto *in = static_cast<const unsigned char *>(data);
      r->contributions[me].assign(in, in + bytes);
    }

    std::unique_lock<std::mutex> lock(collectiveMutex_);
    r->arrivedMembers[me] = true;
    ++r->arrived;
    collectiveChanged_.notify_all();
    switch (waitFor(lock, collectiveChanged_, deadline,
                    [&] { return r->arrived == members; })) {
    case Wait::Ready:
      break;
    case Wait::Abandoned:
      return CommStatus::abandoned(what);
    case Wait::TimedOut: {
      std::vector<int32_t> missing;
      for (size_t m = 0; m < members; ++m)
        if (!r->arrivedMembers[m])
          missing.push_back(group[m]);
      return CommStatus::failed(
          what, " timed out after " + formatSeconds(timeout_) +
                    " waiting for rank" + (missing.size() > 1 ? "s " : " ") +
                    formatRanks(missing));
    }
    }
    lock.unlock();

    if (bytes > 0) {
      size_t n = static_cast<size_t>(count);
      size_t lo = n * me / members, hi = n * (me + 1) / members;
      if (type == DType::F32)
        sumSlice<float>(*r, lo, hi);
      else
        sumSlice<double>(*r, lo, hi);
    }

    lock.lock();
    ++r->reduced;
    collectiveChanged_.notify_all();
    switch (waitFor(lock, collectiveChanged_, deadline,
                    [&] { return r->reduced == members; })) {
    case Wait::Ready:
      break;
    case Wait::Abandoned:
      return CommStatus::abandoned(what);
    case Wait::TimedOut:
      return CommStatus::failed(what, " timed out after " +
                                          formatSeconds(timeout_) +
                                          " while the group was summing");
    }
    if (++r->left == members)
      open_.erase(key);
    lock.unlock();

    if (bytes > 0)
      std::memcpy(data, r->result.data(), bytes);
    return CommStatus::success();
  }

  std::chrono::nanoseconds timeout_;
  const std::atomic<bool> &failed_;
  std::vector<std::unique_ptr<Mailbox>> mailboxes_; ///< Indexed by receiver.
  std::vector<int32_t> world_;                      ///< 0 .. size-1.
  /// Per rank (touched only by its thread): the last blocking request id.
  std::vector<int64_t> blockingRequests_;

  std::mutex collectiveMutex_;
  std::condition_variable collectiveChanged_;
  /// group -> how many collectives each member has started in it.
  std::map<std::vector<int32_t>, std::vector<uint64_t>> callsPerMember_;
  std::map<std::pair<std::vector<int32_t>, uint64_t>,
           std::shared_ptr<Rendezvous>>
      open_;
};

} // namespace

std::unique_ptr<Transport>
createLocalTransport(int32_t size, std::chrono::nanoseconds timeout,
                     const std::atomic<bool> &failed) {
  return std::make_unique<LocalTransport>(size, timeout, failed);
}

} // namespace dualpipe::rt
