/*===- CAbiSmoke.c - The runtime header compiles and links as C -----------===*/

#include "dualpipe/Runtime/Runtime.h"

#include <stddef.h>

/* Returns 0, or the number of the first step that went wrong. */
int dualpipe_test_c_abi_smoke(void) {
  float values[4] = {1.0f, 2.0f, 3.0f, 4.0f};
  int32_t group[1] = {0};
  dualpipe_world *world = dualpipe_world_create_local(1, 1.0);
  if (!world)
    return 1;
  if (dualpipe_world_size(world) != 1)
    return 2;
  if (dualpipe_rt_bind(world, 0) != 0 || dualpipe_rt_rank() != 0)
    return 3;
  dualpipe_rt_begin_action(DUALPIPE_ACTION_F, 0, 0);
  if (dualpipe_rt_allreduce_sum_f32(values, 4, group, 1) != 0)
    return 4;
  if (dualpipe_rt_barrier() != 0)
    return 5;
  dualpipe_rt_end_action();
  dualpipe_rt_unbind();
  if (dualpipe_rt_rank() != -1 || dualpipe_world_failed(world) ||
      dualpipe_world_error(world) != NULL)
    return 6;
  dualpipe_world_destroy(world);
  return 0;
}
