/*===- HostSmoke.c - Host.h stands alone in C -----------------------------===*/

#include "dualpipe/Runtime/Host.h"

#include <stddef.h>

/* A world made, bound and destroyed with Host.h alone. */
int dualpipe_test_host_header(void) {
  dualpipe_world *world = dualpipe_world_create_local(2, 1.0);
  if (!world || dualpipe_world_size(world) != 2)
    return 1;
  if (dualpipe_rt_bind(world, 1) != 0 || dualpipe_rt_rank() != 1 ||
      dualpipe_rt_size() != 2)
    return 2;
  dualpipe_rt_unbind();
  if (!dualpipe_rt_has_backend("local") || !dualpipe_rt_gemm_library())
    return 3;
  dualpipe_world_destroy(world);
  return 0;
}
