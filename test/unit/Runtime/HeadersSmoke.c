/*===- HeadersSmoke.c - StepABI.h and Host.h each stand alone in C --------===*
 *
 * Generated code's header (StepABI.h) and the runner's (Host.h) compile on
 * their own, as C99, and between them declare what Runtime.h did.
 *
 *===----------------------------------------------------------------------===*/

#include "dualpipe/Runtime/StepABI.h"

#include <stddef.h>

typedef void (*entry_fn)(void);

/* Every entry point generated code may call, by address. */
int dualpipe_test_step_abi_declared(void) {
  entry_fn entries[14];
  size_t i;
  entries[0] = (entry_fn)&dualpipe_rt_send;
  entries[1] = (entry_fn)&dualpipe_rt_recv;
  entries[2] = (entry_fn)&dualpipe_rt_begin_action;
  entries[3] = (entry_fn)&dualpipe_rt_end_action;
  entries[4] = (entry_fn)&dualpipe_rt_allreduce_sum_f32;
  entries[5] = (entry_fn)&dualpipe_rt_allreduce_sum_f64;
  entries[6] = (entry_fn)&dualpipe_rt_barrier;
  entries[7] = (entry_fn)&dualpipe_rt_fail;
  entries[8] = (entry_fn)&_mlir_ciface_dualpipe_rt_matmul_f32;
  entries[9] = (entry_fn)&_mlir_ciface_dualpipe_rt_matmul_f64;
  entries[10] = (entry_fn)&dualpipe_rt_stream_ordered;
  entries[11] = (entry_fn)&dualpipe_rt_send_on_stream;
  entries[12] = (entry_fn)&dualpipe_rt_recv_on_stream;
  entries[13] = (entry_fn)&dualpipe_rt_synchronize;
  for (i = 0; i < sizeof entries / sizeof entries[0]; ++i)
    if (!entries[i])
      return (int)i + 1;
  return DUALPIPE_ACTION_PAIR == 4 ? 0 : 100;
}
