//===- GemmTest.cpp - runtime GEMM against a naive triple loop ------------===//
//
// _mlir_ciface_dualpipe_rt_matmul_f32/f64 on hand-made memref descriptors
// (what the C interface of an unranked memref passes): contiguous,
// transposed, strided subviews (row- and column-major and neither), batched,
// accumulating into a non-zero C; with BLAS and with the portable loop.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Runtime/Runtime.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

/// A ranked memref descriptor as MLIR lays it out.
template <typename T, int R>
struct Descriptor {
  T *allocated;
  T *aligned;
  int64_t offset;
  int64_t sizes[R];
  int64_t strides[R];
};

/// A (batch of) matrices viewed into a larger buffer: element (b, i, j) is
/// storage[offset + b * sb + i * si + j * sj].
template <typename T>
struct Operand {
  std::vector<T> storage;
  int64_t batch, rows, cols, offset, sb, si, sj;
  Descriptor<T, 2> d2{};
  Descriptor<T, 3> d3{};
  dualpipe_unranked_memref unranked{};

  T &at(int64_t b, int64_t i, int64_t j) {
    return storage[size_t(offset + b * sb + i * si + j * sj)];
  }

  /// `batch` 0 means rank 2. Fills the whole buffer (view and gaps) with
  /// random values, so a kernel that reads outside the view is caught.
  Operand(int64_t batch, int64_t rows, int64_t cols, int64_t offset,
          int64_t sb, int64_t si, int64_t sj, std::mt19937 &rng)
      : batch(batch), rows(rows), cols(cols), offset(offset), sb(sb), si(si),
        sj(sj) {
    int64_t last = offset + (std::max<int64_t>(batch, 1) - 1) * sb +
                   (rows - 1) * si + (cols - 1) * sj;
    storage.resize(size_t(last + 1 + 3));
    std::uniform_real_distribution<double> dist(-1, 1);
    for (T &x : storage)
      x = T(dist(rng));
    if (batch == 0) {
      d2 = {storage.data(), storage.data(), offset, {rows, cols}, {si, sj}};
      unranked = {2, &d2};
    } else {
      d3 = {storage.data(), storage.data(), offset, {batch, rows, cols},
            {sb, si, sj}};
      unranked = {3, &d3};
    }
  }
};

/// Row-major contiguous layout: strides for a rows x cols matrix.
struct Layout {
  int64_t offset, sb, si, sj;
};

template <typename T>
struct Case {
  const char *name;
  int64_t batch, m, n, k;
  bool ta, tb;
  // Layouts of A (as stored: KxM when transposed), B, C.
  Layout la, lb, lc;
};

/// C += op(A) op(B), or C = op(A) op(B) with `into` (the _into_ entries).
template <typename T>
int32_t callMatmul(Operand<T> &a, Operand<T> &b, Operand<T> &c, bool ta,
                   bool tb, bool into = false) {
  if constexpr (std::is_same_v<T, float>)
    return into ? _mlir_ciface_dualpipe_rt_matmul_into_f32(
                      &a.unranked, &b.unranked, &c.unranked, ta, tb)
                : _mlir_ciface_dualpipe_rt_matmul_f32(&a.unranked, &b.unranked,
                                                      &c.unranked, ta, tb);
  else
    return into ? _mlir_ciface_dualpipe_rt_matmul_into_f64(
                      &a.unranked, &b.unranked, &c.unranked, ta, tb)
                : _mlir_ciface_dualpipe_rt_matmul_f64(&a.unranked, &b.unranked,
                                                      &c.unranked, ta, tb);
}

/// With `into`, C's view starts as NaN: the result must not read it.
template <typename T>
void runCase(const Case<T> &cs, bool into = false) {
  SCOPED_TRACE(std::string(cs.name) + " (" + dualpipe_rt_gemm_library() + ")");
  std::mt19937 rng(1234);
  int64_t ar = cs.ta ? cs.k : cs.m, ac = cs.ta ? cs.m : cs.k;
  int64_t br = cs.tb ? cs.n : cs.k, bc = cs.tb ? cs.k : cs.n;
  Operand<T> a(cs.batch, ar, ac, cs.la.offset, cs.la.sb, cs.la.si, cs.la.sj,
               rng);
  Operand<T> b(cs.batch, br, bc, cs.lb.offset, cs.lb.sb, cs.lb.si, cs.lb.sj,
               rng);
  Operand<T> c(cs.batch, cs.m, cs.n, cs.lc.offset, cs.lc.sb, cs.lc.si,
               cs.lc.sj, rng);
  // The reference: C (non-zero, random) + op(A) op(B), a naive triple loop
  // in double; everything of C's buffer outside the view must stay.
  int64_t nb0 = std::max<int64_t>(cs.batch, 1);
  if (into)
    for (int64_t p = 0; p < nb0; ++p)
      for (int64_t i = 0; i < cs.m; ++i)
        for (int64_t j = 0; j < cs.n; ++j)
          c.storage[size_t(c.offset + p * c.sb + i * c.si + j * c.sj)] =
              std::numeric_limits<T>::quiet_NaN();
  std::vector<T> before = c.storage;
  std::vector<double> want(before.begin(), before.end());
  int64_t nb = std::max<int64_t>(cs.batch, 1);
  for (int64_t p = 0; p < nb; ++p)
    for (int64_t i = 0; i < cs.m; ++i)
      for (int64_t j = 0; j < cs.n; ++j) {
        double acc = into ? 0.0 : double(c.at(p, i, j));
        for (int64_t q = 0; q < cs.k; ++q)
          acc += double(cs.ta ? a.at(p, q, i) : a.at(p, i, q)) *
                 double(cs.tb ? b.at(p, j, q) : b.at(p, q, j));
        want[size_t(c.offset + p * c.sb + i * c.si + j * c.sj)] = acc;
      }
  std::vector<T> aBefore = a.storage, bBefore = b.storage;
  ASSERT_EQ(callMatmul(a, b, c, cs.ta, cs.tb, into), 0)
      << (dualpipe_rt_last_error() ? dualpipe_rt_last_error() : "");
  double tol = std::is_same_v<T, float> ? 1e-5 * (cs.k + 1) : 1e-12 * (cs.k + 1);
  for (size_t x = 0; x < c.storage.size(); ++x)
    ASSERT_NEAR(double(c.storage[x]), want[x], tol) << "element " << x;
  EXPECT_EQ(a.storage, aBefore);
  EXPECT_EQ(b.storage, bBefore);
}

/// Row-major contiguous rows x cols (batch stride rows * cols).
Layout dense(int64_t rows, int64_t cols) { return {0, rows * cols, cols, 1}; }

template <typename T>
std::vector<Case<T>> cases() {
  const int64_t m = 5, n = 7, k = 6;
  return {
      {"contiguous", 0, m, n, k, false, false, dense(m, k), dense(k, n),
       dense(m, n)},
      {"transposed A", 0, m, n, k, true, false, dense(k, m), dense(k, n),
       dense(m, n)},
      {"transposed B", 0, m, n, k, false, true, dense(m, k), dense(n, k),
       dense(m, n)},
      {"transposed A and B", 0, m, n, k, true, true, dense(k, m), dense(n, k),
       dense(m, n)},
      // Subviews: A rows of a 16-wide buffer at an offset; B column-major
      // (unit row stride); C with no unit stride at all (copied).
      {"strided subviews", 0, m, n, k, false, false, {3, 0, 16, 1},
       {2, 0, 1, 9}, {1, 0, 20, 2}},
      // C column-major: computed as Cᵀ += Bᵀ Aᵀ.
      {"column-major C", 0, m, n, k, false, true, {0, 0, 1, 8},
       {5, 0, 11, 1}, {4, 0, 1, 9}},
      // A with no unit stride (copied), transposed B as a subview.
      {"non-unit strides", 0, m, n, k, true, true, {1, 0, 3 * m, 3},
       {0, 0, 10, 1}, dense(m, n)},
      {"batched", 3, m, n, k, false, false, dense(m, k), dense(k, n),
       dense(m, n)},
      {"batched transposed, strided batches", 3, m, n, k, true, true,
       {2, 50, 6, 1}, {1, 60, 8, 1}, {3, 45, 8, 1}},
      {"batched strided C", 2, m, n, k, false, false, dense(m, k),
       {0, 0, 1, 7}, {0, 100, 16, 2}},
      {"vector shapes", 0, 1, 1, k, false, false, dense(1, k), dense(k, 1),
       dense(1, 1)},
      {"k = 1", 0, m, n, 1, false, false, dense(m, 1), dense(1, n),
       dense(m, n)},
  };
}

struct BlasMode {
  explicit BlasMode(int32_t on) { dualpipe_rt_gemm_use_blas(on); }
  ~BlasMode() { dualpipe_rt_gemm_use_blas(1); }
};

TEST(Gemm, F32MatchesNaiveLoop) {
  for (const auto &cs : cases<float>())
    runCase(cs);
}

TEST(Gemm, F64MatchesNaiveLoop) {
  for (const auto &cs : cases<double>())
    runCase(cs);
}

TEST(Gemm, IntoOverwritesWithoutReadingC) {
  for (const auto &cs : cases<float>())
    runCase(cs, /*into=*/true);
  for (const auto &cs : cases<double>())
    runCase(cs, /*into=*/true);
}

TEST(Gemm, PortableLoopIntoOverwritesWithoutReadingC) {
  BlasMode loops(0);
  for (const auto &cs : cases<float>())
    runCase(cs, /*into=*/true);
}

TEST(Gemm, IntoWithAnEmptySumIsZero) {
  std::mt19937 rng(7);
  Operand<float> a(0, 4, 0, 0, 0, 1, 1, rng), b(0, 0, 3, 0, 0, 3, 1, rng);
  Operand<float> c(0, 4, 3, 0, 0, 3, 1, rng);
  std::vector<float> before = c.storage;
  EXPECT_EQ(callMatmul(a, b, c, false, false, /*into=*/true), 0);
  for (size_t x = 0; x < c.storage.size(); ++x)
    EXPECT_EQ(c.storage[x], x < 12 ? 0.0f : before[x]) << "element " << x;
}

TEST(Gemm, PortableLoopMatchesNaiveLoop) {
  BlasMode loops(0);
  EXPECT_STREQ(dualpipe_rt_gemm_library(), "loops");
  for (const auto &cs : cases<float>())
    runCase(cs);
  for (const auto &cs : cases<double>())
    runCase(cs);
}

TEST(Gemm, ZeroSizesLeaveCAlone) {
  std::mt19937 rng(7);
  Operand<float> a(0, 4, 0, 0, 0, 1, 1, rng), b(0, 0, 3, 0, 0, 3, 1, rng);
  Operand<float> c(0, 4, 3, 0, 0, 3, 1, rng);
  std::vector<float> before = c.storage;
  EXPECT_EQ(callMatmul(a, b, c, false, false), 0);
  EXPECT_EQ(c.storage, before);
}

TEST(Gemm, ShapeMismatchIsAnError) {
  std::mt19937 rng(7);
  Operand<double> a(0, 4, 5, 0, 0, 5, 1, rng), b(0, 6, 3, 0, 0, 3, 1, rng);
  Operand<double> c(0, 4, 3, 0, 0, 3, 1, rng);
  std::vector<double> before = c.storage;
  EXPECT_NE(callMatmul(a, b, c, false, false), 0);
  ASSERT_NE(dualpipe_rt_last_error(), nullptr);
  EXPECT_NE(std::string(dualpipe_rt_last_error()).find("shapes do not agree"),
            std::string::npos)
      << dualpipe_rt_last_error();
  EXPECT_EQ(c.storage, before);
  // A rank-2 A with a rank-3 C.
  Operand<double> c3(2, 4, 3, 0, 12, 3, 1, rng);
  EXPECT_NE(callMatmul(a, b, c3, false, false), 0);
}

} // namespace
