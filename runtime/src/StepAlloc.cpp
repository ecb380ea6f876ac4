//===- StepAlloc.cpp - the heap of generated CPU code
//----------------------===//
//
// The cpu lowering calls finalize-memref-to-llvm with use-generic-functions
// and use-aligned-alloc, so every memref.alloc / memref.dealloc of a
// compiled step becomes _mlir_memref_to_llvm_aligned_alloc (or
// _mlir_memref_to_llvm_alloc) / _mlir_memref_to_llvm_free, defined here.
//
// Why not malloc: a step allocates the same buffers in the same order every
// step, many of them larger than glibc's mmap threshold, and glibc returns
// those to the kernel at free (munmap, or a heap trim), so every step
// page-faulted its activations in again (about 9,000 faults per step of the
// 8-layer MLP bench, a third of its CPU time; bench/REPORT.md section 4a).
// Here a freed block goes to a per-thread cache of blocks of its rounded
// size and the next allocation of that size takes it back, so from the
// second step on a step maps no memory. Each block has a 64-byte header with
// its size class, which keeps the 64-byte alignment of the block. Ranks are
// threads: a block freed by another thread than the one that allocated it
// goes to the freeing thread's cache. The local backend runs each step's
// ranks on fresh threads, so a thread that exits gives its cache to a
// process-wide pool (a mutex; taken only when a thread's own cache misses),
// where the next step's threads find the blocks. A thread's cache and the
// pool each hold at most DUALPIPE_ALLOC_CACHE_MB MiB (default 4096; 0 turns
// caching off). The sanitizer build (DUALPIPE_SANITIZE)
// bypasses the cache so ASan still sees every use after free.
//
// The per-thread figures (live bytes, their peak, system allocations) are
// what dualpipe-run reports per rank.
//
//===----------------------------------------------------------------------===//

#include "dualpipe/Runtime/Runtime.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace {

constexpr size_t kHeader = 64;     // keeps the block 64-byte aligned
constexpr uint64_t kMagic = 0x64706d656d626c6bull; // "dpmemblk"

struct Header {
  uint64_t magic;
  uint64_t size; // the size class: usable bytes after the header
};

#ifdef DUALPIPE_RT_SANITIZED
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

size_t cacheLimit() {
  static const size_t limit = [] {
    if (kSanitized)
      return size_t(0);
    const char *env = std::getenv("DUALPIPE_ALLOC_CACHE_MB");
    if (!env || !*env)
      return size_t(4096) << 20;
    char *end = nullptr;
    unsigned long long mb = std::strtoull(env, &end, 10);
    if (end == env || *end)
      return size_t(4096) << 20;
    return size_t(mb) << 20;
  }();
  return limit;
}

/// Size classes: multiples of 64 bytes up to 4 KiB, then 16 classes per
/// power of two (at most 1/16 = 6 % wasted), so the buffers of one step
/// land in few classes and a class's blocks are interchangeable.
size_t sizeClass(size_t bytes) {
  if (bytes <= 4096)
    return std::max<size_t>(64, (bytes + 63) & ~size_t(63));
  unsigned top = 63 - __builtin_clzll(bytes);
  size_t step = size_t(1) << (top - 4);
  return (bytes + step - 1) & ~(step - 1);
}

using FreeLists = std::unordered_map<size_t, std::vector<Header *>>;

/// Takes a block of class `size` from `lists`, or null.
Header *take(FreeLists &lists, size_t &cached, size_t size) {
  auto it = lists.find(size);
  if (it == lists.end() || it->second.empty())
    return nullptr;
  Header *block = it->second.back();
  it->second.pop_back();
  cached -= size;
  return block;
}

/// The process's pool: what threads gave back when they exited (the local
/// backend runs each step's ranks on fresh threads) or could not keep.
/// Never destroyed: threads may still free blocks while the process exits.
struct Pool {
  std::mutex mutex;
  FreeLists lists;
  size_t cached = 0;
};
Pool &pool() {
  static Pool *p = new Pool();
  return *p;
}

/// Gives `block` to the pool, or back to the system beyond the bound.
void toPool(Header *block) {
  Pool &p = pool();
  if (cacheLimit()) {
    std::lock_guard<std::mutex> lock(p.mutex);
    if (p.cached + block->size <= cacheLimit()) {
      p.lists[block->size].push_back(block);
      p.cached += block->size;
      return;
    }
  }
  std::free(block);
}

/// 0 before the calling thread's heap exists, 1 while it does, 2 after its
/// destructor ran (trivially destructible, so valid during thread exit).
thread_local int heapState = 0;

struct ThreadHeap {
  FreeLists lists;
  size_t cached = 0;
  dualpipe_alloc_stats stats{};

  ~ThreadHeap() {
    for (auto &entry : lists)
      for (Header *h : entry.second)
        toPool(h);
    heapState = 2;
  }
};

/// The calling thread's heap, or null once it has been destroyed (blocks
/// freed by later thread-exit code go to the pool).
ThreadHeap *heap() {
  if (heapState == 2)
    return nullptr;
  static thread_local ThreadHeap instance;
  heapState = 1;
  return &instance;
}

void *allocate(size_t bytes) {
  size_t size = sizeClass(bytes);
  ThreadHeap *h = heap();
  Header *block = h ? take(h->lists, h->cached, size) : nullptr;
  if (!block && cacheLimit()) {
    Pool &p = pool();
    std::lock_guard<std::mutex> lock(p.mutex);
    block = take(p.lists, p.cached, size);
  }
  if (!block) {
    if (size > SIZE_MAX - kHeader)
      return nullptr;
    block = static_cast<Header *>(std::aligned_alloc(kHeader, size + kHeader));
    if (!block)
      return nullptr;
    block->magic = kMagic;
    block->size = size;
    if (h) {
      ++h->stats.system_allocations;
      h->stats.system_bytes += int64_t(size);
    }
  }
  if (h) {
    ++h->stats.allocations;
    h->stats.live_bytes += int64_t(size);
    h->stats.peak_live_bytes =
        std::max(h->stats.peak_live_bytes, h->stats.live_bytes);
  }
  return reinterpret_cast<char *>(block) + kHeader;
}

void release(void *ptr) {
  if (!ptr)
    return;
  Header *block =
      reinterpret_cast<Header *>(static_cast<char *>(ptr) - kHeader);
  if (block->magic != kMagic) {
    // Not ours: generated code frees only what it allocated, so this is
    // memory corruption; stop rather than corrupt the heap further.
    std::fprintf(stderr, "dualpipe runtime: _mlir_memref_to_llvm_free(%p): "
                         "not a block of the step heap (its header is "
                         "overwritten); aborting\n", ptr);
    std::abort();
  }
  size_t size = block->size;
  ThreadHeap *h = heap();
  if (h)
    h->stats.live_bytes -= int64_t(size);
  if (h && h->cached + size <= cacheLimit()) {
    h->lists[size].push_back(block);
    h->cached += size;
    return;
  }
  toPool(block); // frees it when the pool is full (always with no cache)
}

} // namespace

extern "C" {

DUALPIPE_RT_EXPORT void *_mlir_memref_to_llvm_alloc(size_t size) {
  return allocate(size);
}

DUALPIPE_RT_EXPORT void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment,
                                                            size_t size) {
  // Blocks are 64-byte aligned; a larger alignment over-allocates and is
  // not supported by the header scheme (the lowering never asks for it:
  // memref.alloc's alignment attribute is at most 64 in dualpipe's IR).
  if (alignment > kHeader || (alignment & (alignment - 1)))
    return nullptr;
  return allocate(size);
}

DUALPIPE_RT_EXPORT void _mlir_memref_to_llvm_free(void *ptr) { release(ptr); }

DUALPIPE_RT_EXPORT void dualpipe_alloc_thread_stats(dualpipe_alloc_stats *out) {
  if (!out)
    return;
  ThreadHeap *h = heap();
  *out = h ? h->stats : dualpipe_alloc_stats{};
  out->cache_limit_bytes = int64_t(cacheLimit());
}

DUALPIPE_RT_EXPORT void dualpipe_alloc_reset_peak(void) {
  if (ThreadHeap *h = heap())
    h->stats.peak_live_bytes = h->stats.live_bytes;
}

} // extern "C"
