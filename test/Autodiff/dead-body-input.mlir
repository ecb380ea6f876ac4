// RUN: dualpipe-opt %s --dualpipe-partition --dualpipe-autodiff=loss=mse | FileCheck %s

// Found by dualpipe-fuzz-frontend: the bias %b feeds only dead code in the
// body, so its gradient is zero and the adjoint generic's body reads none
// of its inputs. Pruning them all left only the output's (d0, d1) -> (d1)
// map, which cannot give d0's bound, and autodiff produced a
// linalg.generic that does not verify. The first input stays for its map.
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
func.func @m(%x: tensor<2x4xf32> {dualpipe.input = "x"},
             %b: tensor<4xf32> {dualpipe.param = "b"}) -> tensor<2x4xf32> attributes {dualpipe.model} {
  %e = tensor.empty() : tensor<2x4xf32>
  %y = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %b : tensor<2x4xf32>, tensor<4xf32>) outs(%e : tensor<2x4xf32>) {
  ^bb0(%in: f32, %bb: f32, %o: f32):
    %dead = arith.addf %in, %bb : f32
    %t = math.tanh %in : f32
    linalg.yield %t : f32
  } -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// The gradient of %b: a sum over d0 of nothing, the first input kept for d0.
// CHECK-LABEL: func.func @m_stage0_bwd(
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #{{.*}}], iterator_types = ["reduction", "parallel"]} ins(%{{.*}} : tensor<2x4xf32>) outs(%{{.*}} : tensor<4xf32>)
// CHECK-NEXT: ^bb0(%{{.*}}: f32, %[[ACC:.*]]: f32):
// CHECK-NEXT: linalg.yield %[[ACC]] : f32
