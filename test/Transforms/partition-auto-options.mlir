// Options of the automatic partition that are rejected.
// RUN: not dualpipe-opt %s --dualpipe-partition="stages=4 placement=interleaved ranks=2" 2>&1 | FileCheck %s --check-prefix=INTER
// RUN: not dualpipe-opt %s --dualpipe-partition="stages=4 ranks=2" 2>&1 | FileCheck %s --check-prefix=LINR
// RUN: not dualpipe-opt %s --dualpipe-partition="stages=2 device=tpu" 2>&1 | FileCheck %s --check-prefix=DEV
// RUN: not dualpipe-opt %s --dualpipe-partition="stages=2 report=%S/no/such/dir/r.json" 2>&1 | FileCheck %s --check-prefix=FILE

// INTER: the partitioner chooses cuts for one stage per rank (linear) or two (dualpipe, dualpipev); with placement 'interleaved' on 2 ranks, place all 3 cuts with dualpipe.stage_boundary markers
// LINR: with placement 'linear' on 2 ranks, place all 3 cuts
// DEV: unknown device profile 'tpu'; use cpu or h200
// FILE: cannot write the partition report to {{.*}}r.json
func.func @m(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<4xf32> attributes {dualpipe.model} {
  %a = math.exp %x : tensor<4xf32>
  %b = math.exp %a : tensor<4xf32>
  %c = math.exp %b : tensor<4xf32>
  %d = math.exp %c : tensor<4xf32>
  return %d : tensor<4xf32>
}
