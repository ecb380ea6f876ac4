/*===- ToyStep.c - A hand-written 2-rank training step for SessionTests ---===*
 *
 * What dualpipe-compile would emit for a two-stage model, written by hand:
 * the packed ABI (void f(void **args), args[i] a memref descriptor), rank 0
 * the first stage, rank 1 the second, talking through dualpipe_rt_send/recv,
 * each action marked. With M = 4 micro-batches x_m (3 values each) and
 * labels t_m:
 *
 *   stage 0 (rank 0):  h = w0 * x_m                 (elementwise)
 *   stage 1 (rank 1):  s = w1 . h,  loss_m = (s - t_m)^2 / 2
 *   gradients (means over the micro-batches):
 *     dw1 = sum_m (s - t_m) h / M,  dw0 = sum_m (s - t_m) w1 * x_m / M
 *
 * TOY_HANG in the environment: rank 0 never sends micro-batch 2's
 * activation and returns after its forwards, so rank 1's receive (and only
 * it) times out. Built three ways: plain, with
 * an SGD optimizer entry point (TOY_OPTIMIZER), without the ABI text
 * (TOY_NO_ABI).
 *
 *===----------------------------------------------------------------------===*/

#include "dualpipe/Runtime/StepABI.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define M 4
#define D 3

typedef struct {
  float *allocated, *aligned;
  int64_t offset;
} Descriptor;

enum { W0, W1, X, T, LOSSES, G0, G1 };

static float *at(void **args, int i) {
  Descriptor *d = (Descriptor *)args[i];
  return d->aligned + d->offset;
}

static void zero(void **args) {
  memset(at(args, LOSSES), 0, M * sizeof(float));
  memset(at(args, G0), 0, D * sizeof(float));
  memset(at(args, G1), 0, D * sizeof(float));
}

void toy_rank0_packed(void **args) {
  const float *w0 = at(args, W0), *x = at(args, X);
  float *g0 = at(args, G0);
  float h[D], dh[D];
  int m, i, hang = getenv("TOY_HANG") != NULL;
  zero(args);
  for (m = 0; m < M; ++m) {
    dualpipe_rt_begin_action(DUALPIPE_ACTION_F, 0, m);
    for (i = 0; i < D; ++i)
      h[i] = w0[i] * x[m * D + i];
    if (!(hang && m == 2) && dualpipe_rt_send(1, m, h, sizeof h) != 0) {
      dualpipe_rt_end_action();
      return;
    }
    dualpipe_rt_end_action();
  }
  if (hang)
    return; /* only rank 1 waits, so only its receive times out */
  for (m = 0; m < M; ++m) {
    dualpipe_rt_begin_action(DUALPIPE_ACTION_B, 0, m);
    if (dualpipe_rt_recv(1, 100 + m, dh, sizeof dh) != 0) {
      dualpipe_rt_end_action();
      return;
    }
    for (i = 0; i < D; ++i)
      g0[i] += dh[i] * x[m * D + i] / M;
    dualpipe_rt_end_action();
  }
}

void toy_rank1_packed(void **args) {
  const float *w1 = at(args, W1), *t = at(args, T);
  float *losses = at(args, LOSSES), *g1 = at(args, G1);
  float h[D], dh[D];
  int m, i;
  zero(args);
  for (m = 0; m < M; ++m) {
    float s = 0, e;
    dualpipe_rt_begin_action(DUALPIPE_ACTION_F, 1, m);
    if (dualpipe_rt_recv(0, m, h, sizeof h) != 0) {
      dualpipe_rt_end_action();
      return;
    }
    for (i = 0; i < D; ++i)
      s += w1[i] * h[i];
    e = s - t[m];
    losses[m] = 0.5f * e * e;
    dualpipe_rt_end_action();
    dualpipe_rt_begin_action(DUALPIPE_ACTION_B, 1, m);
    for (i = 0; i < D; ++i) {
      g1[i] += e * h[i] / M;
      dh[i] = e * w1[i];
    }
    if (dualpipe_rt_send(0, 100 + m, dh, sizeof dh) != 0) {
      dualpipe_rt_end_action();
      return;
    }
    dualpipe_rt_end_action();
  }
}

/* Both stages on one rank, in the same order of operations. */
void toy_reference_packed(void **args) {
  const float *w0 = at(args, W0), *w1 = at(args, W1), *x = at(args, X),
              *t = at(args, T);
  float *losses = at(args, LOSSES), *g0 = at(args, G0), *g1 = at(args, G1);
  int m, i;
  zero(args);
  for (m = 0; m < M; ++m) {
    float h[D], s = 0, e;
    for (i = 0; i < D; ++i)
      h[i] = w0[i] * x[m * D + i];
    for (i = 0; i < D; ++i)
      s += w1[i] * h[i];
    e = s - t[m];
    losses[m] = 0.5f * e * e;
    for (i = 0; i < D; ++i) {
      g1[i] += e * h[i] / M;
      g0[i] += e * w1[i] * x[m * D + i] / M;
    }
  }
}

#define TOY_ARGS                                                              \
  "(param w0 f32[3], param w1 f32[3], input x f32[4x3], label t f32[4], "     \
  "losses losses f32[4], grad w0 f32[3], grad w1 f32[3])"

#ifdef TOY_OPTIMIZER
/* SGD as the compiled optimizer: w -= lr * g; args w0, w1, g0, g1, [lr, t]. */
void toy_sgd_packed(void **args) {
  const float *scalars = at(args, 4);
  int p, i;
  for (p = 0; p < 2; ++p)
    for (i = 0; i < D; ++i)
      at(args, p)[i] -= scalars[0] * at(args, 2 + p)[i];
}
#define TOY_OPTIMIZER_ABI                                                     \
  ";toy_sgd_packed(param w0 f32[3], param w1 f32[3], grad w0 f32[3], grad "   \
  "w1 f32[3], scalars step f32[2])"
#else
#define TOY_OPTIMIZER_ABI ""
#endif

#ifndef TOY_NO_ABI
const char dualpipe_step_abi[] = "toy_rank0_packed" TOY_ARGS
                                 ";toy_rank1_packed" TOY_ARGS
                                 ";toy_reference_packed" TOY_ARGS
                                 TOY_OPTIMIZER_ABI;
#endif
