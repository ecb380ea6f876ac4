//===- CudaShim.cpp - mgpu* entry points and stream communication --------===//
//
// The runtime interface upstream MLIR's gpu-to-llvm lowering calls, on the
// CUDA runtime API (streams, events, managed and device memory) and the
// driver API's context-independent libraries (cuLibraryLoadData), which are
// reached through cudaGetDriverEntryPointByVersion so that this library
// loads on a machine with no driver. A kernel loaded once is usable from
// every device context, so ranks on different GPUs of one process share it.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Runtime/CudaRuntime.h"

#include "NcclTransport.h"

#include <cuda.h>
#include <cublas_api.h>
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

namespace {

constexpr const char *kNoDevice =
    "no CUDA device: use --backend=local with a cpu build";

/// Empty when a device answers, else the no-device message with cudart's
/// reason. Computed once per process.
const std::string &deviceProblem() {
  static const std::string problem = [] {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess)
      return std::string(kNoDevice) + " (" + cudaGetErrorString(err) + ")";
    if (count == 0)
      return std::string(kNoDevice) + " (no device found)";
    return std::string();
  }();
  return problem;
}

[[noreturn]] void fatal(const std::string &message) {
  std::fprintf(stderr, "dualpipe runtime (cuda): %s\n", message.c_str());
  std::fflush(stderr);
  std::exit(1);
}

void requireDevice() {
  if (!deviceProblem().empty())
    fatal(deviceProblem());
}

void check(cudaError_t err, const char *what) {
  if (err != cudaSuccess)
    fatal(std::string(what) + " failed: " + cudaGetErrorString(err));
}

void check(CUresult res, const char *what) {
  if (res != CUDA_SUCCESS)
    fatal(std::string(what) + " failed with CUresult " + std::to_string(res));
}

// Driver entry points, looked up through cudart.
using LibraryLoadDataFn = CUresult (*)(CUlibrary *, const void *, CUjit_option *,
                                       void **, unsigned, CUlibraryOption *,
                                       void **, unsigned);
using LibraryUnloadFn = CUresult (*)(CUlibrary);
using LibraryGetKernelFn = CUresult (*)(CUkernel *, CUlibrary, const char *);
using LaunchKernelFn = CUresult (*)(CUfunction, unsigned, unsigned, unsigned,
                                    unsigned, unsigned, unsigned, unsigned,
                                    CUstream, void **, void **);

struct Driver {
  LibraryLoadDataFn libraryLoadData = nullptr;
  LibraryUnloadFn libraryUnload = nullptr;
  LibraryGetKernelFn libraryGetKernel = nullptr;
  LaunchKernelFn launchKernel = nullptr;
};

template <typename Fn> void lookup(const char *name, Fn &fn) {
  void *ptr = nullptr;
  cudaDriverEntryPointQueryResult status;
  check(cudaGetDriverEntryPointByVersion(name, &ptr, 12000, cudaEnableDefault,
                                         &status),
        name);
  if (!ptr || status != cudaDriverEntryPointSuccess)
    fatal(std::string("the CUDA driver has no ") + name);
  fn = reinterpret_cast<Fn>(ptr);
}

const Driver &driver() {
  requireDevice();
  static const Driver d = [] {
    Driver d;
    lookup("cuLibraryLoadData", d.libraryLoadData);
    lookup("cuLibraryUnload", d.libraryUnload);
    lookup("cuLibraryGetKernel", d.libraryGetKernel);
    lookup("cuLaunchKernel", d.launchKernel);
    return d;
  }();
  return d;
}

thread_local int defaultDevice = -1;
/// The device of threads that chose none (dualpipe_cuda_set_process_device).
std::atomic<int> processDevice{0};

std::mutex deferredMutex;
std::vector<void *> deferredFrees; ///< Managed memory freed during sends.

/// Frees the deferred managed buffers once no nccl send is in flight; with
/// `force`, now (the caller has synchronised the device).
void drainDeferredFrees(bool force) {
  std::vector<void *> now;
  {
    std::lock_guard<std::mutex> lock(deferredMutex);
    if (deferredFrees.empty())
      return;
    if (!force && dualpipe::rt::nccl::sendsInFlight())
      return;
    now.swap(deferredFrees);
  }
  for (void *ptr : now)
    cudaFree(ptr);
}

/// True when `ptr` was put aside for drainDeferredFrees.
bool deferManagedFree(void *ptr) {
  if (!dualpipe::rt::nccl::sendsInFlight()) {
    drainDeferredFrees(false);
    return false;
  }
  std::lock_guard<std::mutex> lock(deferredMutex);
  deferredFrees.push_back(ptr);
  return true;
}

/// Makes the thread's device current (its primary context) before a call.
void useDevice() {
  requireDevice();
  if (defaultDevice < 0) {
    defaultDevice = processDevice.load();
    check(cudaSetDevice(defaultDevice), "cudaSetDevice");
  }
}

} // namespace

extern "C" {

int32_t dualpipe_cuda_device_status(char *message, int64_t capacity) {
  const std::string &problem = deviceProblem();
  if (message && capacity > 0) {
    std::strncpy(message, problem.c_str(), size_t(capacity) - 1);
    message[capacity - 1] = '\0';
  }
  return problem.empty() ? 0 : 1;
}

int32_t dualpipe_cuda_set_device(int32_t device) {
  if (!deviceProblem().empty())
    return 1;
  if (cudaSetDevice(device) != cudaSuccess)
    return 1;
  defaultDevice = device;
  return 0;
}

void mgpuSetDefaultDevice(int32_t device) {
  requireDevice();
  check(cudaSetDevice(device), "cudaSetDevice");
  defaultDevice = device;
}

void *dualpipe_cuda_alloc_managed(int64_t bytes) {
  if (!deviceProblem().empty() || bytes < 0)
    return nullptr;
  useDevice();
  void *ptr = nullptr;
  if (cudaMallocManaged(&ptr, size_t(bytes ? bytes : 1)) != cudaSuccess)
    return nullptr;
  if (cudaMemset(ptr, 0, size_t(bytes)) != cudaSuccess ||
      cudaDeviceSynchronize() != cudaSuccess) {
    cudaFree(ptr);
    return nullptr;
  }
  return ptr;
}

void dualpipe_cuda_free(void *ptr) {
  if (ptr && deviceProblem().empty())
    cudaFree(ptr);
}

int32_t dualpipe_cuda_nccl_version(void) {
  int version = 0;
  if (ncclGetVersion(&version) != ncclSuccess)
    return -1;
  return version;
}

int32_t dualpipe_cuda_runtime_version(void) {
  int version = 0;
  if (cudaRuntimeGetVersion(&version) != cudaSuccess)
    return -1;
  return version;
}

int32_t dualpipe_cuda_cublas_version(void) {
  int major = 0, minor = 0, patch = 0;
  if (cublasGetProperty(MAJOR_VERSION, &major) != CUBLAS_STATUS_SUCCESS ||
      cublasGetProperty(MINOR_VERSION, &minor) != CUBLAS_STATUS_SUCCESS ||
      cublasGetProperty(PATCH_LEVEL, &patch) != CUBLAS_STATUS_SUCCESS)
    return -1;
  return major * 10000 + minor * 100 + patch;
}

int32_t dualpipe_rt_cuda_send(int32_t peer, int64_t tag, const void *data,
                              int64_t bytes, void *stream) {
  useDevice();
  // A GPU transport (nccl) queues the send on the stream itself.
  if (dualpipe_rt_stream_ordered())
    return dualpipe_rt_send_on_stream(peer, tag, data, bytes, stream);
  // Everything queued before the send has written `data`.
  check(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)),
        "cudaStreamSynchronize before a send");
  return dualpipe_rt_send(peer, tag, data, bytes);
}

int32_t dualpipe_rt_cuda_recv(int32_t peer, int64_t tag, void *data,
                              int64_t bytes, void *stream) {
  useDevice();
  if (dualpipe_rt_stream_ordered())
    return dualpipe_rt_recv_on_stream(peer, tag, data, bytes, stream);
  // Nothing queued before the receive still reads or writes `data`.
  check(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)),
        "cudaStreamSynchronize before a receive");
  return dualpipe_rt_recv(peer, tag, data, bytes);
}

//--- streams and events ----------------------------------------------------//

void *mgpuStreamCreate(void) {
  useDevice();
  cudaStream_t stream = nullptr;
  check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking),
        "cudaStreamCreate");
  return stream;
}

void mgpuStreamDestroy(void *stream) {
  check(cudaStreamDestroy(static_cast<cudaStream_t>(stream)),
        "cudaStreamDestroy");
}

void mgpuStreamSynchronize(void *stream) {
  check(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)),
        "cudaStreamSynchronize (a kernel or copy on the stream failed?)");
}

void mgpuStreamWaitEvent(void *stream, void *event) {
  check(cudaStreamWaitEvent(static_cast<cudaStream_t>(stream),
                            static_cast<cudaEvent_t>(event), 0),
        "cudaStreamWaitEvent");
}

void *mgpuEventCreate(void) {
  useDevice();
  cudaEvent_t event = nullptr;
  check(cudaEventCreateWithFlags(&event, cudaEventDisableTiming),
        "cudaEventCreate");
  return event;
}

void mgpuEventDestroy(void *event) {
  check(cudaEventDestroy(static_cast<cudaEvent_t>(event)), "cudaEventDestroy");
}

void mgpuEventSynchronize(void *event) {
  check(cudaEventSynchronize(static_cast<cudaEvent_t>(event)),
        "cudaEventSynchronize");
}

void mgpuEventRecord(void *event, void *stream) {
  check(cudaEventRecord(static_cast<cudaEvent_t>(event),
                        static_cast<cudaStream_t>(stream)),
        "cudaEventRecord");
}

//--- memory ----------------------------------------------------------------//

void *mgpuMemAlloc(uint64_t bytes, void *stream, int8_t isHostShared) {
  useDevice();
  void *ptr = nullptr;
  size_t size = bytes ? size_t(bytes) : 1;
  if (isHostShared)
    check(cudaMallocManaged(&ptr, size), "cudaMallocManaged");
  else if (stream)
    check(cudaMallocAsync(&ptr, size, static_cast<cudaStream_t>(stream)),
          "cudaMallocAsync");
  else
    check(cudaMalloc(&ptr, size), "cudaMalloc");
  return ptr;
}

void mgpuMemFree(void *ptr, void *stream) {
  if (!ptr)
    return;
  // Managed memory cannot go through the stream-ordered allocator; cudaFree
  // waits for the device, which orders it after the stream's work.
  cudaPointerAttributes attributes;
  bool managed = cudaPointerGetAttributes(&attributes, ptr) == cudaSuccess &&
                 attributes.type == cudaMemoryTypeManaged;
  // cudaFree waits for the whole device, so also for queued nccl sends,
  // whose receivers may wait for messages this rank has yet to queue:
  // while one is in flight, managed frees wait for the step's end.
  if (managed && deferManagedFree(ptr))
    return;
  if (stream && !managed)
    check(cudaFreeAsync(ptr, static_cast<cudaStream_t>(stream)),
          "cudaFreeAsync");
  else
    check(cudaFree(ptr), "cudaFree");
}

void mgpuMemcpy(void *dst, void *src, size_t bytes, void *stream) {
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault,
                        static_cast<cudaStream_t>(stream)),
        "cudaMemcpyAsync");
}

void mgpuMemset32(void *dst, uint32_t value, size_t count, void *stream) {
  // cudart has no 32-bit memset; a byte pattern covers the common zero and
  // splat-byte values, anything else goes through a host buffer.
  uint8_t b = value & 0xff;
  if (value == (uint32_t(b) * 0x01010101u)) {
    check(cudaMemsetAsync(dst, b, count * 4, static_cast<cudaStream_t>(stream)),
          "cudaMemsetAsync");
    return;
  }
  check(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)),
        "cudaStreamSynchronize");
  uint32_t *host = static_cast<uint32_t *>(std::malloc(count * 4));
  for (size_t i = 0; i < count; ++i)
    host[i] = value;
  check(cudaMemcpy(dst, host, count * 4, cudaMemcpyDefault), "cudaMemcpy");
  std::free(host);
}

void mgpuMemset16(void *dst, uint16_t value, size_t count, void *stream) {
  uint8_t b = value & 0xff;
  if (value == uint16_t(b * 0x0101u)) {
    check(cudaMemsetAsync(dst, b, count * 2, static_cast<cudaStream_t>(stream)),
          "cudaMemsetAsync");
    return;
  }
  check(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)),
        "cudaStreamSynchronize");
  uint16_t *host = static_cast<uint16_t *>(std::malloc(count * 2));
  for (size_t i = 0; i < count; ++i)
    host[i] = value;
  check(cudaMemcpy(dst, host, count * 2, cudaMemcpyDefault), "cudaMemcpy");
  std::free(host);
}

//--- modules and launches --------------------------------------------------//

// The gpu.binary translation loads every module from a global constructor,
// when the step library is loaded: with no device this must not exit (a
// runner may load the library only to report), so it answers null and the
// first launch reports the missing device.
void *mgpuModuleLoad(void *data, size_t /*bytes*/) {
  if (!deviceProblem().empty())
    return nullptr;
  CUlibrary library = nullptr;
  check(driver().libraryLoadData(&library, data, nullptr, nullptr, 0, nullptr,
                                 nullptr, 0),
        "cuLibraryLoadData (is the cubin for this GPU? the cuda target "
        "builds sm_90)");
  return library;
}

void *mgpuModuleLoadJIT(void *data, int32_t /*optLevel*/, size_t bytes) {
  // PTX: the driver compiles it on load.
  return mgpuModuleLoad(data, bytes);
}

void mgpuModuleUnload(void *module) {
  if (!module || !deviceProblem().empty())
    return;
  driver().libraryUnload(static_cast<CUlibrary>(module));
}

void *mgpuModuleGetFunction(void *module, const char *name) {
  requireDevice();
  if (!module)
    fatal(std::string("kernel ") + name + ": its module was not loaded");
  CUkernel kernel = nullptr;
  check(driver().libraryGetKernel(&kernel, static_cast<CUlibrary>(module),
                                  name),
        "cuLibraryGetKernel");
  return kernel;
}

void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, void *stream,
                      void **params, void **extra, size_t /*paramsCount*/) {
  useDevice();
  // A CUkernel launches like a CUfunction in the current context.
  check(driver().launchKernel(static_cast<CUfunction>(function), unsigned(gridX),
                              unsigned(gridY), unsigned(gridZ),
                              unsigned(blockX), unsigned(blockY),
                              unsigned(blockZ), unsigned(smem),
                              static_cast<CUstream>(stream), params, extra),
        "cuLaunchKernel");
}

//--- the runner's step boundary --------------------------------------------//

int32_t dualpipe_cuda_synchronize(char *message, int64_t capacity) {
  std::string problem = deviceProblem();
  if (problem.empty()) {
    cudaError_t err = cudaDeviceSynchronize();
    if (err != cudaSuccess)
      problem = std::string("cudaDeviceSynchronize failed (a kernel or a "
                            "transfer of the step failed): ") +
                cudaGetErrorString(err);
    else
      drainDeferredFrees(/*force=*/true);
  }
  if (message && capacity > 0) {
    std::strncpy(message, problem.c_str(), size_t(capacity) - 1);
    message[capacity - 1] = '\0';
  }
  return problem.empty() ? 0 : 1;
}

int32_t dualpipe_cuda_set_process_device(int32_t device) {
  if (!deviceProblem().empty() || cudaSetDevice(device) != cudaSuccess)
    return 1;
  processDevice = device;
  defaultDevice = device;
  return 0;
}

int32_t dualpipe_cuda_device_count(void) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess)
    return 0;
  return count;
}

} // extern "C"

//--- GEMM on the kernels' stream (cuBLAS) ----------------------------------//
//
// The cuda target's --dualpipe-lower-gemm-to-runtime{target=cuda} and
// --dualpipe-cuda-gemm-on-stream call this for f32/f64 matmul and
// batch_matmul: C += op(A) op(B) (beta = 1, linalg's semantics), queued on
// `stream` after the kernels that produced A and B. Operands are unranked
// memrefs through the C interface (see Runtime.h, dualpipe_unranked_memref)
// in managed memory. cuBLAS is column-major: a row-major M x N matrix with
// leading dimension ld is its N x M transpose, so C = op(A) op(B) is
// computed as Cᵀ = op(B)ᵀ op(A)ᵀ, B first. Unlike the CPU entry point this
// one copies nothing: an operand without a unit stride in one of its last
// two dimensions is an error (the compiler only emits calls for layouts
// that have one). UNRUN: no GPU was available when this was written.

namespace {

/// One strided matrix of a (batch of) matrices: element (i, j) of batch b
/// is data[b * bs + i * rs + j * cs].
struct GemmView {
  char *data;
  int64_t batch, rows, cols, bs, rs, cs;
  GemmView t() const { return {data, batch, cols, rows, bs, cs, rs}; }
};

bool readGemmView(const dualpipe_unranked_memref *m, size_t elementSize,
                  bool transpose, GemmView &v) {
  if (!m || !m->descriptor || (m->rank != 2 && m->rank != 3))
    return false;
  struct Head {
    void *allocated, *aligned;
    int64_t offset;
  };
  const auto *head = static_cast<const Head *>(m->descriptor);
  const auto *sizes = reinterpret_cast<const int64_t *>(head + 1);
  const int64_t *strides = sizes + m->rank;
  int64_t r = m->rank - 2;
  v = {static_cast<char *>(head->aligned) + head->offset * elementSize,
       r ? sizes[0] : 1, sizes[r], sizes[r + 1], r ? strides[0] : 0,
       strides[r], strides[r + 1]};
  if (transpose)
    v = v.t();
  return true;
}

/// How cuBLAS reads row-major view `v`: as stored (N for the swapped
/// call) with leading dimension `ld`, or transposed.
bool cublasLayout(const GemmView &v, bool &transposed, int64_t &ld) {
  if ((v.cs == 1 || v.cols <= 1) && (v.rows <= 1 || v.rs >= std::max<int64_t>(v.cols, 1))) {
    transposed = false;
    ld = v.rows <= 1 ? std::max<int64_t>(v.cols, 1) : v.rs;
    return ld <= INT32_MAX;
  }
  if ((v.rs == 1 || v.rows <= 1) && (v.cols <= 1 || v.cs >= std::max<int64_t>(v.rows, 1))) {
    transposed = true;
    ld = v.cols <= 1 ? std::max<int64_t>(v.rows, 1) : v.cs;
    return ld <= INT32_MAX;
  }
  return false;
}

/// The calling thread's cuBLAS handle for the current device.
cublasHandle_t cublasForThisThread() {
  thread_local std::vector<cublasHandle_t> handles;
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  if (size_t(device) >= handles.size())
    handles.resize(size_t(device) + 1, nullptr);
  if (!handles[size_t(device)]) {
    cublasStatus_t s = cublasCreate_v2(&handles[size_t(device)]);
    if (s != CUBLAS_STATUS_SUCCESS)
      fatal("cublasCreate failed with status " + std::to_string(int(s)));
  }
  return handles[size_t(device)];
}

template <typename T>
int32_t cudaMatmul(const char *name, const dualpipe_unranked_memref *am,
                   const dualpipe_unranked_memref *bm,
                   const dualpipe_unranked_memref *cm, int32_t ta, int32_t tb,
                   void *stream) {
  GemmView a, b, c;
  if (!readGemmView(am, sizeof(T), ta != 0, a) ||
      !readGemmView(bm, sizeof(T), tb != 0, b) ||
      !readGemmView(cm, sizeof(T), false, c) || am->rank != cm->rank ||
      bm->rank != cm->rank || a.batch != c.batch || b.batch != c.batch ||
      a.rows != c.rows || b.cols != c.cols || a.cols != b.rows)
    fatal(std::string(name) + ": operands of matmul/batch_matmul whose "
                              "ranks or shapes do not agree");
  if (c.rows == 0 || c.cols == 0 || a.cols == 0 || c.batch == 0)
    return 0;
  useDevice();
  bool tc, tA, tB;
  int64_t ldc, lda, ldb;
  if (!cublasLayout(c, tc, ldc))
    fatal(std::string(name) + ": C has no unit stride; not supported on cuda");
  if (tc) { // column-major C: Cᵀ += op(B)ᵀ op(A)ᵀ
    std::swap(a, b);
    a = a.t();
    b = b.t();
    c = c.t();
  }
  if (!cublasLayout(a, tA, lda) || !cublasLayout(b, tB, ldb))
    fatal(std::string(name) + ": A or B has no unit stride in its last two "
                              "dimensions; not supported on cuda");
  if (c.rows > INT32_MAX || c.cols > INT32_MAX || a.cols > INT32_MAX ||
      c.batch > INT32_MAX)
    fatal(std::string(name) + ": dimensions beyond cuBLAS's int range");
  cublasHandle_t h = cublasForThisThread();
  cublasSetStream_v2(h, static_cast<cudaStream_t>(stream));
  const T one = 1;
  // Column-major view of the row-major problem: (N x M) = (N x K)(K x M).
  cublasOperation_t opB = tB ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opA = tA ? CUBLAS_OP_T : CUBLAS_OP_N;
  int n = int(c.cols), m = int(c.rows), k = int(a.cols);
  cublasStatus_t s;
  if constexpr (sizeof(T) == 4)
    s = c.batch == 1
            ? cublasSgemm_v2(h, opB, opA, n, m, k, &one,
                             reinterpret_cast<const float *>(b.data), int(ldb),
                             reinterpret_cast<const float *>(a.data), int(lda),
                             &one, reinterpret_cast<float *>(c.data), int(ldc))
            : cublasSgemmStridedBatched(
                  h, opB, opA, n, m, k, &one,
                  reinterpret_cast<const float *>(b.data), int(ldb), b.bs,
                  reinterpret_cast<const float *>(a.data), int(lda), a.bs, &one,
                  reinterpret_cast<float *>(c.data), int(ldc), c.bs,
                  int(c.batch));
  else
    s = c.batch == 1
            ? cublasDgemm_v2(h, opB, opA, n, m, k, &one,
                             reinterpret_cast<const double *>(b.data), int(ldb),
                             reinterpret_cast<const double *>(a.data), int(lda),
                             &one, reinterpret_cast<double *>(c.data), int(ldc))
            : cublasDgemmStridedBatched(
                  h, opB, opA, n, m, k, &one,
                  reinterpret_cast<const double *>(b.data), int(ldb), b.bs,
                  reinterpret_cast<const double *>(a.data), int(lda), a.bs,
                  &one, reinterpret_cast<double *>(c.data), int(ldc), c.bs,
                  int(c.batch));
  if (s != CUBLAS_STATUS_SUCCESS)
    fatal(std::string(name) + ": cuBLAS failed with status " +
          std::to_string(int(s)));
  return 0;
}

} // namespace

extern "C" {

int32_t _mlir_ciface_dualpipe_rt_cuda_matmul_f32(
    const dualpipe_unranked_memref *a, const dualpipe_unranked_memref *b,
    const dualpipe_unranked_memref *c, int32_t transpose_a,
    int32_t transpose_b, void *stream) {
  return cudaMatmul<float>("dualpipe_rt_cuda_matmul_f32", a, b, c, transpose_a,
                           transpose_b, stream);
}

int32_t _mlir_ciface_dualpipe_rt_cuda_matmul_f64(
    const dualpipe_unranked_memref *a, const dualpipe_unranked_memref *b,
    const dualpipe_unranked_memref *c, int32_t transpose_a,
    int32_t transpose_b, void *stream) {
  return cudaMatmul<double>("dualpipe_rt_cuda_matmul_f64", a, b, c,
                            transpose_a, transpose_b, stream);
}

} // extern "C"
