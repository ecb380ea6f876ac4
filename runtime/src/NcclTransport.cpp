//===- NcclTransport.cpp - Ranks as MPI processes with one GPU each -------===//
//
// The nccl backend: each rank is one process of an MPI job and owns one GPU
// (the launcher's local rank picks it). Messages move between GPU buffers
// (the cuda target's managed memory) with NCCL; the MPI transport of the same
// group stays beside it as the control plane: it carries the NCCL unique ids
// at start, the barriers, and the failure notices between processes.
//
// Point-to-point, stream-ordered. Every directed link a -> b has its own
// two-rank communicator and, on each end, its own stream. A send records an
// event on the caller's (compute) stream, the link stream waits for it, then
// ncclSend runs there; a receive waits the same way (its buffer is no longer
// in use), ncclRecv runs on the link stream, and the compute stream waits for
// the event recorded after it. The call returns at once: compute never waits
// for a send, only for the data of its receives, which is what the eager
// local and mpi transports give, so a program that cannot deadlock there
// cannot deadlock here. One communicator per direction matters: NCCL runs
// the operations of a communicator in the order they were issued, so with
// one communicator per pair two ranks that both send before they receive
// would wait for each other. NCCL has no tags: messages match by their
// position on the link (see NcclTransport.h).
//
// All-reduce: ncclAllReduce on the world communicator, or for a smaller
// group on a communicator made the first time the group meets (only its
// members take part) and cached. The call waits for the result (it is a host
// call; the host may read the sum next).
//
// Watchdog: a thread polls the events of every queued operation and the
// communicators' asynchronous errors. An operation queued longer than the
// world's timeout, or an NCCL error, aborts every communicator of this rank
// (ncclCommAbort ends the kernels that wait, so the streams drain) and fails
// the world with the usual "rank, action, peer, tag" message; the rank
// thread then tells the other processes through the control plane, and
// their own watchdogs bound their waits in any case.
//
//===----------------------------------------------------------------------===//

#include "NcclTransport.h"
#include "Transport.h"

#include "dualpipe/Runtime/CudaRuntime.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace dualpipe::rt {
namespace {

using Clock = std::chrono::steady_clock;
using nccl::Direction;

std::string cudaText(cudaError_t err) {
  return std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
}

std::string ncclText(ncclResult_t result, ncclComm_t comm = nullptr) {
  std::string text = ncclGetErrorString(result);
  if (comm) {
    const char *last = ncclGetLastError(comm);
    if (last && *last)
      text += std::string(" (") + last + ")";
  }
  return text;
}

/// Thrown by the constructor; dualpipe_world_create_nccl returns its text.
struct StartError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class NcclTransport;
std::mutex activeMutex;
NcclTransport *active = nullptr; ///< The process's nccl transport, if any.

class NcclTransport final : public Transport {
public:
  NcclTransport(std::unique_ptr<Transport> control, int32_t size,
                std::chrono::nanoseconds timeout,
                const std::atomic<bool> &failed)
      : control_(std::move(control)), size_(size), timeout_(timeout),
        failed_(failed), watchdog_(timeout),
        owner_(std::this_thread::get_id()) {
    self_ = control_->hostedRank();
    // Failure notices from other processes arrive through the control plane.
    control_->setFailureSink([this](int32_t rank, const std::string &message) {
      if (failureSink_)
        failureSink_(rank, message);
    });
    std::string error = start();
    if (!error.empty()) {
      abortAll();
      release();
      throw StartError(error);
    }
    {
      std::lock_guard<std::mutex> lock(activeMutex);
      active = this;
    }
    watcher_ = std::thread([this] { watch(); });
  }

  ~NcclTransport() override {
    failureSink_ = nullptr; // The world is going away: report nothing more.
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (watcher_.joinable())
      watcher_.join();
    {
      std::lock_guard<std::mutex> lock(activeMutex);
      if (active == this)
        active = nullptr;
    }
    bool clean = !failed_.load(std::memory_order_acquire) && !aborted_;
    if (clean) {
      // Let what is queued finish (bounded), then close the communicators.
      if (!synchronize(self_).ok())
        clean = false;
    }
    if (clean)
      finalizeAll();
    else
      abortAll();
    release();
  }

  const char *name() const override { return "nccl"; }
  int32_t hostedRank() const override { return self_; }
  bool streamOrdered() const override { return true; }

  //--- Point-to-point on streams ------------------------------------------//

  CommStatus sendOnStream(int32_t self, int32_t peer, int64_t tag,
                          const void *data, int64_t bytes, void *stream,
                          const std::string &what) override {
    (void)self;
    std::string op = describeSend(peer, tag);
    if (CommStatus s = enter(op); !s.ok())
      return s;
    std::lock_guard<std::mutex> lock(mutex_);
    Link &link = links_[peer];
    nccl::LinkLedger::Message m =
        ledger_.post(peer, Direction::Out, tag, bytes);
    auto compute = static_cast<cudaStream_t>(stream);
    cudaError_t err = cudaEventRecord(link.outReady, compute);
    if (err == cudaSuccess)
      err = cudaStreamWaitEvent(link.outStream, link.outReady, 0);
    if (err != cudaSuccess)
      return CommStatus::failed(op, ": ordering the send after the compute "
                                    "stream failed: " + cudaText(err));
    ncclResult_t result = ncclSend(data, static_cast<size_t>(bytes), ncclUint8,
                                   /*peer=*/1, link.out, link.outStream);
    if (std::string problem = issued(result, link.out); !problem.empty())
      return CommStatus::failed(op, ": ncclSend failed: " + problem);
    cudaEvent_t done = nullptr;
    if ((err = cudaEventCreateWithFlags(&done, cudaEventDisableTiming)) !=
            cudaSuccess ||
        (err = cudaEventRecord(done, link.outStream)) != cudaSuccess ||
        (err = cudaEventRecord(link.outLatest, link.outStream)) != cudaSuccess)
      return CommStatus::failed(op, ": recording the send's event failed: " +
                                        cudaText(err));
    watchdog_.add(done, what + " [" + nccl::LinkLedger::where(
                                          self_, peer, Direction::Out,
                                          m.index) + "]",
                  Clock::now());
    return CommStatus::success();
  }

  CommStatus recvOnStream(int32_t self, int32_t peer, int64_t tag, void *data,
                          int64_t bytes, void *stream,
                          const std::string &what) override {
    (void)self;
    std::string op = describeRecv(peer, tag);
    if (CommStatus s = enter(op); !s.ok())
      return s;
    std::lock_guard<std::mutex> lock(mutex_);
    Link &link = links_[peer];
    nccl::LinkLedger::Message m = ledger_.post(peer, Direction::In, tag, bytes);
    auto compute = static_cast<cudaStream_t>(stream);
    // The buffer may still be read by work queued before the receive.
    cudaError_t err = cudaEventRecord(link.inReady, compute);
    if (err == cudaSuccess)
      err = cudaStreamWaitEvent(link.inStream, link.inReady, 0);
    if (err != cudaSuccess)
      return CommStatus::failed(op, ": ordering the receive after the "
                                    "compute stream failed: " + cudaText(err));
    ncclResult_t result = ncclRecv(data, static_cast<size_t>(bytes), ncclUint8,
                                   /*peer=*/0, link.in, link.inStream);
    if (std::string problem = issued(result, link.in); !problem.empty())
      return CommStatus::failed(op, ": ncclRecv failed: " + problem);
    cudaEvent_t done = nullptr;
    if ((err = cudaEventCreateWithFlags(&done, cudaEventDisableTiming)) !=
            cudaSuccess ||
        (err = cudaEventRecord(done, link.inStream)) != cudaSuccess ||
        (err = cudaEventRecord(link.inLatest, link.inStream)) != cudaSuccess ||
        (err = cudaStreamWaitEvent(compute, done, 0)) != cudaSuccess)
      return CommStatus::failed(op, ": ordering the compute stream after the "
                                    "receive failed: " + cudaText(err));
    watchdog_.add(done, what + " [" + nccl::LinkLedger::where(
                                          self_, peer, Direction::In,
                                          m.index) + "]",
                  Clock::now());
    return CommStatus::success();
  }

  CommStatus synchronize(int32_t self) override {
    (void)self;
    const std::string op = "waiting for the transfers queued on the GPU";
    flushNotice();
    int idle = 0;
    for (;;) {
      if (failed_.load(std::memory_order_acquire) || aborted_)
        return CommStatus::abandoned(op);
      std::optional<std::string> problem;
      bool empty = false;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        problem = check();
        empty = watchdog_.empty();
      }
      if (problem) {
        raise(*problem);
        return CommStatus::abandoned(op);
      }
      if (empty)
        return CommStatus::success();
      backoff(idle);
    }
  }

  //--- Host-side point-to-point ---------------------------------------------//

  // CPU code on this backend (dualpipe_rt_send/recv): allowed for buffers the
  // GPU can read (managed or device memory), through the transport's own
  // stream; a receive then waits for its data, a send does not (eager).
  CommStatus send(int32_t self, int32_t peer, int64_t tag, const void *data,
                  int64_t bytes) override {
    if (std::string problem = checkDeviceBuffer(data); !problem.empty())
      return CommStatus::failed(describeSend(peer, tag), problem);
    return sendOnStream(self, peer, tag, data, bytes, hostStream_,
                        describeSend(peer, tag));
  }

  CommStatus recv(int32_t self, int32_t peer, int64_t tag, void *data,
                  int64_t bytes) override {
    std::string op = describeRecv(peer, tag);
    if (std::string problem = checkDeviceBuffer(data); !problem.empty())
      return CommStatus::failed(op, problem);
    CommStatus status = recvOnStream(self, peer, tag, data, bytes, hostStream_,
                                     op);
    if (!status.ok())
      return status;
    return waitStream(hostStream_, op);
  }

  //--- Collectives ----------------------------------------------------------//

  CommStatus allReduceSum(int32_t self, DType type, void *data, int64_t count,
                          const std::vector<int32_t> &group) override {
    (void)self;
    std::string op = describeAllReduce(type, count, group);
    if (CommStatus s = enter(op); !s.ok())
      return s;
    std::vector<int32_t> key = nccl::groupKey(group);
    if (key.size() == 1 || count == 0)
      return CommStatus::success();
    ncclComm_t comm = worldComm_;
    if (!nccl::isWholeWorld(key, size_)) {
      std::string problem;
      comm = groupComm(key, problem);
      if (!comm)
        return CommStatus::failed(op, problem);
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      // Data received on a link may feed the sum.
      for (Link &link : links_) {
        if (!link.inLatest)
          continue;
        cudaError_t err = cudaStreamWaitEvent(collStream_, link.inLatest, 0);
        if (err != cudaSuccess)
          return CommStatus::failed(op, ": " + cudaText(err));
      }
      ncclResult_t result = ncclAllReduce(
          data, data, static_cast<size_t>(count),
          type == DType::F32 ? ncclFloat32 : ncclFloat64, ncclSum, comm,
          collStream_);
      if (std::string problem = issued(result, comm); !problem.empty())
        return CommStatus::failed(op, ": ncclAllReduce failed: " + problem);
    }
    return waitStream(collStream_, op);
  }

  CommStatus barrier(int32_t self) override {
    if (CommStatus s = enter(describeBarrier(size_)); !s.ok())
      return s;
    return control_->barrier(self);
  }

  //--- Failure ----------------------------------------------------------------//

  void abort() override {
    // Every wait polls the failure flag. The GPU side is aborted by the
    // watchdog, or by the destructor of a failed world.
    control_->abort();
  }

  void announceFailure(int32_t rank, const std::string &message) override {
    // MPI is used from the rank's thread only: a failure raised by the
    // watchdog thread is sent on by the rank thread's next call.
    if (std::this_thread::get_id() == owner_) {
      control_->announceFailure(rank, message);
      return;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (!notice_) {
      notice_ = true;
      noticeRank_ = rank;
      noticeText_ = message;
    }
  }

  /// True while a send queued on a link has not finished.
  bool sendsInFlight() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (Link &link : links_)
      if (link.outLatest && cudaEventQuery(link.outLatest) == cudaErrorNotReady)
        return true;
    return false;
  }

private:
  struct Link {
    ncclComm_t out = nullptr, in = nullptr; ///< self -> peer, peer -> self.
    cudaStream_t outStream = nullptr, inStream = nullptr;
    cudaEvent_t outReady = nullptr, inReady = nullptr;
    cudaEvent_t outLatest = nullptr, inLatest = nullptr;
  };

  //--- Start ------------------------------------------------------------------//

  std::string start() {
    int devices = 0;
    cudaError_t err = cudaGetDeviceCount(&devices);
    if (err != cudaSuccess || devices == 0)
      return "no CUDA device is visible (cudaGetDeviceCount: " +
             (err != cudaSuccess ? cudaText(err) : "0 devices") + ")";
    int32_t local = nccl::localRankFromEnvironment(
        [](const char *name) { return std::getenv(name); });
    if (local >= devices)
      return "this process is local rank " + std::to_string(local) +
             " of its node but the node shows " + std::to_string(devices) +
             " GPU" + (devices == 1 ? "" : "s") +
             ": the nccl backend needs one GPU per rank (start at most " +
             std::to_string(devices) + " processes per node)";
    device_ = local;
    if (dualpipe_cuda_set_device(device_) != 0)
      return "cudaSetDevice(" + std::to_string(device_) + ") failed";

    // Unique ids through the control plane: the world's from rank 0, each
    // link's from its sending end.
    ncclUniqueId worldId{};
    if (self_ == 0) {
      if (ncclResult_t r = ncclGetUniqueId(&worldId); r != ncclSuccess)
        return "ncclGetUniqueId failed: " + ncclText(r);
      for (int32_t r = 1; r < size_; ++r)
        if (CommStatus s = control_->send(0, r, nccl::kWorldIdTag, &worldId,
                                          sizeof worldId);
            !s.ok())
          return "sending the NCCL id to rank " + std::to_string(r) + ": " +
                 s.op + s.problem;
    } else if (CommStatus s = control_->recv(self_, 0, nccl::kWorldIdTag,
                                             &worldId, sizeof worldId);
               !s.ok()) {
      return "waiting for rank 0's NCCL id: " + s.op + s.problem;
    }
    links_.resize(static_cast<size_t>(size_));
    std::vector<ncclUniqueId> outIds(size_), inIds(size_);
    for (int32_t p = 0; p < size_; ++p) {
      if (p == self_)
        continue;
      if (ncclResult_t r = ncclGetUniqueId(&outIds[p]); r != ncclSuccess)
        return "ncclGetUniqueId failed: " + ncclText(r);
      if (CommStatus s = control_->send(self_, p, nccl::kLinkIdTag, &outIds[p],
                                        sizeof outIds[p]);
          !s.ok())
        return "sending a link's NCCL id: " + s.op + s.problem;
    }
    for (int32_t p = 0; p < size_; ++p) {
      if (p == self_)
        continue;
      if (CommStatus s = control_->recv(self_, p, nccl::kLinkIdTag, &inIds[p],
                                        sizeof inIds[p]);
          !s.ok())
        return "waiting for a link's NCCL id: " + s.op + s.problem;
    }

    // Every communicator of this rank in one group, non-blocking, so that
    // the wait for the others is bounded by the timeout.
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclGroupStart();
    ncclResult_t result = ncclCommInitRankConfig(&worldComm_, size_, worldId,
                                                 self_, &config);
    for (int32_t p = 0; p < size_ && okOrInProgress(result); ++p) {
      if (p == self_)
        continue;
      result = ncclCommInitRankConfig(&links_[p].out, 2, outIds[p], 0, &config);
      if (okOrInProgress(result))
        result =
            ncclCommInitRankConfig(&links_[p].in, 2, inIds[p], 1, &config);
    }
    ncclResult_t ended = ncclGroupEnd();
    if (!okOrInProgress(result) || !okOrInProgress(ended))
      return "ncclCommInitRank failed: " +
             ncclText(okOrInProgress(result) ? ended : result);
    std::string problem = waitComms(allComms(), "creating the communicators");
    if (!problem.empty())
      return problem;

    auto newStream = [&](cudaStream_t &stream) {
      if (err == cudaSuccess)
        err = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
    };
    auto newEvent = [&](cudaEvent_t &event) {
      if (err == cudaSuccess)
        err = cudaEventCreateWithFlags(&event, cudaEventDisableTiming);
    };
    newStream(collStream_);
    newStream(hostStream_);
    for (int32_t p = 0; p < size_; ++p) {
      if (p == self_)
        continue;
      Link &link = links_[p];
      newStream(link.outStream);
      newStream(link.inStream);
      newEvent(link.outReady);
      newEvent(link.inReady);
      newEvent(link.outLatest);
      newEvent(link.inLatest);
    }
    if (err != cudaSuccess)
      return "creating the communication streams failed: " + cudaText(err);
    return "";
  }

  static bool okOrInProgress(ncclResult_t r) {
    return r == ncclSuccess || r == ncclInProgress;
  }

  std::vector<ncclComm_t> allComms() {
    std::vector<ncclComm_t> comms;
    if (worldComm_)
      comms.push_back(worldComm_);
    for (Link &link : links_)
      for (ncclComm_t c : {link.out, link.in})
        if (c)
          comms.push_back(c);
    groups_.forEach([&](const std::vector<int32_t> &, ncclComm_t &c) {
      if (c)
        comms.push_back(c);
    });
    return comms;
  }

  /// Waits until non-blocking communicators are ready; "" or the problem.
  std::string waitComms(const std::vector<ncclComm_t> &comms,
                        const std::string &what) {
    Clock::time_point deadline = Clock::now() + timeout_;
    int idle = 0;
    for (;;) {
      bool pending = false;
      for (ncclComm_t comm : comms) {
        ncclResult_t state = ncclSuccess;
        ncclResult_t r = ncclCommGetAsyncError(comm, &state);
        if (r != ncclSuccess)
          return what + ": ncclCommGetAsyncError failed: " + ncclText(r);
        if (state == ncclInProgress)
          pending = true;
        else if (state != ncclSuccess)
          return what + " failed: " + ncclText(state, comm);
      }
      if (!pending)
        return "";
      if (failed_.load(std::memory_order_acquire))
        return what + ": abandoned because the world failed";
      if (Clock::now() >= deadline)
        return what + " timed out after " + formatSeconds(timeout_) +
               " (a rank of the group did not join: is every process "
               "running, with its own GPU?)";
      backoff(idle);
    }
  }

  /// "" when an NCCL call was accepted (a non-blocking communicator may
  /// still be queuing it: wait for that), else the problem.
  std::string issued(ncclResult_t result, ncclComm_t comm) {
    if (result == ncclSuccess)
      return "";
    if (result != ncclInProgress)
      return ncclText(result, comm);
    return waitComms({comm}, "queuing the operation");
  }

  /// A group's communicator, made by its members the first time.
  ncclComm_t groupComm(const std::vector<int32_t> &key, std::string &problem) {
    if (groups_.contains(key))
      return groups_.get(key, [](const std::vector<int32_t> &) {
        return ncclComm_t(nullptr);
      });
    int64_t tag = nccl::groupTag(key);
    ncclUniqueId id{};
    int32_t index = static_cast<int32_t>(
        std::find(key.begin(), key.end(), self_) - key.begin());
    if (index == 0) {
      if (ncclResult_t r = ncclGetUniqueId(&id); r != ncclSuccess) {
        problem = ": ncclGetUniqueId failed: " + ncclText(r);
        return nullptr;
      }
      for (size_t m = 1; m < key.size(); ++m)
        if (CommStatus s = control_->send(self_, key[m], tag, &id, sizeof id);
            !s.ok()) {
          problem = ": sending the group's NCCL id: " + s.op + s.problem;
          return nullptr;
        }
    } else if (CommStatus s =
                   control_->recv(self_, key.front(), tag, &id, sizeof id);
               !s.ok()) {
      problem = ": waiting for the group's NCCL id from rank " +
                std::to_string(key.front()) + ": " + s.op + s.problem;
      return nullptr;
    }
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclComm_t comm = nullptr;
    ncclResult_t r = ncclCommInitRankConfig(
        &comm, static_cast<int>(key.size()), id, index, &config);
    if (!okOrInProgress(r)) {
      problem = ": ncclCommInitRank for the group failed: " + ncclText(r);
      return nullptr;
    }
    problem = waitComms({comm}, "creating the group's communicator");
    if (!problem.empty()) {
      ncclCommAbort(comm);
      problem = ": " + problem;
      return nullptr;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    return groups_.get(key, [&](const std::vector<int32_t> &) { return comm; });
  }

  //--- Waiting and the watchdog -----------------------------------------------//

  /// What every call does first: forward a pending failure notice, and give
  /// up if the world failed.
  CommStatus enter(const std::string &op) {
    flushNotice();
    if (failed_.load(std::memory_order_acquire) || aborted_)
      return CommStatus::abandoned(op);
    return CommStatus::success();
  }

  void flushNotice() {
    if (std::this_thread::get_id() != owner_)
      return;
    int32_t rank;
    std::string text;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!notice_ || noticeSent_)
        return;
      noticeSent_ = true;
      rank = noticeRank_;
      text = noticeText_;
    }
    control_->announceFailure(rank, text);
  }

  /// Waits for everything queued on `stream` (polling, bounded by the
  /// timeout; then the GPU side is aborted and the call fails).
  CommStatus waitStream(cudaStream_t stream, const std::string &op) {
    cudaEvent_t done = nullptr;
    cudaError_t err = cudaEventCreateWithFlags(&done, cudaEventDisableTiming);
    if (err == cudaSuccess)
      err = cudaEventRecord(done, stream);
    if (err != cudaSuccess) {
      if (done)
        cudaEventDestroy(done);
      return CommStatus::failed(op, ": " + cudaText(err));
    }
    Clock::time_point deadline = Clock::now() + timeout_;
    int idle = 0;
    for (;;) {
      cudaError_t state = cudaEventQuery(done);
      if (state != cudaErrorNotReady) {
        cudaEventDestroy(done);
        if (state == cudaSuccess)
          return CommStatus::success();
        return CommStatus::failed(op, ": " + cudaText(state));
      }
      if (failed_.load(std::memory_order_acquire) || aborted_) {
        cudaEventDestroy(done); // Released once the aborted work drains.
        return CommStatus::abandoned(op);
      }
      if (Clock::now() >= deadline) {
        cudaEventDestroy(done);
        abortAll();
        return CommStatus::failed(
            op, " timed out after " + formatSeconds(timeout_) +
                    " on the GPU (device " + std::to_string(device_) +
                    "; the NCCL communicators of this rank were aborted: a "
                    "member never made the matching call, or it failed or "
                    "hangs itself)");
      }
      backoff(idle);
    }
  }

  /// Polls the queued operations and the communicators (mutex_ held);
  /// the message of a new failure, if any.
  std::optional<std::string> check() {
    std::optional<std::string> problem;
    auto overdue = watchdog_.poll(
        Clock::now(),
        [&](cudaEvent_t event) {
          if (!event)
            return false;
          cudaError_t state = cudaEventQuery(event);
          if (state == cudaErrorNotReady)
            return false;
          if (state != cudaSuccess && !problem)
            problem = "rank " + std::to_string(self_) +
                      ": a GPU operation failed: " + cudaText(state);
          return true;
        },
        [](cudaEvent_t event) {
          if (event)
            cudaEventDestroy(event);
        });
    if (problem)
      return problem;
    if (overdue)
      return nccl::overdueMessage(self_, overdue->what,
                                  formatSeconds(timeout_),
                                  "device " + std::to_string(device_));
    for (ncclComm_t comm : allComms()) {
      ncclResult_t state = ncclSuccess;
      if (ncclCommGetAsyncError(comm, &state) == ncclSuccess &&
          state != ncclSuccess && state != ncclInProgress)
        return "rank " + std::to_string(self_) + ": NCCL reported " +
               ncclText(state, comm) +
               " (do two ranks disagree on the size of a message, or did a "
               "peer fail?)";
    }
    return std::nullopt;
  }

  /// A new failure: abort the GPU side, tell the user, fail the world.
  void raise(const std::string &message) {
    bool first = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!aborted_) {
        first = true;
        abortAllLocked();
      }
    }
    if (!first)
      return;
    std::fprintf(stderr, "dualpipe runtime (nccl): %s\n", message.c_str());
    std::fflush(stderr);
    if (failureSink_)
      failureSink_(self_, message);
  }

  void watch() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
      wake_.wait_for(lock, std::chrono::milliseconds(50));
      if (stopping_ || aborted_)
        continue;
      std::optional<std::string> problem = check();
      if (problem) {
        lock.unlock();
        raise(*problem);
        lock.lock();
      }
    }
  }

  std::string checkDeviceBuffer(const void *data) const {
    cudaPointerAttributes attributes{};
    if (cudaPointerGetAttributes(&attributes, data) != cudaSuccess ||
        (attributes.type != cudaMemoryTypeManaged &&
         attributes.type != cudaMemoryTypeDevice)) {
      cudaGetLastError();
      return ": the nccl transport moves GPU buffers only (managed or device "
             "memory), and this is host memory; CPU steps run on "
             "--backend=mpi or --backend=local";
    }
    return "";
  }

  //--- Shutdown ---------------------------------------------------------------//

  void abortAllLocked() {
    aborted_ = true;
    for (ncclComm_t comm : allComms())
      ncclCommAbort(comm);
    worldComm_ = nullptr;
    for (Link &link : links_)
      link.out = link.in = nullptr;
    groups_.forEach([](const std::vector<int32_t> &, ncclComm_t &c) {
      c = nullptr;
    });
  }

  void abortAll() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!aborted_)
      abortAllLocked();
  }

  void finalizeAll() {
    std::vector<ncclComm_t> comms = allComms();
    for (ncclComm_t comm : comms)
      ncclCommFinalize(comm);
    if (!waitComms(comms, "closing the communicators").empty()) {
      abortAll();
      return;
    }
    for (ncclComm_t comm : comms)
      ncclCommDestroy(comm);
    worldComm_ = nullptr;
    links_.clear();
  }

  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    watchdog_.forEach([](nccl::Watchdog<cudaEvent_t>::Op &op) {
      if (op.handle)
        cudaEventDestroy(op.handle);
    });
    watchdog_.clear();
    for (Link &link : links_) {
      for (cudaStream_t s : {link.outStream, link.inStream})
        if (s)
          cudaStreamDestroy(s);
      for (cudaEvent_t e :
           {link.outReady, link.inReady, link.outLatest, link.inLatest})
        if (e)
          cudaEventDestroy(e);
    }
    links_.clear();
    for (cudaStream_t s : {collStream_, hostStream_})
      if (s)
        cudaStreamDestroy(s);
    collStream_ = hostStream_ = nullptr;
  }

  std::unique_ptr<Transport> control_;
  int32_t self_ = 0;
  const int32_t size_;
  const std::chrono::nanoseconds timeout_;
  const std::atomic<bool> &failed_;
  int32_t device_ = 0;

  std::mutex mutex_; ///< Guards everything below against the watchdog.
  std::condition_variable wake_;
  bool stopping_ = false;
  std::atomic<bool> aborted_{false};
  ncclComm_t worldComm_ = nullptr;
  std::vector<Link> links_; ///< By peer rank (none for self).
  nccl::GroupCache<ncclComm_t> groups_;
  cudaStream_t collStream_ = nullptr, hostStream_ = nullptr;
  nccl::LinkLedger ledger_;
  nccl::Watchdog<cudaEvent_t> watchdog_;
  bool notice_ = false, noticeSent_ = false;
  int32_t noticeRank_ = -1;
  std::string noticeText_;

  const std::thread::id owner_;
  std::thread watcher_;
};

} // namespace

bool nccl::sendsInFlight() {
  std::lock_guard<std::mutex> lock(activeMutex);
  return active && active->sendsInFlight();
}

} // namespace dualpipe::rt

/// Called by the runtime's dualpipe_world_create_nccl (found with dlsym, see
/// NcclPlanFn): wraps the MPI group's transport maker into the nccl
/// transport's. The transport's constructor throws a std::runtime_error
/// whose text says what failed.
extern "C" DUALPIPE_RT_EXPORT int32_t
dualpipe_nccl_plan_world(const dualpipe::rt::TransportMaker *control,
                         dualpipe::rt::TransportMaker *make) {
  using namespace dualpipe::rt;
  TransportMaker makeControl = *control;
  *make = [makeControl](int32_t size, std::chrono::nanoseconds timeout,
                        const std::atomic<bool> &failed) {
    return std::unique_ptr<Transport>(std::make_unique<NcclTransport>(
        makeControl(size, timeout, failed), size, timeout, failed));
  };
  return 0;
}
