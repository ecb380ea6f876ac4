//===- Gemm.cpp - GEMM entry points for generated CPU code ----------------===//
//
// C += op(A) * op(B) on MLIR memref descriptors, as linalg.matmul and
// linalg.batch_matmul define it (accumulate, beta = 1). The compiler's
// --dualpipe-lower-gemm-to-runtime pass calls these through the C interface
// of unranked memrefs, so one function serves every layout: each operand is
// viewed as a strided matrix, and a view BLAS cannot take directly (no unit
// stride in either dimension) is copied to a contiguous temporary first.
//
// With CBLAS (DUALPIPE_RT_HAVE_CBLAS) the work is cblas_sgemm/cblas_dgemm;
// without it, or when turned off (dualpipe_rt_gemm_use_blas(0),
// DUALPIPE_GEMM=loops), a plain loop in the order of linalg's own loops.
// See docs/runtime.md ("GEMM").
//
//===----------------------------------------------------------------------===//

#include "dualpipe/Runtime/Runtime.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#if DUALPIPE_RT_HAVE_CBLAS
#include <cblas.h>
#include <dlfcn.h>
#endif

namespace {

/// A strided M x N matrix: element (i, j) is data[i * rs + j * cs].
template <typename T>
struct View {
  T *data;
  int64_t rows, cols, rs, cs;

  T &at(int64_t i, int64_t j) const { return data[i * rs + j * cs]; }
  View transposed() const { return {data, cols, rows, cs, rs}; }
};

/// The ranked descriptor behind an unranked memref, read without knowing its
/// rank at compile time: {T *allocated, T *aligned, int64_t offset,
/// int64_t sizes[rank], int64_t strides[rank]}.
template <typename T>
struct Desc {
  int64_t rank;
  T *aligned;
  int64_t offset;
  const int64_t *sizes, *strides;
};

template <typename T>
bool readDescriptor(const dualpipe_unranked_memref *m, Desc<T> &d) {
  if (!m || !m->descriptor || (m->rank != 2 && m->rank != 3))
    return false;
  struct Head {
    T *allocated, *aligned;
    int64_t offset;
  };
  const auto *head = static_cast<const Head *>(m->descriptor);
  d.rank = m->rank;
  d.aligned = head->aligned;
  d.offset = head->offset;
  d.sizes = reinterpret_cast<const int64_t *>(
      static_cast<const char *>(m->descriptor) + sizeof(Head));
  d.strides = d.sizes + m->rank;
  return true;
}

/// Matrix `b` of a (batch of) matrices, op() applied when `transpose`.
template <typename T>
View<T> matrixOf(const Desc<T> &d, int64_t b, bool transpose) {
  int64_t r = d.rank - 2;
  View<T> v{d.aligned + d.offset + (r ? b * d.strides[0] : 0), d.sizes[r],
            d.sizes[r + 1], d.strides[r], d.strides[r + 1]};
  return transpose ? v.transposed() : v;
}

/// The reference: linalg's loop nest (i, j, k), accumulating in T (from 0
/// instead of C's old value when `overwrite`).
template <typename T>
void gemmLoops(View<T> a, View<T> b, View<T> c, bool overwrite) {
  for (int64_t i = 0; i < c.rows; ++i)
    for (int64_t j = 0; j < c.cols; ++j) {
      T acc = overwrite ? T(0) : c.at(i, j);
      for (int64_t k = 0; k < a.cols; ++k)
        acc += a.at(i, k) * b.at(k, j);
      c.at(i, j) = acc;
    }
}

std::atomic<int> useBlas{-1}; // -1: not decided yet (see blasEnabled)

#if DUALPIPE_RT_HAVE_CBLAS
constexpr bool kHaveBlas = true;
#else
constexpr bool kHaveBlas = false;
#endif

bool blasEnabled() {
  int v = useBlas.load(std::memory_order_relaxed);
  if (v < 0) {
    const char *env = std::getenv("DUALPIPE_GEMM");
    v = kHaveBlas && !(env && std::strcmp(env, "loops") == 0);
    int expected = -1;
    if (!useBlas.compare_exchange_strong(expected, v))
      v = expected;
  }
  return v > 0;
}

#if DUALPIPE_RT_HAVE_CBLAS

/// Ranks are threads: one BLAS thread per call unless the user asked for
/// more through OpenBLAS's own variables (which OpenBLAS then reads itself).
/// Reached through dlsym so a BLAS other than OpenBLAS links too.
/// A runner that chose a thread count (dualpipe_rt_set_blas_threads) has
/// set it already; the first GEMM then leaves it alone.
std::atomic<bool> blasThreadsChosen{false};

using SetThreads = void (*)(int);
SetThreads openblasSetThreads() {
  return reinterpret_cast<SetThreads>(
      dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
}

void configureBlasThreads() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (blasThreadsChosen.load())
      return;
    for (const char *var :
         {"OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"})
      if (const char *v = std::getenv(var); v && *v)
        return;
    if (SetThreads set = openblasSetThreads())
      set(1);
  });
}

/// How BLAS can read view `v` in place: row-major with leading dimension
/// `ld` (transposed = false), or as the row-major transpose (true).
template <typename T>
bool blasLayout(const View<T> &v, bool &transposed, int64_t &ld) {
  auto fitsInt = [](int64_t x) { return x >= 0 && x <= INT_MAX; };
  if ((v.cs == 1 || v.cols <= 1) &&
      (v.rows <= 1 || v.rs >= std::max<int64_t>(v.cols, 1))) {
    transposed = false;
    ld = v.rows <= 1 ? std::max<int64_t>(v.cols, 1) : v.rs;
    return fitsInt(ld);
  }
  if ((v.rs == 1 || v.rows <= 1) &&
      (v.cols <= 1 || v.cs >= std::max<int64_t>(v.rows, 1))) {
    transposed = true;
    ld = v.cols <= 1 ? std::max<int64_t>(v.rows, 1) : v.cs;
    return fitsInt(ld);
  }
  return false;
}

/// A contiguous row-major copy of `v` in `storage`.
template <typename T>
View<T> contiguous(const View<T> &v, std::vector<T> &storage) {
  storage.resize(size_t(v.rows * v.cols));
  View<T> out{storage.data(), v.rows, v.cols, v.cols, 1};
  for (int64_t i = 0; i < v.rows; ++i)
    for (int64_t j = 0; j < v.cols; ++j)
      out.at(i, j) = v.at(i, j);
  return out;
}

// beta = 0 does not read C (CBLAS: "C need not be set on input").
inline void blasGemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n,
                     int k, const float *a, int lda, const float *b, int ldb,
                     float *c, int ldc, bool overwrite) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb,
              overwrite ? 0.0f : 1.0f, c, ldc);
}
inline void blasGemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n,
                     int k, const double *a, int lda, const double *b, int ldb,
                     double *c, int ldc, bool overwrite) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, a, lda, b, ldb,
              overwrite ? 0.0 : 1.0, c, ldc);
}

/// C += A * B (C = A * B when `overwrite`) with BLAS, copying views it
/// cannot read or write in place.
template <typename T>
void gemmBlas(View<T> a, View<T> b, View<T> c, bool overwrite) {
  configureBlasThreads();
  if (c.rows > INT_MAX || c.cols > INT_MAX || a.cols > INT_MAX)
    return gemmLoops(a, b, c, overwrite);
  bool tc;
  int64_t ldc;
  std::vector<T> cCopy;
  View<T> cWork = c;
  if (!blasLayout(c, tc, ldc)) {
    cWork = contiguous(c, cCopy);
    tc = false;
    ldc = std::max<int64_t>(c.cols, 1);
  }
  if (tc) {
    // C is column-major: Cᵀ += Bᵀ Aᵀ, all row-major views of the same data.
    a = a.transposed();
    b = b.transposed();
    std::swap(a, b);
    cWork = cWork.transposed();
  }
  std::vector<T> aCopy, bCopy;
  bool ta, tb;
  int64_t lda, ldb;
  if (!blasLayout(a, ta, lda)) {
    a = contiguous(a, aCopy);
    ta = false;
    lda = std::max<int64_t>(a.cols, 1);
  }
  if (!blasLayout(b, tb, ldb)) {
    b = contiguous(b, bCopy);
    tb = false;
    ldb = std::max<int64_t>(b.cols, 1);
  }
  blasGemm(ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
           int(cWork.rows), int(cWork.cols), int(a.cols), a.data, int(lda),
           b.data, int(ldb), cWork.data, int(ldc), overwrite);
  if (!cCopy.empty())
    for (int64_t i = 0; i < c.rows; ++i)
      for (int64_t j = 0; j < c.cols; ++j)
        c.at(i, j) = cWork.at(i, j);
}
#endif // DUALPIPE_RT_HAVE_CBLAS

template <typename T>
std::string matmul(const dualpipe_unranked_memref *am,
                   const dualpipe_unranked_memref *bm,
                   const dualpipe_unranked_memref *cm, bool ta, bool tb,
                   bool overwrite) {
  Desc<T> a, b, c;
  if (!readDescriptor(am, a) || !readDescriptor(bm, b) ||
      !readDescriptor(cm, c))
    return "operands must be memrefs of rank 2 (matmul) or 3 "
           "(batch_matmul)";
  if (a.rank != c.rank || b.rank != c.rank)
    return "operands of different ranks";
  int64_t batch = c.rank == 3 ? c.sizes[0] : 1;
  if (c.rank == 3 && (a.sizes[0] != batch || b.sizes[0] != batch))
    return "batch sizes differ";
  View<T> a0 = matrixOf(a, 0, ta), b0 = matrixOf(b, 0, tb),
          c0 = matrixOf(c, 0, false);
  if (a0.rows != c0.rows || b0.cols != c0.cols || a0.cols != b0.rows)
    return "shapes do not agree: op(A) is " + std::to_string(a0.rows) + "x" +
           std::to_string(a0.cols) + ", op(B) " + std::to_string(b0.rows) +
           "x" + std::to_string(b0.cols) + ", C " + std::to_string(c0.rows) +
           "x" + std::to_string(c0.cols);
  if (c0.rows == 0 || c0.cols == 0)
    return "";
  if (a0.cols == 0) {
    // An empty sum: C keeps its values, or is zero when overwritten.
    if (overwrite)
      for (int64_t i = 0; i < batch; ++i) {
        View<T> cv = matrixOf(c, i, false);
        for (int64_t r = 0; r < cv.rows; ++r)
          for (int64_t q = 0; q < cv.cols; ++q)
            cv.at(r, q) = T(0);
      }
    return "";
  }
  bool blas = blasEnabled();
  for (int64_t i = 0; i < batch; ++i) {
    View<T> av = matrixOf(a, i, ta), bv = matrixOf(b, i, tb),
            cv = matrixOf(c, i, false);
#if DUALPIPE_RT_HAVE_CBLAS
    if (blas) {
      gemmBlas(av, bv, cv, overwrite);
      continue;
    }
#endif
    (void)blas;
    gemmLoops(av, bv, cv, overwrite);
  }
  return "";
}

template <typename T>
int32_t matmulEntry(const char *name, const dualpipe_unranked_memref *a,
                    const dualpipe_unranked_memref *b,
                    const dualpipe_unranked_memref *c, int32_t ta,
                    int32_t tb, bool overwrite) {
  std::string error;
  try {
    error = matmul<T>(a, b, c, ta != 0, tb != 0, overwrite);
  } catch (const std::exception &e) {
    error = std::string("internal error: ") + e.what();
  } catch (...) {
    error = "internal error (unknown exception)";
  }
  if (error.empty())
    return 0;
  // Fails the world when the thread is bound (generated code ignores the
  // status, as it does for sends); sets the last error either way.
  dualpipe_rt_fail((std::string(name) + ": " + error).c_str());
  return 1;
}

} // namespace

extern "C" {

int32_t _mlir_ciface_dualpipe_rt_matmul_f32(const dualpipe_unranked_memref *a,
                                            const dualpipe_unranked_memref *b,
                                            const dualpipe_unranked_memref *c,
                                            int32_t transpose_a,
                                            int32_t transpose_b) {
  return matmulEntry<float>("dualpipe_rt_matmul_f32", a, b, c, transpose_a,
                            transpose_b, /*overwrite=*/false);
}

int32_t _mlir_ciface_dualpipe_rt_matmul_into_f32(
    const dualpipe_unranked_memref *a, const dualpipe_unranked_memref *b,
    const dualpipe_unranked_memref *c, int32_t transpose_a,
    int32_t transpose_b) {
  return matmulEntry<float>("dualpipe_rt_matmul_into_f32", a, b, c,
                            transpose_a, transpose_b, /*overwrite=*/true);
}

int32_t _mlir_ciface_dualpipe_rt_matmul_into_f64(
    const dualpipe_unranked_memref *a, const dualpipe_unranked_memref *b,
    const dualpipe_unranked_memref *c, int32_t transpose_a,
    int32_t transpose_b) {
  return matmulEntry<double>("dualpipe_rt_matmul_into_f64", a, b, c,
                             transpose_a, transpose_b, /*overwrite=*/true);
}

int32_t _mlir_ciface_dualpipe_rt_matmul_f64(const dualpipe_unranked_memref *a,
                                            const dualpipe_unranked_memref *b,
                                            const dualpipe_unranked_memref *c,
                                            int32_t transpose_a,
                                            int32_t transpose_b) {
  return matmulEntry<double>("dualpipe_rt_matmul_f64", a, b, c, transpose_a,
                             transpose_b, /*overwrite=*/false);
}

int32_t dualpipe_rt_gemm_use_blas(int32_t enable) {
  blasEnabled(); // settle the default first
  useBlas.store(kHaveBlas && enable != 0, std::memory_order_relaxed);
  return kHaveBlas && enable != 0;
}

int32_t dualpipe_rt_set_blas_threads(int32_t threads) {
  if (threads < 1)
    return 0;
#if DUALPIPE_RT_HAVE_CBLAS
  if (SetThreads set = openblasSetThreads()) {
    set(threads);
    blasThreadsChosen.store(true);
    return threads;
  }
#endif
  return 0;
}

const char *dualpipe_rt_gemm_library(void) {
  return blasEnabled() ? "cblas" : "loops";
}

} // extern "C"
