//===- MpiTransport.cpp - Ranks as the processes of an MPI job ------------===//
//
// Each rank is one process (one MPI rank); the process hosts exactly that
// rank and calls the runtime from one thread. Built only when CMake finds MPI.
//
// Point-to-point: a send copies the bytes behind an 8-byte header (when the
// send started, steady_clock ns: one clock for the processes of a machine)
// and starts an MPI_Isend (eager, like the local transport: a send never
// blocks, so two ranks that send to each other before receiving cannot
// deadlock); pending sends are completed as the transport makes progress. A
// blocking receive polls MPI_Iprobe on (peer, tag) until the message is
// there, the world fails, or the timeout passes; it checks the size before
// taking the message. A posted receive (postRecv) is an MPI_Irecv into a
// staging buffer at once; a progress thread (MPI_THREAD_MULTIPLE) tests the
// posted requests while the rank computes and copies each message into the
// rank's buffer when it lands, so the transfer and its completion happen
// under compute and waitRecv finds it done. Without MPI_THREAD_MULTIPLE the
// receive is made at the wait (the Transport default). MPI keeps messages of
// one (source, tag, communicator) in order, so each link is FIFO as with the
// local transport.
//
// Collectives run on their own communicator: every member sends its data to
// the group's lowest rank, which sums in ascending rank order (bitwise the
// same result as the local transport) and sends the sum back. Each message
// carries a header (operation, type, count, group), so members that disagree
// on their collectives get the same message as with the local transport.
//
// Failure across processes: when this process's world fails, the transport
// sends the first error to every other rank on a third communicator (best
// effort, never waiting). Every wait polls for such notices; one that
// arrives fails this process's world with the original message, and the
// waiting call returns Abandoned. A rank that dies without a word (killed)
// is noticed by mpirun, which ends the job; the others otherwise time out.
//
//===----------------------------------------------------------------------===//

#include "Transport.h"

#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <condition_variable>
#include <map>
#include <memory>
#include <cstdlib>
#include <cstring>
#include <list>
#include <thread>

namespace dualpipe::rt {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kNoticeTag = 1;

/// What precedes the payload of every point-to-point message.
struct MessageHeader {
  int64_t sentNs;
};
constexpr size_t kHeaderBytes = sizeof(MessageHeader);

/// Whether MPI was initialized with MPI_THREAD_MULTIPLE (progress threads).
bool threadMultiple = false;

enum class CollectiveOp : int32_t { AllReduceSum = 1, Barrier = 2 };

/// What precedes the data of every collective message.
struct CollectiveHeader {
  int32_t op;
  int32_t type;
  int64_t count;
  uint64_t groupHash;
};

uint64_t hashGroup(const std::vector<int32_t> &group) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (int32_t r : group)
    h = (h ^ static_cast<uint32_t>(r)) * 0x100000001b3ULL;
  return h;
}

std::string mpiError(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS)
    return "MPI error " + std::to_string(code);
  return std::string(text, static_cast<size_t>(length));
}

class MpiTransport final : public Transport {
public:
  MpiTransport(MPI_Comm parent, std::chrono::nanoseconds timeout,
               const std::atomic<bool> &failed)
      : timeout_(timeout), failed_(failed) {
    MPI_Comm_dup(parent, &data_);
    MPI_Comm_dup(parent, &collective_);
    MPI_Comm_dup(parent, &notices_);
    for (MPI_Comm comm : {data_, collective_, notices_})
      MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(data_, &self_);
    MPI_Comm_size(data_, &size_);
    void *value = nullptr;
    int found = 0;
    MPI_Comm_get_attr(data_, MPI_TAG_UB, &value, &found);
    if (found && value)
      tagUpperBound_ = *static_cast<int *>(value);
  }

  ~MpiTransport() override {
    stopProgress();
    // Let what is in flight arrive (a failure notice above all), but never
    // wait long: the peer may be gone.
    auto grace = failed_.load(std::memory_order_acquire)
                     ? std::chrono::nanoseconds(std::chrono::milliseconds(500))
                     : std::min(timeout_, std::chrono::nanoseconds(
                                              std::chrono::seconds(5)));
    Clock::time_point deadline = Clock::now() + grace;
    int idle = 0;
    while (!pending_.empty() && Clock::now() < deadline) {
      if (!progressSends())
        backoff(idle);
    }
    for (Pending &p : pending_) {
      MPI_Cancel(&p.request);
      MPI_Request_free(&p.request);
    }
    pending_.clear();
    // A failed world may leave messages unreceived (a notice, a send whose
    // receiver gave up). Freeing its communicators would let MPI reuse their
    // context ids for the next world, whose receives could then match these
    // stale messages; a failed world is the end of a run, so keep them.
    if (failed_.load(std::memory_order_acquire))
      return;
    for (MPI_Comm *comm : {&data_, &collective_, &notices_})
      MPI_Comm_free(comm);
  }

  const char *name() const override { return "mpi"; }
  int64_t maxTag() const override { return tagUpperBound_; }
  int32_t hostedRank() const override { return self_; }

  CommStatus send(int32_t self, int32_t peer, int64_t tag, const void *data,
                  int64_t bytes) override {
    (void)self;
    std::string op = describeSend(peer, tag);
    if (failed_.load(std::memory_order_acquire) || pollNotices())
      return CommStatus::abandoned(op);
    if (std::string problem = checkMessage(tag, bytes); !problem.empty())
      return CommStatus::failed(op, problem);
    const auto *in = static_cast<const unsigned char *>(data);
    std::vector<unsigned char> message(kHeaderBytes + bytes);
    MessageHeader header{monotonicNs()};
    std::memcpy(message.data(), &header, kHeaderBytes);
    if (bytes > 0)
      std::memcpy(message.data() + kHeaderBytes, in, bytes);
    Pending &p = startSend(std::move(message), peer, static_cast<int>(tag),
                           data_);
    if (p.error != MPI_SUCCESS)
      return CommStatus::failed(op, ": MPI_Isend failed: " +
                                        mpiError(p.error));
    progressSends();
    // A send past the eager limit needs progress on this side too (the
    // rendezvous), while this rank computes: wake the progress thread.
    // (progress_ is only touched by this rank's thread and the destructor.)
    if (threadMultiple && !pending_.empty()) {
      if (!progress_.joinable())
        progress_ = std::thread([this] { progressLoop(); });
      progressCv_.notify_all();
    }
    return CommStatus::success();
  }

  CommStatus recv(int32_t self, int32_t peer, int64_t tag, void *data,
                  int64_t bytes) override {
    (void)self;
    Clock::time_point deadline = Clock::now() + timeout_;
    std::string op = describeRecv(peer, tag);
    if (std::string problem = checkMessage(tag, bytes); !problem.empty())
      return CommStatus::failed(op, problem);
    MPI_Status status;
    std::string error;
    Wait wait = waitFor(deadline, [&] {
      int flag = 0;
      int rc = MPI_Iprobe(peer, static_cast<int>(tag), data_, &flag, &status);
      if (rc != MPI_SUCCESS)
        error = ": MPI_Iprobe failed: " + mpiError(rc);
      return flag != 0 || !error.empty();
    });
    if (wait == Wait::Abandoned)
      return CommStatus::abandoned(op);
    if (wait == Wait::TimedOut)
      return CommStatus::failed(op, " timed out after " +
                                        formatSeconds(timeout_) +
                                        pendingHint(peer, tag));
    if (!error.empty())
      return CommStatus::failed(op, error);
    int count = 0;
    MPI_Get_count(&status, MPI_BYTE, &count);
    if (std::string problem = checkSize(count, bytes); !problem.empty())
      return CommStatus::failed(op, problem);
    // The message is there: this MPI_Recv returns at once.
    std::vector<unsigned char> message(static_cast<size_t>(count));
    int rc = MPI_Recv(message.data(), count, MPI_BYTE, peer,
                      static_cast<int>(tag), data_, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS)
      return CommStatus::failed(op, ": MPI_Recv failed: " + mpiError(rc));
    if (bytes > 0)
      std::memcpy(data, message.data() + kHeaderBytes, bytes);
    return CommStatus::success();
  }

  CommStatus postRecv(int32_t self, int32_t peer, int64_t tag, void *data,
                      int64_t bytes, int64_t request) override {
    if (!threadMultiple)
      return Transport::postRecv(self, peer, tag, data, bytes, request);
    std::string op = describeRecv(peer, tag);
    if (std::string problem = checkMessage(tag, bytes); !problem.empty())
      return CommStatus::failed(op, problem);
    auto posted = std::make_unique<Posted>();
    posted->peer = peer;
    posted->tag = tag;
    posted->data = data;
    posted->bytes = bytes;
    posted->staging.resize(kHeaderBytes + bytes);
    std::lock_guard<std::mutex> lock(postedMutex_);
    int rc = MPI_Irecv(posted->staging.data(),
                       static_cast<int>(posted->staging.size()), MPI_BYTE,
                       peer, static_cast<int>(tag), data_, &posted->request);
    if (rc != MPI_SUCCESS)
      return CommStatus::failed(op, ": MPI_Irecv failed: " + mpiError(rc));
    posted_[request] = std::move(posted);
    ++posts_;
    if (!progress_.joinable())
      progress_ = std::thread([this] { progressLoop(); });
    progressCv_.notify_all();
    return CommStatus::success();
  }

  CommStatus waitRecv(int32_t self, int64_t request,
                      TransferTimes &times) override {
    std::unique_lock<std::mutex> lock(postedMutex_);
    auto it = posted_.find(request);
    if (it == posted_.end()) {
      lock.unlock();
      return Transport::waitRecv(self, request, times);
    }
    Posted &p = *it->second;
    std::string op = describeRecv(p.peer, p.tag);
    Clock::time_point deadline = Clock::now() + timeout_;
    // While a rank waits, nothing of its own is left to hide the transfer
    // under: the progress thread polls at its fastest.
    struct Waiting {
      std::atomic<int> &count;
      explicit Waiting(std::atomic<int> &c) : count(c) { ++count; }
      ~Waiting() { --count; }
    } waiting(waiters_);
    progressCv_.notify_all();
    while (!p.done) {
      // The progress thread completes it; this thread watches for failure
      // notices and completes its own sends meanwhile.
      progressCv_.wait_for(lock, std::chrono::milliseconds(1));
      if (p.done)
        break;
      lock.unlock();
      bool gone = pollNotices();
      progressSends();
      lock.lock();
      if (p.done)
        break;
      if (gone || Clock::now() >= deadline) {
        // Withdraw the receive: MPI_Cancel then wait for it, so no late
        // message lands in the staging buffer after it is freed.
        MPI_Cancel(&p.request);
        MPI_Wait(&p.request, MPI_STATUS_IGNORE);
        std::unique_ptr<Posted> owned = std::move(it->second);
        posted_.erase(it);
        lock.unlock();
        if (gone)
          return CommStatus::abandoned(op);
        return CommStatus::failed(op, " timed out after " +
                                          formatSeconds(timeout_) +
                                          pendingHint(owned->peer, owned->tag));
      }
    }
    std::unique_ptr<Posted> owned = std::move(it->second);
    posted_.erase(it);
    lock.unlock();
    if (!owned->error.empty())
      return CommStatus::failed(op, owned->error);
    times.sentNs = owned->sentNs;
    times.arrivedNs = owned->arrivedNs;
    return CommStatus::success();
  }

  CommStatus allReduceSum(int32_t self, DType type, void *data, int64_t count,
                          const std::vector<int32_t> &group) override {
    return collective(self, CollectiveOp::AllReduceSum, type, data, count,
                      group);
  }

  CommStatus barrier(int32_t self) override {
    std::vector<int32_t> all(static_cast<size_t>(size_));
    for (int32_t r = 0; r < size_; ++r)
      all[r] = r;
    return collective(self, CollectiveOp::Barrier, DType::F32, nullptr, 0,
                      all);
  }

  void abort() override {
    // Every wait polls the failure flag; nothing sleeps for long.
  }

  void announceFailure(int32_t rank, const std::string &message) override {
    // Only this process's own failures (or its host's) go out; a notice that
    // came in is not sent on again.
    if (rank != self_ && rank >= 0)
      return;
    std::vector<unsigned char> text(sizeof(int32_t) + message.size());
    int32_t origin = self_;
    std::memcpy(text.data(), &origin, sizeof origin);
    std::memcpy(text.data() + sizeof origin, message.data(), message.size());
    for (int r = 0; r < size_; ++r)
      if (r != self_)
        startSend(text, r, kNoticeTag, notices_);
  }

private:
  enum class Wait : uint8_t { Ready, TimedOut, Abandoned };

  /// A receive posted with MPI_Irecv into `staging` (header and payload).
  struct Posted {
    int32_t peer = 0;
    int64_t tag = 0;
    void *data = nullptr;
    int64_t bytes = 0;
    std::vector<unsigned char> staging;
    MPI_Request request = MPI_REQUEST_NULL;
    bool done = false;
    std::string error;
    int64_t sentNs = -1, arrivedNs = -1;
  };

  std::string checkSize(int count, int64_t bytes) const {
    if (count == static_cast<int64_t>(kHeaderBytes) + bytes)
      return "";
    return ": the receive is for " + std::to_string(bytes) +
           " bytes but the matching send has " +
           std::to_string(count - static_cast<int64_t>(kHeaderBytes)) +
           " bytes (the two ranks disagree on this buffer's shape or type)";
  }

  /// Moves a landed message into the rank's buffer (postedMutex_ held).
  void land(Posted &p, const MPI_Status &status) {
    int count = 0;
    MPI_Get_count(&status, MPI_BYTE, &count);
    p.error = checkSize(count, p.bytes);
    if (p.error.empty()) {
      MessageHeader header;
      std::memcpy(&header, p.staging.data(), kHeaderBytes);
      if (p.bytes > 0)
        std::memcpy(p.data, p.staging.data() + kHeaderBytes, p.bytes);
      p.sentNs = header.sentNs;
      p.arrivedNs = monotonicNs();
    }
    p.done = true;
  }

  /// The progress thread: while receives are posted, tests them (which also
  /// drives MPI's progress engine for this process's sends), 50 us after a
  /// post or a landing and backing off to 800 us while nothing lands (a
  /// thread that polls without pause would take a core from the ranks);
  /// sleeps on the condition variable while nothing is posted.
  void progressLoop() {
    std::unique_lock<std::mutex> lock(postedMutex_);
    int pause = kFirstPauseUs;
    uint64_t seenPosts = 0, seenSends = 0;
    while (!stopProgress_) {
      bool outstanding = false, landed = false;
      for (auto &[id, p] : posted_) {
        if (p->done)
          continue;
        int flag = 0;
        MPI_Status status;
        int rc = MPI_Test(&p->request, &flag, &status);
        if (rc != MPI_SUCCESS) {
          p->error = rc == MPI_ERR_TRUNCATE
                         ? ": the matching send is larger than the " +
                               std::to_string(p->bytes) +
                               " bytes posted (the two ranks disagree on "
                               "this buffer's shape or type)"
                         : ": MPI_Test failed: " + mpiError(rc);
          p->done = landed = true;
        } else if (flag) {
          land(*p, status);
          landed = true;
        } else {
          outstanding = true;
        }
      }
      if (sendsInFlight_.load(std::memory_order_acquire) > 0) {
        // The sends belong to the rank thread; any MPI call drives the
        // progress engine that moves them (MPI_THREAD_MULTIPLE).
        int flag = 0;
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, data_, &flag,
                   MPI_STATUS_IGNORE);
        outstanding = true;
      }
      if (landed) {
        progressCv_.notify_all();
        pause = kFirstPauseUs;
      }
      if (!outstanding) {
        pause = kFirstPauseUs;
        progressCv_.wait(lock, [&] {
          if (stopProgress_ ||
              sendsInFlight_.load(std::memory_order_acquire) > 0)
            return true;
          for (auto &[id, p] : posted_)
            if (!p->done)
              return true;
          return false;
        });
        continue;
      }
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::microseconds(pause));
      pause = std::min(2 * pause, kLastPauseUs);
      lock.lock();
      uint64_t sends = sendsStarted_.load(std::memory_order_acquire);
      if (posts_ != seenPosts || sends != seenSends ||
          waiters_.load(std::memory_order_acquire) > 0) {
        seenPosts = posts_;
        seenSends = sends;
        pause = kFirstPauseUs;
      }
    }
  }
  static constexpr int kFirstPauseUs = 50, kLastPauseUs = 800;

  void stopProgress() {
    {
      std::lock_guard<std::mutex> lock(postedMutex_);
      stopProgress_ = true;
      for (auto &[id, p] : posted_)
        if (!p->done) {
          MPI_Cancel(&p->request);
          MPI_Wait(&p->request, MPI_STATUS_IGNORE);
          p->done = true;
        }
    }
    progressCv_.notify_all();
    if (progress_.joinable())
      progress_.join();
    posted_.clear();
  }

  struct Pending {
    std::vector<unsigned char> buffer;
    MPI_Request request = MPI_REQUEST_NULL;
    int error = MPI_SUCCESS;
  };

  std::string checkMessage(int64_t tag, int64_t bytes) const {
    if (tag < 0 || tag > tagUpperBound_)
      return ": the tag is outside the MPI transport's range 0 to " +
             std::to_string(tagUpperBound_);
    if (bytes > INT_MAX - static_cast<int64_t>(kHeaderBytes))
      return ": " + std::to_string(bytes) +
             " bytes is more than the MPI transport sends in one message (" +
             std::to_string(INT_MAX - static_cast<int64_t>(kHeaderBytes)) +
             ")";
    return "";
  }

  Pending &startSend(std::vector<unsigned char> buffer, int peer, int tag,
                     MPI_Comm comm) {
    pending_.emplace_back();
    sendsInFlight_.store(pending_.size(), std::memory_order_release);
    sendsStarted_.fetch_add(1, std::memory_order_release);
    Pending &p = pending_.back();
    p.buffer = std::move(buffer);
    p.error = MPI_Isend(p.buffer.data(), static_cast<int>(p.buffer.size()),
                        MPI_BYTE, peer, tag, comm, &p.request);
    if (p.error != MPI_SUCCESS) {
      Pending failedSend = std::move(p);
      pending_.pop_back();
      failedSends_.push_back(std::move(failedSend));
      return failedSends_.back();
    }
    return p;
  }

  /// Completes the sends that are done; true if any was.
  bool progressSends() {
    bool any = false;
    for (auto it = pending_.begin(); it != pending_.end();) {
      int done = 0;
      MPI_Test(&it->request, &done, MPI_STATUS_IGNORE);
      if (done) {
        it = pending_.erase(it);
        any = true;
      } else {
        ++it;
      }
    }
    failedSends_.clear();
    sendsInFlight_.store(pending_.size(), std::memory_order_release);
    return any;
  }

  /// Takes in failure notices from other ranks; true once the world failed.
  bool pollNotices() {
    if (failed_.load(std::memory_order_acquire))
      return true;
    int flag = 0;
    MPI_Status status;
    if (MPI_Iprobe(MPI_ANY_SOURCE, kNoticeTag, notices_, &flag, &status) !=
            MPI_SUCCESS ||
        !flag)
      return false;
    int count = 0;
    MPI_Get_count(&status, MPI_BYTE, &count);
    std::vector<unsigned char> text(static_cast<size_t>(std::max(count, 0)));
    MPI_Recv(text.data(), count, MPI_BYTE, status.MPI_SOURCE, kNoticeTag,
             notices_, MPI_STATUS_IGNORE);
    int32_t origin = status.MPI_SOURCE;
    std::string message;
    if (text.size() >= sizeof origin) {
      std::memcpy(&origin, text.data(), sizeof origin);
      message.assign(text.begin() + sizeof origin, text.end());
    }
    if (message.empty())
      message = "rank " + std::to_string(origin) + " failed";
    if (failureSink_)
      failureSink_(origin, message);
    return true;
  }

  template <typename Ready> Wait waitFor(Clock::time_point deadline, Ready ready) {
    int idle = 0;
    for (;;) {
      if (pollNotices())
        return Wait::Abandoned;
      if (ready())
        return Wait::Ready;
      bool progressed = progressSends();
      if (Clock::now() >= deadline) {
        if (pollNotices())
          return Wait::Abandoned;
        return ready() ? Wait::Ready : Wait::TimedOut;
      }
      if (progressed)
        idle = 0;
      else
        backoff(idle);
    }
  }

  std::string pendingHint(int32_t peer, int64_t tag) {
    int flag = 0;
    MPI_Status status;
    if (MPI_Iprobe(peer, MPI_ANY_TAG, data_, &flag, &status) == MPI_SUCCESS &&
        flag && status.MPI_TAG != tag)
      return " (rank " + std::to_string(peer) +
             " did send messages with tag " + std::to_string(status.MPI_TAG) +
             ": do the two ranks disagree on the tag?)";
    return " (nothing unreceived from rank " + std::to_string(peer) +
           ": its matching send is missing, late, or it is blocked itself)";
  }

  static std::string describe(CollectiveOp op, DType type, int64_t count,
                              const std::vector<int32_t> &group) {
    if (op == CollectiveOp::Barrier)
      return describeBarrier(static_cast<int32_t>(group.size()));
    return describeAllReduce(type, count, group);
  }

  int tagOf(uint64_t groupHash) const {
    return static_cast<int>(groupHash % static_cast<uint64_t>(tagUpperBound_));
  }

  /// Waits for the collective message from `from` and takes it into
  /// `message`; "" or the problem.
  std::string receiveCollective(Clock::time_point deadline, int32_t from,
                                int tag, std::vector<unsigned char> &message,
                                Wait &wait) {
    MPI_Status status;
    std::string error;
    wait = waitFor(deadline, [&] {
      int flag = 0;
      int rc = MPI_Iprobe(from, tag, collective_, &flag, &status);
      if (rc != MPI_SUCCESS)
        error = ": MPI_Iprobe failed: " + mpiError(rc);
      return flag != 0 || !error.empty();
    });
    if (wait != Wait::Ready || !error.empty())
      return error;
    int count = 0;
    MPI_Get_count(&status, MPI_BYTE, &count);
    message.resize(static_cast<size_t>(count));
    int rc = MPI_Recv(message.data(), count, MPI_BYTE, from, tag, collective_,
                      MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS)
      return ": MPI_Recv failed: " + mpiError(rc);
    return "";
  }

  /// "" if `message` is the same collective as `mine`, else the problem.
  static std::string matchHeader(const std::vector<unsigned char> &message,
                                 const CollectiveHeader &mine, int32_t from,
                                 const std::vector<int32_t> &group) {
    CollectiveHeader theirs{};
    if (message.size() >= sizeof theirs)
      std::memcpy(&theirs, message.data(), sizeof theirs);
    if (theirs.op == mine.op && theirs.type == mine.type &&
        theirs.count == mine.count && theirs.groupHash == mine.groupHash &&
        message.size() ==
            sizeof theirs + static_cast<size_t>(
                                mine.count *
                                dtypeBytes(static_cast<DType>(mine.type))))
      return "";
    if (theirs.groupHash != mine.groupHash || message.size() < sizeof theirs)
      return ": rank " + std::to_string(from) +
             " made a collective over another group at this point (the ranks "
             "of the group disagree on the order of their collectives)";
    return ": rank " + std::to_string(from) + " made its " +
           describe(static_cast<CollectiveOp>(theirs.op),
                    static_cast<DType>(theirs.type), theirs.count, group) +
           " at this point (the ranks of the group disagree on the order or "
           "size of their collectives)";
  }

  CommStatus collective(int32_t self, CollectiveOp op, DType type, void *data,
                        int64_t count, const std::vector<int32_t> &group) {
    Clock::time_point deadline = Clock::now() + timeout_;
    std::string what = describe(op, type, count, group);
    if (pollNotices())
      return CommStatus::abandoned(what);
    const size_t bytes = static_cast<size_t>(count * dtypeBytes(type));
    if (sizeof(CollectiveHeader) + bytes > static_cast<size_t>(INT_MAX))
      return CommStatus::failed(what, ": too large for one MPI message");
    CollectiveHeader header{static_cast<int32_t>(op),
                            static_cast<int32_t>(type), count,
                            hashGroup(group)};
    const int tag = tagOf(header.groupHash);
    const int32_t root = group.front();
    if (group.size() == 1)
      return CommStatus::success();

    std::vector<unsigned char> message(sizeof header + bytes);
    std::memcpy(message.data(), &header, sizeof header);
    if (self != root) {
      if (bytes > 0)
        std::memcpy(message.data() + sizeof header, data, bytes);
      Pending &p = startSend(std::move(message), root, tag, collective_);
      if (p.error != MPI_SUCCESS)
        return CommStatus::failed(what, ": MPI_Isend failed: " +
                                            mpiError(p.error));
      std::vector<unsigned char> result;
      Wait wait;
      std::string error = receiveCollective(deadline, root, tag, result, wait);
      if (wait == Wait::Abandoned)
        return CommStatus::abandoned(what);
      if (wait == Wait::TimedOut)
        return CommStatus::failed(
            what, " timed out after " + formatSeconds(timeout_) +
                      " waiting for rank " + std::to_string(root) +
                      " (the group's first rank, which sums) to send the "
                      "result");
      if (error.empty())
        error = matchHeader(result, header, root, group);
      if (!error.empty())
        return CommStatus::failed(what, error);
      if (bytes > 0)
        std::memcpy(data, result.data() + sizeof header, bytes);
      return CommStatus::success();
    }

    // The root: sum in ascending rank order, starting from its own data.
    if (bytes > 0)
      std::memcpy(message.data() + sizeof header, data, bytes);
    std::vector<unsigned char> contribution;
    for (size_t m = 1; m < group.size(); ++m) {
      Wait wait;
      std::string error =
          receiveCollective(deadline, group[m], tag, contribution, wait);
      if (wait == Wait::Abandoned)
        return CommStatus::abandoned(what);
      if (wait == Wait::TimedOut) {
        std::vector<int32_t> missing;
        for (size_t k = m; k < group.size(); ++k) {
          int flag = 0;
          MPI_Iprobe(group[k], tag, collective_, &flag, MPI_STATUS_IGNORE);
          if (!flag || k == m)
            missing.push_back(group[k]);
        }
        return CommStatus::failed(
            what, " timed out after " + formatSeconds(timeout_) +
                      " waiting for rank" + (missing.size() > 1 ? "s " : " ") +
                      formatRanks(missing));
      }
      if (error.empty())
        error = matchHeader(contribution, header, group[m], group);
      if (!error.empty())
        return CommStatus::failed(what, error);
      if (type == DType::F32)
        addInto<float>(message, contribution, count);
      else
        addInto<double>(message, contribution, count);
    }
    for (size_t m = 1; m < group.size(); ++m) {
      Pending &p = startSend(message, group[m], tag, collective_);
      if (p.error != MPI_SUCCESS)
        return CommStatus::failed(what, ": MPI_Isend failed: " +
                                            mpiError(p.error));
    }
    if (bytes > 0)
      std::memcpy(data, message.data() + sizeof header, bytes);
    progressSends();
    return CommStatus::success();
  }

  template <typename T>
  static void addInto(std::vector<unsigned char> &sum,
                      const std::vector<unsigned char> &in, int64_t count) {
    for (int64_t i = 0; i < count; ++i) {
      T a, b;
      size_t at = sizeof(CollectiveHeader) + static_cast<size_t>(i) * sizeof(T);
      std::memcpy(&a, sum.data() + at, sizeof a);
      std::memcpy(&b, in.data() + at, sizeof b);
      a += b;
      std::memcpy(sum.data() + at, &a, sizeof a);
    }
  }

  std::chrono::nanoseconds timeout_;
  const std::atomic<bool> &failed_;
  MPI_Comm data_ = MPI_COMM_NULL, collective_ = MPI_COMM_NULL,
           notices_ = MPI_COMM_NULL;
  int self_ = 0, size_ = 1;
  int tagUpperBound_ = 32767; ///< The MPI standard's minimum.
  std::list<Pending> pending_;     ///< Sends in flight (their buffers).
  std::list<Pending> failedSends_; ///< Sends MPI refused (for their error).
  /// Posted receives by request; the progress thread and waitRecv share them.
  std::mutex postedMutex_;
  std::condition_variable progressCv_;
  std::map<int64_t, std::unique_ptr<Posted>> posted_;
  std::thread progress_;
  bool stopProgress_ = false;
  uint64_t posts_ = 0; ///< Receives posted so far (resets the back-off).
  /// pending_.size() as the progress thread may read it.
  std::atomic<size_t> sendsInFlight_{0};
  std::atomic<uint64_t> sendsStarted_{0}; ///< Also resets the back-off.
  std::atomic<int> waiters_{0}; ///< Ranks in waitRecv: no back-off then.
};

} // namespace

namespace {
bool initializedByUs = false;
} // namespace

std::string planMpiWorld(int32_t groupSize, int32_t &size,
                         TransportMaker &make) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (finalized)
    return "MPI was already finalized in this process";
  if (!initialized) {
    int provided = MPI_THREAD_SINGLE;
    // MULTIPLE lets a progress thread complete posted receives while the
    // rank computes; with less the receives are made at their waits.
    int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE,
                             &provided);
    if (rc != MPI_SUCCESS)
      return "MPI_Init_thread failed: " + mpiError(rc);
    initializedByUs = true;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (provided < MPI_THREAD_FUNNELED)
      return "the MPI library gives thread level " + std::to_string(provided) +
             "; the runtime needs at least MPI_THREAD_FUNNELED";
  }
  {
    int provided = MPI_THREAD_SINGLE;
    MPI_Query_thread(&provided);
    // DUALPIPE_MPI_PROGRESS=0 turns the progress thread off (receives are
    // then made at their waits), to measure what it buys.
    const char *progress = std::getenv("DUALPIPE_MPI_PROGRESS");
    bool off = progress && std::string(progress) == "0";
    threadMultiple = provided >= MPI_THREAD_MULTIPLE && !off;
  }
  int rank = 0, worldSize = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &worldSize);
  if (groupSize < 0 || (groupSize > 0 && worldSize % groupSize != 0))
    return "cannot split the " + std::to_string(worldSize) +
           " MPI processes into groups of " + std::to_string(groupSize);
  MPI_Comm comm = MPI_COMM_NULL;
  int color = groupSize > 0 ? rank / groupSize : 0;
  int rc = MPI_Comm_split(MPI_COMM_WORLD, color, rank, &comm);
  if (rc != MPI_SUCCESS)
    return "MPI_Comm_split failed: " + mpiError(rc);
  int groupRanks = 1;
  MPI_Comm_size(comm, &groupRanks);
  size = groupRanks;
  auto shared = std::make_shared<MPI_Comm>(comm);
  make = [shared](int32_t, std::chrono::nanoseconds timeout,
                  const std::atomic<bool> &failed) {
    auto transport = std::make_unique<MpiTransport>(*shared, timeout, failed);
    MPI_Comm_free(shared.get());
    return std::unique_ptr<Transport>(std::move(transport));
  };
  return "";
}

std::string finalizeMpi() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initializedByUs || !initialized || finalized)
    return "";
  int rc = MPI_Finalize();
  return rc == MPI_SUCCESS ? "" : "MPI_Finalize failed: " + mpiError(rc);
}

void abortMpi(int32_t code) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized)
    MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

} // namespace dualpipe::rt
