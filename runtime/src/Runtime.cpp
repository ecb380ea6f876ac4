//===- Runtime.cpp - The C ABI over World ---------------------------------===//
//
// Each entry point finds the calling thread's rank, forwards to its World,
// and keeps every C++ exception on this side of the ABI: an unexpected one
// (e.g. out of memory) becomes an error like any other and, on a bound
// thread, fails the world so the other ranks do not wait for this one.
//
//===----------------------------------------------------------------------===//

#include "dualpipe/Runtime/Runtime.h"

#include "World.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>

#if DUALPIPE_RT_HAVE_NCCL
#include <dlfcn.h>
#endif

#ifndef __cpp_exceptions
#error "the runtime catches exceptions at the C ABI: build it with -fexceptions"
#endif

struct dualpipe_world final : dualpipe::rt::World {
  using World::World;
};

using dualpipe::rt::DType;

namespace {

constexpr int32_t kMaxLocalRanks = 4096;
constexpr double kMaxTimeoutSeconds = 365.0 * 24 * 3600;

/// The thread's binding: set by dualpipe_rt_bind, read by every rank call.
thread_local dualpipe_world *boundWorld = nullptr;
thread_local int32_t boundRank = -1;
thread_local std::string lastError;
thread_local bool hasLastError = false;

int32_t succeed() {
  hasLastError = false;
  return 0;
}

int32_t failWith(std::string message) {
  lastError = std::move(message);
  hasLastError = true;
  return 1;
}

/// Runs `body` (returning "" or an error) behind the ABI's no-throw wall.
/// Calls without a status to return (`reportsStatus` false) never clear the
/// last error, so an end_action after a failed receive keeps its message.
template <typename Body>
int32_t guarded(const char *entry, Body &&body, bool reportsStatus = true) {
  std::string internal;
  try {
    std::string error = body();
    if (!error.empty())
      return failWith(std::move(error));
    return reportsStatus ? succeed() : 0;
  } catch (const std::exception &e) {
    internal = std::string(entry) + ": internal error: " + e.what();
  } catch (...) {
    internal = std::string(entry) + ": internal error (unknown exception)";
  }
  try {
    if (boundWorld) {
      internal = "rank " + std::to_string(boundRank) + ": " + internal;
      boundWorld->fail(boundRank, internal);
    }
    return failWith(std::move(internal));
  } catch (...) {
    hasLastError = false; // Out of memory even for the message.
    return 1;
  }
}

std::string notBound(const char *entry) {
  return std::string(entry) +
         ": the calling thread is not bound to a rank (call dualpipe_rt_bind "
         "first)";
}

} // namespace

namespace {
int64_t startAllReduce(const char *name, DType type, void *data,
                       int64_t count, const int32_t *ranks, int32_t nranks,
                       int64_t tag) {
  int64_t request = -1;
  int32_t status = guarded(name, [&] {
    if (!boundWorld)
      return notBound(name);
    return boundWorld->iallReduceSum(boundRank, type, data, count, ranks,
                                     nranks, tag, request);
  });
  // A failed start keeps its request: its wait zero-fills the buffer.
  return status == 0 || request >= 0 ? request : -1;
}
} // namespace

extern "C" {

//--- Rank side ---------------------------------------------------------------//

int32_t dualpipe_rt_send(int32_t peer, int64_t tag, const void *data,
                         int64_t bytes) {
  return guarded("dualpipe_rt_send", [&] {
    if (!boundWorld)
      return notBound("dualpipe_rt_send");
    return boundWorld->send(boundRank, peer, tag, data, bytes);
  });
}

int32_t dualpipe_rt_recv(int32_t peer, int64_t tag, void *data,
                         int64_t bytes) {
  return guarded("dualpipe_rt_recv", [&] {
    if (!boundWorld)
      return notBound("dualpipe_rt_recv");
    return boundWorld->recv(boundRank, peer, tag, data, bytes);
  });
}

int64_t dualpipe_rt_irecv(int32_t peer, int64_t tag, void *data,
                          int64_t bytes) {
  int64_t request = -1;
  int32_t status = guarded("dualpipe_rt_irecv", [&] {
    if (!boundWorld)
      return notBound("dualpipe_rt_irecv");
    return boundWorld->irecv(boundRank, peer, tag, data, bytes, request);
  });
  // A failed post keeps its request: its wait zero-fills the buffer.
  return status == 0 || request >= 0 ? request : -1;
}

int32_t dualpipe_rt_wait(int64_t request) {
  return guarded("dualpipe_rt_wait", [&] {
    if (!boundWorld)
      return notBound("dualpipe_rt_wait");
    return boundWorld->wait(boundRank, request);
  });
}

void dualpipe_rt_begin_action(int32_t kind, int32_t stage,
                              int32_t microbatch) {
  guarded("dualpipe_rt_begin_action", [&] {
    if (boundWorld)
      boundWorld->beginAction(boundRank, kind, stage, microbatch);
    return std::string();
  }, /*reportsStatus=*/false);
}

void dualpipe_rt_end_action(void) {
  guarded("dualpipe_rt_end_action", [&] {
    if (boundWorld)
      boundWorld->endAction(boundRank);
    return std::string();
  }, /*reportsStatus=*/false);
}

int32_t dualpipe_rt_allreduce_sum_f32(float *data, int64_t count,
                                      const int32_t *ranks, int32_t nranks) {
  return guarded("dualpipe_rt_allreduce_sum_f32", [&] {
    if (!boundWorld)
      return notBound("dualpipe_rt_allreduce_sum_f32");
    return boundWorld->allReduceSum(boundRank, DType::F32, data, count, ranks,
                                    nranks);
  });
}

int64_t dualpipe_rt_iallreduce_sum_f32(float *data, int64_t count,
                                       const int32_t *ranks, int32_t nranks,
                                       int64_t tag) {
  return startAllReduce("dualpipe_rt_iallreduce_sum_f32", DType::F32, data,
                        count, ranks, nranks, tag);
}

int64_t dualpipe_rt_iallreduce_sum_f64(double *data, int64_t count,
                                       const int32_t *ranks, int32_t nranks,
                                       int64_t tag) {
  return startAllReduce("dualpipe_rt_iallreduce_sum_f64", DType::F64, data,
                        count, ranks, nranks, tag);
}

int32_t dualpipe_rt_allreduce_sum_f64(double *data, int64_t count,
                                      const int32_t *ranks, int32_t nranks) {
  return guarded("dualpipe_rt_allreduce_sum_f64", [&] {
    if (!boundWorld)
      return notBound("dualpipe_rt_allreduce_sum_f64");
    return boundWorld->allReduceSum(boundRank, DType::F64, data, count, ranks,
                                    nranks);
  });
}

int32_t dualpipe_rt_barrier(void) {
  return guarded("dualpipe_rt_barrier", [&] {
    if (!boundWorld)
      return notBound("dualpipe_rt_barrier");
    return boundWorld->barrier(boundRank);
  });
}

void dualpipe_rt_fail(const char *message) {
  guarded("dualpipe_rt_fail", [&] {
    std::string text = message ? message : "failed (no message given)";
    if (!boundWorld)
      return notBound("dualpipe_rt_fail") + "; its error was: " + text;
    text = "rank " + std::to_string(boundRank) + ": " + text;
    boundWorld->fail(boundRank, text);
    return text;
  }, /*reportsStatus=*/false);
}

int32_t dualpipe_rt_rank(void) { return boundWorld ? boundRank : -1; }

int32_t dualpipe_rt_size(void) { return boundWorld ? boundWorld->size() : 0; }

const char *dualpipe_rt_last_error(void) {
  return hasLastError ? lastError.c_str() : nullptr;
}

//--- Host side ---------------------------------------------------------------//

dualpipe_world *dualpipe_world_create_local(int32_t size,
                                            double timeout_seconds) {
  dualpipe_world *world = nullptr;
  guarded("dualpipe_world_create_local", [&]() -> std::string {
    if (size < 1 || size > kMaxLocalRanks)
      return "dualpipe_world_create_local: a local world needs 1 to " +
             std::to_string(kMaxLocalRanks) + " ranks, got " +
             std::to_string(size);
    if (!(std::isfinite(timeout_seconds) && timeout_seconds > 0 &&
          timeout_seconds <= kMaxTimeoutSeconds))
      return "dualpipe_world_create_local: the timeout must be a positive "
             "number of seconds (at most a year), got " +
             std::to_string(timeout_seconds);
    auto timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::duration<double>(timeout_seconds));
    world = new dualpipe_world(size, timeout, dualpipe::rt::createLocalTransport);
    return "";
  });
  return world;
}

int32_t dualpipe_rt_has_backend(const char *name) {
  if (!name)
    return 0;
  std::string backend = name;
  if (backend == "local")
    return 1;
#if DUALPIPE_RT_HAVE_MPI
  if (backend == "mpi")
    return 1;
#endif
#if DUALPIPE_RT_HAVE_NCCL
  if (backend == "nccl")
    return 1;
#endif
  return 0;
}

dualpipe_world *dualpipe_world_create_mpi_group(int32_t group_size,
                                                double timeout_seconds) {
  dualpipe_world *world = nullptr;
  guarded("dualpipe_world_create_mpi", [&]() -> std::string {
    if (!(timeout_seconds > 0) || !std::isfinite(timeout_seconds) ||
        timeout_seconds > kMaxTimeoutSeconds)
      return "dualpipe_world_create_mpi: the timeout must be a positive "
             "number of seconds (got " + std::to_string(timeout_seconds) + ")";
    if (group_size < 0)
      return "dualpipe_world_create_mpi: the group size is negative";
#if DUALPIPE_RT_HAVE_MPI
    int32_t size = 0;
    dualpipe::rt::TransportMaker make;
    std::string error = dualpipe::rt::planMpiWorld(group_size, size, make);
    if (!error.empty())
      return "dualpipe_world_create_mpi: " + error;
    auto timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::duration<double>(timeout_seconds));
    world = new dualpipe_world(size, timeout, make);
    return "";
#else
    return "dualpipe_world_create_mpi: this runtime was built without MPI "
           "(CMake did not find it; install libopenmpi-dev and rebuild)";
#endif
  });
  return world;
}

dualpipe_world *dualpipe_world_create_mpi(double timeout_seconds) {
  return dualpipe_world_create_mpi_group(0, timeout_seconds);
}

#if DUALPIPE_RT_HAVE_NCCL
namespace {
/// libdualpipe_runtime_cuda.so, next to this library (it holds the nccl
/// transport, so this library needs no CUDA); "" or why it cannot be used.
std::string loadCudaRuntime(void *&library) {
  Dl_info info{};
  std::string path = "libdualpipe_runtime_cuda.so";
  if (dladdr(reinterpret_cast<void *>(&dualpipe_world_create_nccl), &info) &&
      info.dli_fname) {
    std::string self = info.dli_fname;
    size_t slash = self.find_last_of('/');
    if (slash != std::string::npos)
      path = self.substr(0, slash + 1) + path;
  }
  library = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!library)
    return "cannot load the CUDA runtime library " + path + ": " +
           (dlerror() ? dlerror() : "?");
  return "";
}
} // namespace
#endif

dualpipe_world *dualpipe_world_create_nccl(int32_t group_size,
                                           double timeout_seconds) {
  dualpipe_world *world = nullptr;
  guarded("dualpipe_world_create_nccl", [&]() -> std::string {
    const std::string entry = "dualpipe_world_create_nccl: ";
    if (!(timeout_seconds > 0) || !std::isfinite(timeout_seconds) ||
        timeout_seconds > kMaxTimeoutSeconds)
      return entry + "the timeout must be a positive number of seconds (got " +
             std::to_string(timeout_seconds) + ")";
    if (group_size < 0)
      return entry + "the group size is negative";
#if DUALPIPE_RT_HAVE_NCCL
    void *cuda = nullptr;
    std::string error = loadCudaRuntime(cuda);
    if (!error.empty())
      return entry + error;
    // No GPU: say so before MPI starts (every process says the same).
    using StatusFn = int32_t (*)(char *, int64_t);
    auto status = reinterpret_cast<StatusFn>(
        dlsym(cuda, "dualpipe_cuda_device_status"));
    auto plan = reinterpret_cast<dualpipe::rt::NcclPlanFn>(
        dlsym(cuda, "dualpipe_nccl_plan_world"));
    if (!status || !plan)
      return entry + "libdualpipe_runtime_cuda.so has no nccl transport "
                     "(an old build?)";
    char message[512] = {0};
    if (status(message, sizeof message) != 0)
      return entry + message;
    int32_t size = 0;
    dualpipe::rt::TransportMaker control, make;
    error = dualpipe::rt::planMpiWorld(group_size, size, control);
    if (!error.empty())
      return entry + error;
    plan(&control, &make);
    auto timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::duration<double>(timeout_seconds));
    try {
      world = new dualpipe_world(size, timeout, make);
    } catch (const std::runtime_error &e) {
      return entry + e.what();
    }
    return "";
#else
    return entry + "this runtime was built without the nccl backend (CMake "
                   "needs CUDA, NCCL and MPI; it found: " DUALPIPE_RT_FOUND
                   "); install them and rebuild";
#endif
  });
  return world;
}

int32_t dualpipe_rt_stream_ordered(void) {
  return boundWorld && boundWorld->streamOrdered() ? 1 : 0;
}

int32_t dualpipe_rt_send_on_stream(int32_t peer, int64_t tag, const void *data,
                                   int64_t bytes, void *stream) {
  return guarded("dualpipe_rt_send_on_stream", [&] {
    if (!boundWorld)
      return notBound("dualpipe_rt_send_on_stream");
    return boundWorld->sendOnStream(boundRank, peer, tag, data, bytes, stream);
  });
}

int32_t dualpipe_rt_recv_on_stream(int32_t peer, int64_t tag, void *data,
                                   int64_t bytes, void *stream) {
  return guarded("dualpipe_rt_recv_on_stream", [&] {
    if (!boundWorld)
      return notBound("dualpipe_rt_recv_on_stream");
    return boundWorld->recvOnStream(boundRank, peer, tag, data, bytes, stream);
  });
}

int32_t dualpipe_rt_synchronize(void) {
  return guarded("dualpipe_rt_synchronize", [&] {
    if (!boundWorld)
      return notBound("dualpipe_rt_synchronize");
    return boundWorld->synchronize(boundRank);
  });
}

int32_t dualpipe_world_hosted_rank(const dualpipe_world *world) {
  return world ? world->hostedRank() : -1;
}

int32_t dualpipe_mpi_finalize(void) {
  return guarded("dualpipe_mpi_finalize", []() -> std::string {
#if DUALPIPE_RT_HAVE_MPI
    std::string error = dualpipe::rt::finalizeMpi();
    return error.empty() ? error : "dualpipe_mpi_finalize: " + error;
#else
    return "";
#endif
  });
}

void dualpipe_mpi_abort(int32_t code) {
  std::fflush(stdout);
  std::fflush(stderr);
#if DUALPIPE_RT_HAVE_MPI
  dualpipe::rt::abortMpi(code);
#else
  std::_Exit(code);
#endif
}

void dualpipe_world_destroy(dualpipe_world *world) {
  if (boundWorld == world && world) {
    // Tolerate a thread that destroys the world it is still bound to.
    boundWorld = nullptr;
    boundRank = -1;
  }
  delete world;
}

int32_t dualpipe_world_size(const dualpipe_world *world) {
  return world ? world->size() : 0;
}

int32_t dualpipe_rt_bind(dualpipe_world *world, int32_t rank) {
  return guarded("dualpipe_rt_bind", [&]() -> std::string {
    if (!world)
      return "dualpipe_rt_bind: the world is NULL";
    if (boundWorld)
      return "dualpipe_rt_bind: this thread is already bound to rank " +
             std::to_string(boundRank) + " (call dualpipe_rt_unbind first)";
    std::string error = world->bind(rank);
    if (!error.empty())
      return "dualpipe_rt_bind: " + error;
    boundWorld = world;
    boundRank = rank;
    return "";
  });
}

void dualpipe_rt_unbind(void) {
  guarded("dualpipe_rt_unbind", [&] {
    if (boundWorld) {
      dualpipe_world *world = boundWorld;
      int32_t rank = boundRank;
      boundWorld = nullptr;
      boundRank = -1;
      world->unbind(rank);
    }
    return std::string();
  }, /*reportsStatus=*/false);
}

void dualpipe_world_fail(dualpipe_world *world, int32_t rank,
                         const char *message) {
  guarded("dualpipe_world_fail", [&] {
    if (!world)
      return std::string("dualpipe_world_fail: the world is NULL");
    std::string text = message ? message : "failed (no message given)";
    if (rank >= 0)
      text = "rank " + std::to_string(rank) + ": " + text;
    world->fail(rank < world->size() ? rank : -1, text);
    return std::string();
  }, /*reportsStatus=*/false);
}

int32_t dualpipe_world_failed(const dualpipe_world *world) {
  return world && world->failed() ? 1 : 0;
}

int32_t dualpipe_world_failed_rank(const dualpipe_world *world) {
  return world ? world->failedRank() : -1;
}

const char *dualpipe_world_error(const dualpipe_world *world) {
  return world ? world->error() : nullptr;
}

int32_t dualpipe_world_write_trace(const dualpipe_world *world,
                                   const char *path) {
  return guarded("dualpipe_world_write_trace", [&]() -> std::string {
    if (!world || !path)
      return "dualpipe_world_write_trace: the world or the path is NULL";
    return world->writeTrace(path);
  });
}

int32_t dualpipe_world_comm_summary(const dualpipe_world *world,
                                    int32_t rank, dualpipe_comm_summary *out) {
  return guarded("dualpipe_world_comm_summary", [&]() -> std::string {
    if (!world || !out)
      return "dualpipe_world_comm_summary: the world or the output is NULL";
    if (rank < 0 || rank >= world->size())
      return "dualpipe_world_comm_summary: rank " + std::to_string(rank) +
             " is outside the world of " + std::to_string(world->size()) +
             " ranks";
    dualpipe::rt::CommSummary c = world->commSummary(rank);
    *out = {c.transferUs / 1e3, c.transferHiddenUs / 1e3, c.messages,
            c.allReduceUs / 1e3, c.allReduceHiddenUs / 1e3, c.allReduces};
    return "";
  });
}

int32_t dualpipe_world_clear_trace(dualpipe_world *world) {
  return guarded("dualpipe_world_clear_trace", [&]() -> std::string {
    if (!world)
      return "dualpipe_world_clear_trace: the world is NULL";
    world->clearTrace();
    return "";
  });
}

int32_t dualpipe_world_set_trace_limit(dualpipe_world *world,
                                       int64_t events_per_rank) {
  return guarded("dualpipe_world_set_trace_limit", [&]() -> std::string {
    if (!world)
      return "dualpipe_world_set_trace_limit: the world is NULL";
    if (events_per_rank < 0)
      return "dualpipe_world_set_trace_limit: the limit is negative (" +
             std::to_string(events_per_rank) + ")";
    world->setTraceLimit(events_per_rank);
    return "";
  });
}

} // extern "C"
