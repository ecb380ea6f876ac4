/*===- dualpipe/Runtime/StepABI.h - What generated step code calls -------===*
 *
 * Exactly the entry points that compiled rank programs (step.so) call, by
 * name: point-to-point messages, action markers, all-reduce, barrier,
 * failure, the GEMMs, and the stream forms of send/receive for the cuda
 * target. Plain C; names and signatures are stable (the compiler declares
 * them from one table). The runner's side (worlds, binding, traces, MPI) is
 * in dualpipe/Runtime/Host.h; dualpipe/Runtime/Runtime.h includes both.
 *
 * Every call acts on the calling thread's rank (bound with dualpipe_rt_bind)
 * and returns 0 on success, non-zero on failure; no C++ exception ever
 * leaves this ABI. A failure (timeout, size mismatch, bad peer, ...) fails
 * the whole world: it is sticky, and from then on every blocked or later
 * send, receive, all-reduce or barrier on every rank returns non-zero at
 * once. No call waits forever: a wait longer than the world's timeout fails
 * with a message that names the rank, the peer, the tag and the current
 * action (stage and micro-batch).
 *
 *===----------------------------------------------------------------------===*/

#ifndef DUALPIPE_RUNTIME_STEPABI_H
#define DUALPIPE_RUNTIME_STEPABI_H

#include <stdint.h>
#include <stddef.h>

#include "dualpipe/Runtime/Export.h"

#ifdef __cplusplus
extern "C" {
#endif

/*--- Actions ---------------------------------------------------------------*/

/* The kind of a compute action, as passed to dualpipe_rt_begin_action. */
typedef enum dualpipe_action_kind {
  DUALPIPE_ACTION_F = 0,    /* forward */
  DUALPIPE_ACTION_B = 1,    /* full backward (input and weight gradients) */
  DUALPIPE_ACTION_I = 2,    /* backward-input */
  DUALPIPE_ACTION_W = 3,    /* backward-weight */
  DUALPIPE_ACTION_PAIR = 4, /* an overlapped forward/backward pair */
} dualpipe_action_kind;

/*--- Called by generated rank programs (the thread must be bound) -----------*/

/* Sends `bytes` bytes to `peer` with `tag`. Messages are matched by (source,
 * destination, tag); each directed link is FIFO. The local transport copies
 * the data and returns at once (eager send). */
DUALPIPE_RT_EXPORT int32_t dualpipe_rt_send(int32_t peer, int64_t tag,
                                            const void *data, int64_t bytes);

/* Receives the next message from `peer` with `tag` into `data`. `bytes` must
 * equal the size that was sent. On failure `data` is zero-filled. */
DUALPIPE_RT_EXPORT int32_t dualpipe_rt_recv(int32_t peer, int64_t tag,
                                            void *data, int64_t bytes);

/* Posts a receive of the next message from `peer` with `tag` into `data`
 * and returns at once with a request for dualpipe_rt_wait, or -1 when the
 * world has failed or the call is wrong (see dualpipe_rt_last_error). The
 * message may land in `data` at any time until the wait returns (on the
 * local backend the sender copies it in while this rank computes; on MPI it
 * is an MPI_Irecv completed by the transport's progress thread): do not read
 * or write the buffer before. Receives posted on one (peer, tag) take its
 * messages in posting order. */
DUALPIPE_RT_EXPORT int64_t dualpipe_rt_irecv(int32_t peer, int64_t tag,
                                             void *data, int64_t bytes);

/* Waits until the posted receive `request` holds its message (or the
 * started all-reduce `request` has its sum). Every request is waited for
 * exactly once. On failure the buffer is zero-filled. */
DUALPIPE_RT_EXPORT int32_t dualpipe_rt_wait(int64_t request);

/* Marks the start and end of a compute action on the calling rank; they
 * label the timeline and the error messages. Actions nest (an overlapped
 * pair may contain its F and B). A negative stage or micro-batch means
 * "not applicable". Without a bound thread these do nothing. */
DUALPIPE_RT_EXPORT void dualpipe_rt_begin_action(int32_t kind, int32_t stage,
                                                 int32_t microbatch);
DUALPIPE_RT_EXPORT void dualpipe_rt_end_action(void);

/* In-place sum over an explicit group of ranks (e.g. the two ranks holding
 * mirror copies of a stage). Every rank of the group calls it with the same
 * set of ranks (in any order) and the same count; the calling rank must be
 * in the group. The sum is taken in ascending rank order, so every member
 * gets bitwise the same result. */
DUALPIPE_RT_EXPORT int32_t dualpipe_rt_allreduce_sum_f32(float *data,
                                                         int64_t count,
                                                         const int32_t *ranks,
                                                         int32_t nranks);
DUALPIPE_RT_EXPORT int32_t dualpipe_rt_allreduce_sum_f64(double *data,
                                                         int64_t count,
                                                         const int32_t *ranks,
                                                         int32_t nranks);

/* Starts the same sum without waiting for it and returns a request for
 * dualpipe_rt_wait (-1 when the call is wrong or the world failed; see
 * dualpipe_rt_last_error). Members match by `tag` (0 <= tag < 2^20, the
 * same on every member for one sum), not by the order of their calls. Each
 * member's buffer goes to the others at once and theirs are received while
 * it computes; the wait adds them up (ascending rank order: bitwise the
 * blocking call's result) into `data`, which must not be touched before. */
DUALPIPE_RT_EXPORT int64_t dualpipe_rt_iallreduce_sum_f32(
    float *data, int64_t count, const int32_t *ranks, int32_t nranks,
    int64_t tag);
DUALPIPE_RT_EXPORT int64_t dualpipe_rt_iallreduce_sum_f64(
    double *data, int64_t count, const int32_t *ranks, int32_t nranks,
    int64_t tag);

/* Waits until every rank of the world has called it. */
DUALPIPE_RT_EXPORT int32_t dualpipe_rt_barrier(void);

/* Fails the world from a bound rank, e.g. when a kernel reports an error. */
DUALPIPE_RT_EXPORT void dualpipe_rt_fail(const char *message);

/*--- Heap (called by generated CPU code) -------------------------------------*/

/* The cpu lowering turns memref.alloc / memref.dealloc into these (upstream
 * finalize-memref-to-llvm with use-generic-functions). Blocks are 64-byte
 * aligned and cached per thread by size class, so a step that allocates the
 * same buffers every step maps no memory after its first step
 * (runtime/src/StepAlloc.cpp; DUALPIPE_ALLOC_CACHE_MB bounds a thread's
 * cache, 0 turns it off). A pointer not from these aborts the process. */
DUALPIPE_RT_EXPORT void *_mlir_memref_to_llvm_alloc(size_t size);
DUALPIPE_RT_EXPORT void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment,
                                                            size_t size);
DUALPIPE_RT_EXPORT void _mlir_memref_to_llvm_free(void *ptr);

/* What the calling thread's step heap did: bytes in size classes. */
typedef struct dualpipe_alloc_stats {
  int64_t allocations;        /* calls of the alloc functions */
  int64_t system_allocations; /* of those, blocks taken from the system */
  int64_t system_bytes;       /* bytes of those blocks */
  int64_t live_bytes;         /* allocated and not yet freed by this thread */
  int64_t peak_live_bytes;    /* the largest live_bytes since the reset */
  int64_t cache_limit_bytes;  /* a thread's cache bound; 0: no cache (the
                                 sanitizer build, DUALPIPE_ALLOC_CACHE_MB=0) */
} dualpipe_alloc_stats;
DUALPIPE_RT_EXPORT void dualpipe_alloc_thread_stats(dualpipe_alloc_stats *out);
/* Sets the calling thread's peak to its current live bytes. */
DUALPIPE_RT_EXPORT void dualpipe_alloc_reset_peak(void);

/*--- GEMM (called by generated CPU code) -------------------------------------*/

/* An MLIR unranked memref as the C interface passes it (a function declared
 * with `llvm.emit_c_interface` receives a pointer to this): the rank and a
 * pointer to the ranked descriptor
 *   { T *allocated; T *aligned; int64_t offset;
 *     int64_t sizes[rank]; int64_t strides[rank]; }
 * (strides and offset in elements). */
typedef struct dualpipe_unranked_memref {
  int64_t rank;
  void *descriptor;
} dualpipe_unranked_memref;

/* C += op(A) * op(B), as linalg.matmul (rank 2: A MxK, B KxN, C MxN) and
 * linalg.batch_matmul (rank 3, a leading batch dimension on all three)
 * define it: the old C is accumulated into (beta = 1). op(X) is X, or its
 * transpose (last two dimensions) when transpose_x is non-zero; then A is
 * stored KxM, B NxK. Any strides and offsets: views BLAS cannot read in
 * place are copied. The names carry MLIR's `_mlir_ciface_` prefix because
 * the compiler declares them `dualpipe_rt_matmul_f32/f64` with
 * `llvm.emit_c_interface`. Returns 0, or non-zero when the shapes do not
 * agree; then the calling rank fails its world (dualpipe_rt_fail). A success
 * leaves dualpipe_rt_last_error alone. BLAS runs one thread per call unless
 * OPENBLAS_NUM_THREADS (or GOTO_NUM_THREADS, OMP_NUM_THREADS) is set. See
 * docs/runtime.md. */
DUALPIPE_RT_EXPORT int32_t _mlir_ciface_dualpipe_rt_matmul_f32(
    const dualpipe_unranked_memref *a, const dualpipe_unranked_memref *b,
    const dualpipe_unranked_memref *c, int32_t transpose_a,
    int32_t transpose_b);
DUALPIPE_RT_EXPORT int32_t _mlir_ciface_dualpipe_rt_matmul_f64(
    const dualpipe_unranked_memref *a, const dualpipe_unranked_memref *b,
    const dualpipe_unranked_memref *c, int32_t transpose_a,
    int32_t transpose_b);

/* C = op(A) * op(B) (beta = 0: C's old contents are not read), otherwise as
 * above: what a linalg.fill of zero followed by the matmul computes, without
 * the fill (--dualpipe-lower-gemm-to-runtime folds the fill into the call). */
DUALPIPE_RT_EXPORT int32_t _mlir_ciface_dualpipe_rt_matmul_into_f32(
    const dualpipe_unranked_memref *a, const dualpipe_unranked_memref *b,
    const dualpipe_unranked_memref *c, int32_t transpose_a,
    int32_t transpose_b);
DUALPIPE_RT_EXPORT int32_t _mlir_ciface_dualpipe_rt_matmul_into_f64(
    const dualpipe_unranked_memref *a, const dualpipe_unranked_memref *b,
    const dualpipe_unranked_memref *c, int32_t transpose_a,
    int32_t transpose_b);

/*--- Stream forms (the cuda target; GPU buffers) ------------------------------*/

/* Non-zero when the calling thread's world queues transfers on GPU streams
 * (nccl): dualpipe_rt_send_on_stream and _recv_on_stream then return before
 * the bytes move. 0 for local and mpi worlds, and when unbound. */
DUALPIPE_RT_EXPORT int32_t dualpipe_rt_stream_ordered(void);

/* Queues a send (receive) that runs after the work queued on `stream` (a
 * cudaStream_t) so far; for a receive, work queued on `stream` afterwards
 * sees the data. Only for stream-ordered worlds. The send's buffer must not
 * be written until dualpipe_rt_synchronize returns. */
DUALPIPE_RT_EXPORT int32_t dualpipe_rt_send_on_stream(int32_t peer,
                                                      int64_t tag,
                                                      const void *data,
                                                      int64_t bytes,
                                                      void *stream);
DUALPIPE_RT_EXPORT int32_t dualpipe_rt_recv_on_stream(int32_t peer,
                                                      int64_t tag, void *data,
                                                      int64_t bytes,
                                                      void *stream);

/* Waits until every transfer the calling rank queued has finished (at most
 * the world's timeout); returns at once on worlds that queue nothing. */
DUALPIPE_RT_EXPORT int32_t dualpipe_rt_synchronize(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* DUALPIPE_RUNTIME_STEPABI_H */
