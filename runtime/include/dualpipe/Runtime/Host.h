/*===- dualpipe/Runtime/Host.h - The runner's side of the runtime --------===*
 *
 * What a runner (dualpipe-run, the session library, tests) calls: worlds of
 * ranks on a transport (`local`: ranks are threads of one process; `mpi`:
 * each rank is a process of an MPI job; `nccl`: one GPU per process), binding
 * a thread to a rank, failure, traces, MPI start and end, and GEMM settings.
 * Generated code calls only dualpipe/Runtime/StepABI.h.
 *
 * Each rank program runs on a thread that is bound to its rank with
 * dualpipe_rt_bind; the dualpipe_rt_* calls act on the calling thread's rank.
 * dualpipe_world_error gives a world's first error; dualpipe_rt_last_error
 * gives the calling thread's own last error.
 *
 *===----------------------------------------------------------------------===*/

#ifndef DUALPIPE_RUNTIME_HOST_H
#define DUALPIPE_RUNTIME_HOST_H

#include <stdint.h>

#include "dualpipe/Runtime/Export.h"

#ifdef __cplusplus
extern "C" {
#endif

/*--- Rank-thread queries -------------------------------------------------------*/

/* The calling thread's rank and world size; -1 and 0 when unbound. */
DUALPIPE_RT_EXPORT int32_t dualpipe_rt_rank(void);
DUALPIPE_RT_EXPORT int32_t dualpipe_rt_size(void);

/* The message of the calling thread's last failed call, or NULL. Set by every
 * failing call, cleared by every later call that returns a status and
 * succeeds (void calls leave it alone). Valid until the thread's next call. */
DUALPIPE_RT_EXPORT const char *dualpipe_rt_last_error(void);

/*--- GEMM settings -------------------------------------------------------------*/

/* "cblas" when the GEMM calls above use CBLAS, "loops" when they run the
 * portable loop (built without BLAS, DUALPIPE_GEMM=loops in the
 * environment, or turned off below). */
DUALPIPE_RT_EXPORT const char *dualpipe_rt_gemm_library(void);

/* Turns the BLAS path on (non-zero) or off (0) for the whole process, e.g.
 * to compare against the loop. Returns whether BLAS is now used (always 0
 * in a build without BLAS). Not meant to be called while GEMMs run. */
DUALPIPE_RT_EXPORT int32_t dualpipe_rt_gemm_use_blas(int32_t enable);

/* Threads each BLAS call may use, for the whole process (OpenBLAS's
 * openblas_set_num_threads; it overrides OPENBLAS_NUM_THREADS and
 * OMP_NUM_THREADS). Without a call, a GEMM runs on one thread unless one
 * of those variables is set. Returns `threads`, or 0 when `threads` < 1 or
 * the BLAS has no thread control (then calls stay single-threaded or as
 * the BLAS decides). dualpipe-run's --threads calls it. */
DUALPIPE_RT_EXPORT int32_t dualpipe_rt_set_blas_threads(int32_t threads);

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

/* Forgets the events recorded so far on every rank of this process (the
 * limit stays): a long-lived world records one step at a time. */
DUALPIPE_RT_EXPORT int32_t dualpipe_world_clear_trace(dualpipe_world *world);

/* How much of a rank's communication its computation hid, from its
 * timeline (so only while recording, see dualpipe_world_set_trace_limit):
 * each received message's time in flight (the sender started sending to the
 * bytes being in the receiver's buffer) and the part of it during which the
 * receiving rank was inside a compute action; the same for its all-reduces
 * (their duration). Messages of blocking receives, whose send time is not
 * known, are not counted. */
typedef struct dualpipe_comm_summary {
  double transfer_ms, transfer_hidden_ms;
  int64_t messages;
  double allreduce_ms, allreduce_hidden_ms;
  int64_t allreduces;
} dualpipe_comm_summary;

/* Fills `out` for `rank` (of this process: under MPI only the hosted one). */
DUALPIPE_RT_EXPORT int32_t dualpipe_world_comm_summary(
    const dualpipe_world *world, int32_t rank, dualpipe_comm_summary *out);

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

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* DUALPIPE_RUNTIME_HOST_H */
