//===- MeasureCpuProfile.cpp - the numbers behind the `cpu` device profile ===//
//
// Measures, on one core of the build machine:
//   - contraction FLOP/s: single-threaded f32 GEMM (OpenBLAS sgemm when the
//     build found a BLAS, otherwise a blocked loop), 1024^3;
//   - vector FLOP/s: a fused multiply-add loop over an L1-resident array;
//   - memory bandwidth: STREAM-style triad a = b + s*c over 3 x 64 MiB,
//     counting 3 arrays moved (reads of b, c and the write of a).
// The figures were copied into CostModel.cpp's `cpu` profile; rerun this to
// re-derive them on another machine (see docs/partition.md).
//
//===----------------------------------------------------------------------===//
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#ifdef DUALPIPE_HAVE_CBLAS
#include <cblas.h>
#endif

namespace {

double now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// Best of `reps` timings of f().
template <typename F> double best(int reps, F f) {
  double t = 1e30;
  for (int i = 0; i < reps; ++i) {
    double t0 = now();
    f();
    t = std::min(t, now() - t0);
  }
  return t;
}

double gemmFlops() {
  const int n = 1024;
  std::vector<float> a(n * n, 1.0f), b(n * n, 0.5f), c(n * n, 0.0f);
  double t = best(3, [&] {
#ifdef DUALPIPE_HAVE_CBLAS
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f,
                a.data(), n, b.data(), n, 0.0f, c.data(), n);
#else
    const int bs = 64;
    std::fill(c.begin(), c.end(), 0.0f);
    for (int i0 = 0; i0 < n; i0 += bs)
      for (int k0 = 0; k0 < n; k0 += bs)
        for (int i = i0; i < i0 + bs; ++i)
          for (int k = k0; k < k0 + bs; ++k) {
            float aik = a[i * n + k];
            for (int j = 0; j < n; ++j)
              c[i * n + j] += aik * b[k * n + j];
          }
#endif
  });
  if (c[0] < 0)
    std::puts("");
  return 2.0 * n * n * n / t;
}

double vectorFlops() {
  const int n = 4096, iters = 20000;
  std::vector<float> x(n, 1.0f), y(n, 0.0f);
  float s = 0.999f;
  double t = best(3, [&] {
    for (int it = 0; it < iters; ++it)
      for (int i = 0; i < n; ++i)
        y[i] = y[i] * s + x[i];
  });
  if (y[0] < 0)
    std::puts("");
  return 2.0 * n * iters / t;
}

double triadBandwidth() {
  const size_t n = 16u << 20; // 64 MiB of floats per array
  std::vector<float> a(n, 0.0f), b(n, 1.0f), c(n, 2.0f);
  double t = best(5, [&] {
    for (size_t i = 0; i < n; ++i)
      a[i] = b[i] + 3.0f * c[i];
  });
  if (a[0] < 0)
    std::puts("");
  return 3.0 * n * sizeof(float) / t;
}

} // namespace

int main() {
#ifdef DUALPIPE_HAVE_CBLAS
  // OpenBLAS reads OPENBLAS_NUM_THREADS when it loads: run with it set to 1.
  const char *gemm = "OpenBLAS sgemm 1024^3, 1 thread";
#else
  const char *gemm = "blocked loop 1024^3, 1 thread";
#endif
  double g = gemmFlops(), v = vectorFlops(), bw = triadBandwidth();
  std::printf("contraction: %.3g FLOP/s (%s)\n", g, gemm);
  std::printf("vector:      %.3g FLOP/s (fused multiply-add loop, L1)\n", v);
  std::printf("bandwidth:   %.3g B/s (triad, 3 x 64 MiB)\n", bw);
  return 0;
}
