//===- StepAllocTest.cpp - the step heap of generated CPU code ------------===//
//
// runtime/src/StepAlloc.cpp: what compiled steps call for memref.alloc and
// memref.dealloc. Blocks are aligned, reused by size class within a thread,
// and counted.
//
//===----------------------------------------------------------------------===//

#include "dualpipe/Runtime/Runtime.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

namespace {

dualpipe_alloc_stats stats() {
  dualpipe_alloc_stats s;
  dualpipe_alloc_thread_stats(&s);
  return s;
}

// The sanitizer build (and DUALPIPE_ALLOC_CACHE_MB=0) frees every block.
#define REQUIRE_CACHE()                                                        \
  if (stats().cache_limit_bytes == 0)                                          \
  GTEST_SKIP() << "the step heap's cache is off in this build"

TEST(StepAlloc, BlocksAreAlignedAndWritable) {
  for (size_t bytes : {size_t(1), size_t(63), size_t(64), size_t(4097),
                       size_t(1) << 20, (size_t(3) << 20) + 5}) {
    void *p = _mlir_memref_to_llvm_alloc(bytes);
    ASSERT_NE(p, nullptr) << bytes;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u) << bytes;
    std::memset(p, 0xab, bytes);
    _mlir_memref_to_llvm_free(p);
  }
  void *q = _mlir_memref_to_llvm_aligned_alloc(32, 100);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(q) % 64, 0u);
  _mlir_memref_to_llvm_free(q);
  // More than the header's alignment, or not a power of two: refused.
  EXPECT_EQ(_mlir_memref_to_llvm_aligned_alloc(128, 100), nullptr);
  EXPECT_EQ(_mlir_memref_to_llvm_aligned_alloc(48, 100), nullptr);
  _mlir_memref_to_llvm_free(nullptr); // a no-op, as free(NULL)
}

// A step's pattern, repeated: from the second repetition on, nothing comes
// from the system (the page faults of section 4a of bench/REPORT.md).
TEST(StepAlloc, ARepeatedStepTakesNothingFromTheSystem) {
  REQUIRE_CACHE();
  std::thread([] {
    const std::vector<size_t> sizes = {256 << 10, 1 << 20, 256 << 10, 4096,
                                       3 << 20, 100, 1 << 20};
    auto step = [&] {
      std::vector<void *> live;
      for (size_t s : sizes)
        live.push_back(_mlir_memref_to_llvm_alloc(s));
      for (void *p : live)
        _mlir_memref_to_llvm_free(p);
    };
    step();
    dualpipe_alloc_stats first = stats();
    EXPECT_EQ(first.system_allocations, int64_t(sizes.size()));
    EXPECT_EQ(first.live_bytes, 0);
    for (int i = 0; i < 5; ++i)
      step();
    dualpipe_alloc_stats later = stats();
    EXPECT_EQ(later.system_allocations, first.system_allocations);
    EXPECT_EQ(later.allocations, 6 * int64_t(sizes.size()));
    EXPECT_EQ(later.live_bytes, 0);
  }).join();
}

TEST(StepAlloc, PeakCountsLiveBytesInSizeClasses) {
  std::thread([] {
    void *a = _mlir_memref_to_llvm_alloc(1000); // class 1024
    void *b = _mlir_memref_to_llvm_alloc(64);   // class 64
    EXPECT_EQ(stats().live_bytes, 1024 + 64);
    _mlir_memref_to_llvm_free(a);
    void *c = _mlir_memref_to_llvm_alloc(10); // class 64
    EXPECT_EQ(stats().live_bytes, 128);
    EXPECT_EQ(stats().peak_live_bytes, 1024 + 64);
    dualpipe_alloc_reset_peak();
    EXPECT_EQ(stats().peak_live_bytes, 128);
    _mlir_memref_to_llvm_free(b);
    _mlir_memref_to_llvm_free(c);
    EXPECT_EQ(stats().live_bytes, 0);
    // Classes above 4 KiB waste at most 1/16.
    void *big = _mlir_memref_to_llvm_alloc((1 << 20) + 1);
    int64_t live = stats().live_bytes;
    EXPECT_GT(live, int64_t(1) << 20);
    EXPECT_LE(live, (int64_t(1) << 20) + (int64_t(1) << 16));
    _mlir_memref_to_llvm_free(big);
  }).join();
}

// Ranks are threads: a message buffer may be freed by another rank than the
// one that allocated it. The block stays valid and is reused there.
TEST(StepAlloc, BlocksFreedOnAnotherThread) {
  REQUIRE_CACHE();
  void *p = nullptr;
  std::thread([&] {
    p = _mlir_memref_to_llvm_alloc(5000);
    std::memset(p, 1, 5000);
  }).join(); // the allocating thread has exited
  std::thread([&] {
    _mlir_memref_to_llvm_free(p);
    dualpipe_alloc_stats s = stats();
    EXPECT_EQ(s.live_bytes, -int64_t(5120)); // freed here, allocated there
    void *q = _mlir_memref_to_llvm_alloc(5000);
    EXPECT_EQ(q, p); // the freed block, from this thread's cache
    EXPECT_EQ(stats().system_allocations, 0);
    _mlir_memref_to_llvm_free(q);
  }).join();
}

// The local backend runs every step's ranks on fresh threads: what a thread
// cached goes to the process's pool when it exits, and the next step's
// threads take it from there.
TEST(StepAlloc, AnExitedThreadsBlocksServeTheNextThread) {
  REQUIRE_CACHE();
  const size_t bytes = (size_t(7) << 20) + 123; // a class no other test uses
  void *first = nullptr;
  std::thread([&] {
    first = _mlir_memref_to_llvm_alloc(bytes);
    EXPECT_EQ(stats().system_allocations, 1);
    _mlir_memref_to_llvm_free(first);
  }).join();
  std::thread([&] {
    void *again = _mlir_memref_to_llvm_alloc(bytes);
    EXPECT_EQ(again, first);
    EXPECT_EQ(stats().system_allocations, 0);
    _mlir_memref_to_llvm_free(again);
  }).join();
}

TEST(StepAllocDeathTest, AForeignPointerAborts) {
  std::vector<char> buffer(256, 0);
  EXPECT_DEATH(_mlir_memref_to_llvm_free(buffer.data() + 128),
               "not a block of the step heap");
}

} // namespace
