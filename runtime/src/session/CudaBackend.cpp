//===- CudaBackend.cpp - The session's support for --target=cuda steps ----===//
//
// Managed memory for the step's arguments, the device checks, and the end
// of a rank's step. See CudaBackend.h; docs/cuda.md says why the local
// backend moves messages on the host.
//
//===----------------------------------------------------------------------===//

#include "CudaBackend.h"

#include "dualpipe/Runtime/Runtime.h"

#include <dlfcn.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <new>
#include <string>
#include <type_traits>

namespace dualpipe::session {
namespace {

/// The CUDA runtime library's entry points dualpipe-run uses.
struct CudaLibrary {
  int32_t (*deviceStatus)(char *, int64_t) = nullptr;
  int32_t (*setProcessDevice)(int32_t) = nullptr;
  int32_t (*deviceCount)(void) = nullptr;
  void *(*allocManaged)(int64_t) = nullptr;
  void (*free)(void *) = nullptr;
  int32_t (*synchronize)(char *, int64_t) = nullptr;
};

CudaLibrary cuda;
std::atomic<bool> active{false};

/// libdualpipe_runtime_cuda.so from the folder of libdualpipe_runtime.so.
std::string loadCudaLibrary() {
  std::string path = "libdualpipe_runtime_cuda.so";
  Dl_info info{};
  if (dladdr(reinterpret_cast<void *>(&dualpipe_world_create_local), &info) &&
      info.dli_fname) {
    std::string runtime = info.dli_fname;
    size_t slash = runtime.find_last_of('/');
    if (slash != std::string::npos)
      path = runtime.substr(0, slash + 1) + path;
  }
  void *lib = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!lib)
    return "this step was compiled for --target=cuda but the runtime has no "
           "CUDA library (" +
           std::string(dlerror() ? dlerror() : path.c_str()) +
           "): rebuild with CUDA and NCCL installed (CMake says 'dualpipe: "
           "CUDA ON, NCCL ON')";
  auto get = [&](const char *name, auto &fn) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(
        dlsym(lib, name));
    return fn != nullptr;
  };
  if (!get("dualpipe_cuda_device_status", cuda.deviceStatus) ||
      !get("dualpipe_cuda_set_process_device", cuda.setProcessDevice) ||
      !get("dualpipe_cuda_device_count", cuda.deviceCount) ||
      !get("dualpipe_cuda_alloc_managed", cuda.allocManaged) ||
      !get("dualpipe_cuda_free", cuda.free) ||
      !get("dualpipe_cuda_synchronize", cuda.synchronize))
    return path + " lacks an entry point dualpipe-run needs (" +
           std::string(dlerror() ? dlerror() : "?") +
           "): is it from an older build?";
  return "";
}

/// The launcher's local rank (one GPU per process), else 0.
int32_t localRank() {
  for (const char *name : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                           "MV2_COMM_WORLD_LOCAL_RANK", "PMI_LOCAL_RANK",
                           "SLURM_LOCALID", "LOCAL_RANK"})
    if (const char *value = std::getenv(name); value && *value)
      return std::atoi(value);
  return 0;
}

/// A header before every argument block (256 bytes keeps the block aligned
/// as cudaMallocManaged aligns it).
constexpr size_t kHeader = 256;
constexpr uint64_t kMagic = 0x6475616c70697065ULL; // "dualpipe"
struct Header {
  uint64_t magic;
  uint64_t managed;
};

} // namespace

std::string startCudaBackend(const std::string &target,
                             const std::string &backend, int32_t deviceOption) {
  if (target != "cuda") {
    if (backend == "nccl")
      return "this step was compiled for --target=" + target +
             ": --backend=nccl moves GPU buffers only; run it with "
             "--backend=mpi (processes) or --backend=local (threads), or "
             "compile it with --target=cuda";
    if (deviceOption >= 0)
      return "--device is for --target=cuda steps; this one was compiled "
             "for --target=" + target;
    return "";
  }
  if (std::string error = loadCudaLibrary(); !error.empty())
    return error;
  char message[512] = {0};
  if (cuda.deviceStatus(message, sizeof message) != 0) {
    // "no CUDA device: ... (cudart's reason)": keep the reason.
    std::string text = message, reason = text;
    size_t open = text.find(" (");
    if (open != std::string::npos && text.back() == ')')
      reason = text.substr(open + 2, text.size() - open - 3);
    return "this step was compiled for --target=cuda but no CUDA device is "
           "visible (cudaGetDeviceCount: " + reason + ")";
  }
  int32_t devices = cuda.deviceCount();
  int32_t device = 0;
  if (backend == "local") {
    device = deviceOption >= 0 ? deviceOption : 0;
  } else {
    if (deviceOption >= 0)
      return "--device is for --backend=local; with --backend=" + backend +
             " each process uses the GPU of its local rank";
    device = localRank();
  }
  if (device >= devices)
    return "GPU " + std::to_string(device) + " does not exist: " +
           std::to_string(devices) + " CUDA device" +
           (devices == 1 ? " is" : "s are") + " visible" +
           (backend == "local" ? std::string(" (--device)")
                               : " (one GPU per process: start at most " +
                                     std::to_string(devices) +
                                     " processes per node)");
  if (cuda.setProcessDevice(device) != 0)
    return "cannot use GPU " + std::to_string(device) + " (cudaSetDevice)";
  active = true;
  return "";
}

bool cudaBackendActive() { return active; }

std::string finishCudaProgram() {
  if (!active)
    return "";
  bool bound = dualpipe_rt_rank() >= 0;
  if (bound && dualpipe_rt_synchronize() != 0)
    return dualpipe_rt_last_error() ? dualpipe_rt_last_error() : "?";
  char message[512] = {0};
  if (cuda.synchronize(message, sizeof message) == 0)
    return "";
  std::string error = message;
  if (bound)
    dualpipe_rt_fail(message);
  return error;
}

void *allocateArgument(std::size_t bytes) {
  bool managed = active;
  void *block = managed ? cuda.allocManaged(int64_t(bytes + kHeader))
                        : std::malloc(bytes + kHeader);
  if (!block) {
    if (managed)
      std::cerr << "dualpipe-run: error: cannot allocate " << bytes
                << " bytes of CUDA managed memory for an argument\n";
    throw std::bad_alloc();
  }
  auto *header = static_cast<Header *>(block);
  header->magic = kMagic;
  header->managed = managed ? 1 : 0;
  return static_cast<unsigned char *>(block) + kHeader;
}

void freeArgument(void *ptr) noexcept {
  if (!ptr)
    return;
  void *block = static_cast<unsigned char *>(ptr) - kHeader;
  const auto *header = static_cast<const Header *>(block);
  if (header->managed)
    cuda.free(block);
  else
    std::free(block);
}

} // namespace dualpipe::session
