//===- CudaBackend.h - The session's support for --target=cuda steps ------===//
//
// A step compiled with `dualpipe-compile --target=cuda` reads and writes its
// arguments on the GPU, so they must live in CUDA managed memory, and the
// host may read them only once the device is done. This is all of the
// session's CUDA: it reaches the runtime's CUDA library
// (libdualpipe_runtime_cuda.so) with dlopen, so the runner builds and runs
// where CUDA is absent, and says so only when a cuda step asks for it.
//
//   --backend=local   every rank is a thread of this process, all on one
//                     GPU (--device=K, default 0); messages go through the
//                     local transport, on the host, after a stream sync.
//   --backend=nccl    one process per rank under mpirun, one GPU each (the
//                     launcher's local rank); messages with NCCL on streams.
//
//===----------------------------------------------------------------------===//

#ifndef DUALPIPE_SESSION_CUDABACKEND_H
#define DUALPIPE_SESSION_CUDABACKEND_H

#include <cstddef>
#include <cstdint>
#include <new>
#include <string>

namespace dualpipe::session {

/// Called once the manifest is read, before any argument is allocated:
/// checks that the step's target ("cpu" or "cuda") and the backend fit and,
/// for a cuda step, that a GPU is there; then makes argument buffers managed
/// memory. `device` is --device (-1: not given). "" or the error to print
/// (exit status 1).
std::string startCudaBackend(const std::string &target,
                             const std::string &backend, int32_t device);

/// True once a cuda step has been started.
bool cudaBackendActive();

/// On a rank's thread right after its step function returned (still bound,
/// or unbound for the reference): waits for the transfers the rank queued
/// and for the device, so the host may read what the step wrote. A failure
/// fails the rank's world (or is returned when unbound). "" when nothing
/// is wrong or the backend is not active.
std::string finishCudaProgram();

/// Storage for argument buffers: managed memory while a cuda step runs, the
/// heap otherwise. Each block remembers which it is, so a block freed after
/// the switch is returned to the right place.
void *allocateArgument(std::size_t bytes);
void freeArgument(void *ptr) noexcept;

/// The allocator of argument storage (std::vector<T, ArgumentAllocator<T>>).
template <typename T> struct ArgumentAllocator {
  using value_type = T;
  ArgumentAllocator() = default;
  template <typename U> ArgumentAllocator(const ArgumentAllocator<U> &) {}
  T *allocate(std::size_t n) {
    return static_cast<T *>(allocateArgument(n * sizeof(T)));
  }
  void deallocate(T *ptr, std::size_t) noexcept { freeArgument(ptr); }
  template <typename U> bool operator==(const ArgumentAllocator<U> &) const {
    return true;
  }
  template <typename U> bool operator!=(const ArgumentAllocator<U> &) const {
    return false;
  }
};

} // namespace dualpipe::session

#endif // DUALPIPE_SESSION_CUDABACKEND_H
