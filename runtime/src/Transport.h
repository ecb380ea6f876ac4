//===- Transport.h - The interface every transport implements ---*- C++ -*-===//
//
// A transport moves bytes between ranks: point-to-point messages matched by
// (source, destination, tag) and FIFO per directed link, an in-place sum over
// a group of ranks, and a barrier. Each backend (local threads, MPI
// processes; NCCL later) is one file behind this interface, and none knows
// the others.
//
// The World (World.h) sits in front of every transport: it checks arguments
// (peer in range, not self, sizes, group), records the timeline, and turns a
// failed call into the world's sticky error. A transport only waits, matches,
// copies and reduces, and it must never wait forever: every wait ends at the
// timeout or as soon as the world's failure flag is set (abort()).
//
//===----------------------------------------------------------------------===//

#ifndef DUALPIPE_RUNTIME_TRANSPORT_H
#define DUALPIPE_RUNTIME_TRANSPORT_H

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <memory>
#include <string>
#include <vector>

namespace dualpipe::rt {

enum class DType : uint8_t { F32, F64 };

inline int64_t dtypeBytes(DType type) { return type == DType::F32 ? 4 : 8; }
inline const char *dtypeName(DType type) {
  return type == DType::F32 ? "f32" : "f64";
}

/// The result of one transport call. A failure is split in two so the World
/// can put the current action in between:
///   "rank 1: " + op + " during F of stage 1, micro-batch 3" + problem
/// e.g. op = "receive from rank 0 (tag 7)", problem = " timed out after 5.0 s".
struct CommStatus {
  enum class Code : uint8_t {
    Ok,
    Failed,   ///< This call failed; the world must fail with its message.
    Abandoned ///< The world had already failed; nothing new to report.
  };
  Code code = Code::Ok;
  std::string op;
  std::string problem;

  bool ok() const { return code == Code::Ok; }
  static CommStatus success() { return {}; }
  static CommStatus failed(std::string op, std::string problem) {
    return {Code::Failed, std::move(op), std::move(problem)};
  }
  static CommStatus abandoned(std::string op) {
    return {Code::Abandoned, std::move(op), {}};
  }
};

std::string describeSend(int32_t peer, int64_t tag);
std::string describeRecv(int32_t peer, int64_t tag);

class Transport {
public:
  virtual ~Transport() = default;

  /// The backend's name as the user selects it ("local", "mpi", "nccl").
  virtual const char *name() const = 0;

  /// `self` is the calling rank; `peer` is valid and differs from `self`.
  virtual CommStatus send(int32_t self, int32_t peer, int64_t tag,
                          const void *data, int64_t bytes) = 0;
  /// On failure the buffer contents are unspecified (the World zero-fills).
  virtual CommStatus recv(int32_t self, int32_t peer, int64_t tag, void *data,
                          int64_t bytes) = 0;
  /// `group` is sorted, has no duplicates and contains `self`.
  //--- Posted receives --------------------------------------------------------//

  /// When a message's bytes moved, in steady_clock nanoseconds since its epoch
  /// (CLOCK_MONOTONIC: one clock for every process of a machine); -1 where the
  /// transport cannot tell.
  struct TransferTimes {
    int64_t sentNs = -1;    ///< The sender started sending.
    int64_t arrivedNs = -1; ///< The bytes were in the receiving rank's hands.
  };

  /// Posts a receive into `data` and returns at once: the transport may fill
  /// `data` at any time until waitRecv(self, request) returns, and the caller
  /// must not touch it before. `request` is chosen by the caller (the World),
  /// unique among `self`'s open requests. Receives posted on one (peer, tag)
  /// take that link's messages in the order they were posted.
  ///
  /// The default (transports without posted receives: nccl's host side)
  /// remembers the receive and makes it at the wait.
  virtual CommStatus postRecv(int32_t self, int32_t peer, int64_t tag,
                              void *data, int64_t bytes, int64_t request);
  /// Waits (at most the timeout) until the posted receive has its message;
  /// then the request is closed. On failure the buffer is unspecified.
  virtual CommStatus waitRecv(int32_t self, int64_t request,
                              TransferTimes &times);

  virtual CommStatus allReduceSum(int32_t self, DType type, void *data,
                                  int64_t count,
                                  const std::vector<int32_t> &group) = 0;
  virtual CommStatus barrier(int32_t self) = 0;

  /// Called once the world has failed (after the failure flag is set): wake
  /// every waiter so that it returns Abandoned promptly.
  virtual void abort() = 0;

  /// The largest message tag the transport carries.
  virtual int64_t maxTag() const { return INT64_MAX; }

  //--- Ranks in other processes (MPI) ---------------------------------------//

  /// The one rank this process hosts when each rank is its own process; -1
  /// when this process hosts every rank (local).
  virtual int32_t hostedRank() const { return -1; }

  /// Called by the World when it fails, before abort(), with the first
  /// error. A transport whose ranks live in other processes tells them, so
  /// their worlds fail too (sticky failure across processes).
  virtual void announceFailure(int32_t rank, const std::string &message) {
    (void)rank;
    (void)message;
  }

  /// How a transport fails the World with a failure that another process
  /// announced; the World installs it right after creating the transport.
  using FailureSink =
      std::function<void(int32_t rank, const std::string &message)>;
  void setFailureSink(FailureSink sink) { failureSink_ = std::move(sink); }

  //--- Stream-ordered point-to-point (GPU transports: nccl) ------------------//

  /// True when sendOnStream/recvOnStream queue the transfer on the GPU
  /// instead of moving the bytes before they return. The cuda target's
  /// generated code then skips its host synchronisation around each message.
  virtual bool streamOrdered() const { return false; }

  /// Queues a send that starts after the work queued so far on `stream` (a
  /// cudaStream_t, opaque here) and returns without waiting for it. `what`
  /// is the World's description of the call ("send to rank 2 (tag 7) during
  /// F of stage 1, micro-batch 3") for a watchdog that fails the world later.
  virtual CommStatus sendOnStream(int32_t self, int32_t peer, int64_t tag,
                                  const void *data, int64_t bytes,
                                  void *stream, const std::string &what) {
    (void)self, (void)data, (void)bytes, (void)stream, (void)what;
    return CommStatus::failed(describeSend(peer, tag),
                              std::string(": the ") + name() +
                                  " transport has no stream-ordered sends");
  }
  /// Queues a receive into `data`; work queued on `stream` afterwards sees
  /// the bytes.
  virtual CommStatus recvOnStream(int32_t self, int32_t peer, int64_t tag,
                                  void *data, int64_t bytes, void *stream,
                                  const std::string &what) {
    (void)self, (void)data, (void)bytes, (void)stream, (void)what;
    return CommStatus::failed(describeRecv(peer, tag),
                              std::string(": the ") + name() +
                                  " transport has no stream-ordered receives");
  }
  /// Waits (at most the timeout) until every transfer `self` queued has
  /// finished, e.g. at the end of a training step.
  virtual CommStatus synchronize(int32_t self) {
    (void)self;
    return CommStatus::success();
  }

protected:
  FailureSink failureSink_;

private:
  /// The default postRecv's receives, made at the wait.
  struct Deferred {
    int32_t self, peer;
    int64_t tag;
    void *data;
    int64_t bytes;
  };
  std::mutex deferredMutex_;
  std::map<std::pair<int32_t, int64_t>, Deferred> deferred_;
};

/// steady_clock now, in nanoseconds since its epoch (TransferTimes).
int64_t monotonicNs();

/// Ranks are threads of this process. `failed` is the world's failure flag;
/// it must outlive the transport.
std::unique_ptr<Transport>
createLocalTransport(int32_t size, std::chrono::nanoseconds timeout,
                     const std::atomic<bool> &failed);

/// Ranks are the processes of an MPI job (MpiTransport.cpp, built only when
/// CMake finds MPI; Runtime.cpp guards its calls with DUALPIPE_RT_HAVE_MPI).
using TransportMaker = std::function<std::unique_ptr<Transport>(
    int32_t size, std::chrono::nanoseconds timeout,
    const std::atomic<bool> &failed)>;
/// Joins the MPI job (MPI_Init_thread the first time) and splits
/// MPI_COMM_WORLD into consecutive groups of `groupSize` ranks (0: one group
/// of all ranks); collective over MPI_COMM_WORLD. On success sets `size` to
/// the group's size and `make` to the factory of this process's transport.
std::string planMpiWorld(int32_t groupSize, int32_t &size,
                         TransportMaker &make);
/// MPI_Finalize if the runtime called MPI_Init_thread; "" or the problem.
std::string finalizeMpi();
/// MPI_Abort on MPI_COMM_WORLD (ends every process of the job); exits
/// directly when MPI was never initialized.
[[noreturn]] void abortMpi(int32_t code);

/// Ranks are the processes of an MPI job with one GPU each, joined by NCCL
/// (NcclTransport.cpp, in libdualpipe_runtime_cuda). `control` makes the MPI
/// transport of the same group: it bootstraps the communicators, carries
/// barriers and failure notices. The library exports this as
/// dualpipe_nccl_plan_world (C linkage, C++ types: both libraries are built
/// together); the runtime finds it with dlopen/dlsym. The made transport's
/// constructor throws std::runtime_error (the reason) when it cannot start.
using NcclPlanFn = int32_t (*)(const TransportMaker *control,
                               TransportMaker *make);

// How every backend names its calls in errors (defined in Transport.cpp), so
// a failure reads the same whichever backend ran.

/// "5.0 s", "0.2 s", "0.05 s": a duration as the user wrote it.
std::string formatSeconds(std::chrono::nanoseconds duration);
/// "send to rank 2 (tag 7)".
std::string describeSend(int32_t peer, int64_t tag);
/// "receive from rank 0 (tag 7)".
std::string describeRecv(int32_t peer, int64_t tag);
/// "all-reduce (sum of 16 f32) over ranks [0, 3]".
std::string describeAllReduce(DType type, int64_t count,
                              const std::vector<int32_t> &group);
/// "barrier over all 4 ranks".
std::string describeBarrier(int32_t worldSize);
/// "0, 3, 5".
std::string formatRanks(const std::vector<int32_t> &ranks);

/// Polling loops of the transports call this each time nothing happened:
/// it spins a little, then yields, then sleeps up to 1 ms, so a waiting
/// rank does not starve the others when ranks outnumber cores.
void backoff(int &idle);

} // namespace dualpipe::rt

#endif // DUALPIPE_RUNTIME_TRANSPORT_H
