/*===- dualpipe/Runtime/Runtime.h - C ABI of the dualpipe runtime ---------===*
 *
 * The entry points that compiled rank programs and the runner call. Plain C:
 * generated code calls these by name, so names and signatures are stable.
 *
 * A *world* is a set of `size` ranks joined by one transport (`local`: ranks
 * are threads of one process; `mpi`: each rank is a process of an MPI job,
 * see dualpipe_world_create_mpi and docs/runtime.md). Each rank program runs
 * on a thread that is bound to its rank with dualpipe_rt_bind; the
 * dualpipe_rt_* calls act on the calling thread's rank.
 *
 * Errors. Every call that can fail returns 0 on success and non-zero on
 * failure; no C++ exception ever leaves this ABI. A failure on a bound rank
 * (timeout, size mismatch, bad peer, ...) fails the whole world: it is sticky,
 * and from then on every blocked or later send, receive, all-reduce or
 * barrier on every rank returns non-zero at once, so all rank threads finish
 * quickly. dualpipe_world_error gives the first error; dualpipe_rt_last_error
 * gives the calling thread's own last error.
 *
 * No call waits forever: a wait longer than the world's timeout fails with a
 * message that names the rank, the peer, the tag and the current action.
 *
 *===----------------------------------------------------------------------===*/

#ifndef DUALPIPE_RUNTIME_RUNTIME_H
#define DUALPIPE_RUNTIME_RUNTIME_H

#include <stdint.h>

#if defined(_WIN32)
#define DUALPIPE_RT_EXPORT __declspec(dllexport)
#else
#define DUALPIPE_RT_EXPORT __attribute__((visibility("default")))
#endif

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

/* Waits until every rank of the world has called it. */
DUALPIPE_RT_EXPORT int32_t dualpipe_rt_barrier(void);

/* Fails the world from a bound rank, e.g. when a kernel reports an error. */
DUALPIPE_RT_EXPORT void dualpipe_rt_fail(const char *message);

/* The calling thread's rank and world size; -1 and 0 when unbound. */
DUALPIPE_RT_EXPORT int32_t dualpipe_rt_rank(void);
DUALPIPE_RT_EXPORT int32_t dualpipe_rt_size(void);

/* The message of the calling thread's last failed call, or NULL. Set by every
 * failing call, cleared by every later call that returns a status and
 * succeeds (void calls leave it alone). Valid until the thread's next call. */
DUALPIPE_RT_EXPORT const char *dualpipe_rt_last_error(void);

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

/* "cblas" when the GEMM calls above use CBLAS, "loops" when they run the
 * portable loop (built without BLAS, DUALPIPE_GEMM=loops in the
 * environment, or turned off below). */
DUALPIPE_RT_EXPORT const char *dualpipe_rt_gemm_library(void);

/* Turns the BLAS path on (non-zero) or off (0) for the whole process, e.g.
 * to compare against the loop. Returns whether BLAS is now used (always 0
 * in a build without BLAS). Not meant to be called while GEMMs run. */
DUALPIPE_RT_EXPORT int32_t dualpipe_rt_gemm_use_blas(int32_t enable);

/*--- Host side (the runner) --------------------------------------------------*/

typedef struct dualpipe_world dualpipe_world;

/* A world of `size` ranks that are threads of this process. Every wait fails
 * after `timeout_seconds` (finite, > 0). Returns NULL on bad arguments; see
 * dualpipe_rt_last_error. */
DUALPIPE_RT_EXPORT dualpipe_world *dualpipe_world_create_local(
    int32_t size, double timeout_seconds);

/* Non-zero if this runtime was built with the backend `name` ("local",
 * "mpi", "nccl"). */
DUALPIPE_RT_EXPORT int32_t dualpipe_rt_has_backend(const char *name);

/* A world whose ranks are the processes of the MPI job (MPI_COMM_WORLD), one
 * rank per process: this process hosts rank MPI_Comm_rank. Calls
 * MPI_Init_thread the first time. Collective: every process of the job calls
 * it. The thread that created it binds to its rank with
 * dualpipe_rt_bind(world, dualpipe_world_hosted_rank(world)) and makes every
 * later call of that world (MPI is used from one thread). Receives,
 * all-reduces and barriers poll, so a wait longer than `timeout_seconds`
 * fails with the usual message. When the world fails, the first error is sent
 * to the other processes, whose worlds then fail with it (sticky across
 * processes) unless a process is gone: see docs/runtime.md. Returns NULL
 * (see dualpipe_rt_last_error) when MPI is unavailable or was not built. */
DUALPIPE_RT_EXPORT dualpipe_world *dualpipe_world_create_mpi(
    double timeout_seconds);

/* As dualpipe_world_create_mpi, but MPI_COMM_WORLD is cut into consecutive
 * groups of `group_size` processes (ranks 0..g-1, g..2g-1, ...) and the
 * world is this process's group, its ranks numbered from 0 (e.g. one
 * pipeline replica in data parallelism). Collective over MPI_COMM_WORLD. */
DUALPIPE_RT_EXPORT dualpipe_world *dualpipe_world_create_mpi_group(
    int32_t group_size, double timeout_seconds);

/* The rank this process hosts in `world` (MPI), or -1 when the process hosts
 * every rank (local). */
DUALPIPE_RT_EXPORT int32_t dualpipe_world_hosted_rank(
    const dualpipe_world *world);

/* Ends MPI (MPI_Finalize) if the runtime started it; destroy every MPI world
 * first. Returns 0 when there was nothing to do. */
DUALPIPE_RT_EXPORT int32_t dualpipe_mpi_finalize(void);

/* Ends every process of the MPI job with exit code `code` (MPI_Abort), e.g.
 * after a failure was reported; without MPI just exits. Never returns. */
DUALPIPE_RT_EXPORT void dualpipe_mpi_abort(int32_t code);

/* Every rank thread must have finished its calls (joined) before this. */
DUALPIPE_RT_EXPORT void dualpipe_world_destroy(dualpipe_world *world);

DUALPIPE_RT_EXPORT int32_t dualpipe_world_size(const dualpipe_world *world);

/* Binds the calling thread to `rank`. Fails if the thread is already bound
 * or the rank is bound to another thread. */
DUALPIPE_RT_EXPORT int32_t dualpipe_rt_bind(dualpipe_world *world,
                                            int32_t rank);

/* Unbinds the calling thread; actions still open are closed on the timeline
 * and marked unfinished. Does nothing if the thread is not bound. */
DUALPIPE_RT_EXPORT void dualpipe_rt_unbind(void);

/* Reports that `rank` failed (a negative rank means the host itself) and
 * fails the world. `message` says what went wrong; the first failure wins. */
DUALPIPE_RT_EXPORT void dualpipe_world_fail(dualpipe_world *world,
                                            int32_t rank, const char *message);

/* Non-zero once the world has failed. */
DUALPIPE_RT_EXPORT int32_t dualpipe_world_failed(const dualpipe_world *world);

/* The rank whose failure came first (-1 for the host or none). */
DUALPIPE_RT_EXPORT int32_t dualpipe_world_failed_rank(
    const dualpipe_world *world);

/* The first error, or NULL. Valid until the world is destroyed. */
DUALPIPE_RT_EXPORT const char *dualpipe_world_error(
    const dualpipe_world *world);

/* Writes the timeline of every rank as one Chrome trace JSON file (one pid
 * per rank; open it in Perfetto or chrome://tracing). The file is replaced
 * atomically. Best called after the rank threads have finished. */
DUALPIPE_RT_EXPORT int32_t dualpipe_world_write_trace(
    const dualpipe_world *world, const char *path);

/* Keeps at most `events_per_rank` timeline events per rank (default one
 * million, about 100 MB per rank); later ones are dropped and counted in the
 * trace's "otherData". 0 turns recording off. */
DUALPIPE_RT_EXPORT int32_t dualpipe_world_set_trace_limit(
    dualpipe_world *world, int64_t events_per_rank);

/*--- The nccl backend (GPU buffers, one GPU per rank) -------------------------*/

/* As dualpipe_world_create_mpi_group (collective over MPI_COMM_WORLD; 0: one
 * group of every process), but messages and all-reduces move between GPU
 * buffers with NCCL: this process uses GPU number "local rank" (from the
 * launcher: OMPI_COMM_WORLD_LOCAL_RANK, ...), one GPU per rank. Barriers and
 * failure notices go through MPI. Receives, all-reduces and queued
 * transfers are watched: one that waits longer than `timeout_seconds` aborts
 * this rank's NCCL communicators and fails the world with the usual message.
 * Returns NULL (see dualpipe_rt_last_error) when there is no GPU, when the
 * runtime was built without CUDA, NCCL or MPI (the message says which), or
 * when the communicators cannot be made. See docs/runtime.md. */
DUALPIPE_RT_EXPORT dualpipe_world *dualpipe_world_create_nccl(
    int32_t group_size, double timeout_seconds);

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

#endif /* DUALPIPE_RUNTIME_RUNTIME_H */
