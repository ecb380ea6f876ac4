// RUN: dualpipe-opt %s --dualpipe-partition --dualpipe-autodiff=loss=mse | FileCheck %s

// Max-reduction (softmax stabilisation): the gradient goes to the first
// maximal element of each row. An i64 min-reduction finds its index (5,
// the row length, means "the init won"); a parallel generic routes dR there.

#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @m(%w: tensor<3x5xf64> {dualpipe.param = "w"}) -> tensor<3xf64> attributes {dualpipe.model} {
  %ninf = arith.constant 0xFFF0000000000000 : f64
  %e = tensor.empty() : tensor<3xf64>
  %f = linalg.fill ins(%ninf : f64) outs(%e : tensor<3xf64>) -> tensor<3xf64>
  %m = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]} ins(%w : tensor<3x5xf64>) outs(%f : tensor<3xf64>) {
  ^bb0(%a: f64, %o: f64):
    %r = arith.maximumf %o, %a : f64
    linalg.yield %r : f64
  } -> tensor<3xf64>
  return %m : tensor<3xf64>
}

// CHECK-LABEL: func.func @m_stage0_bwd_w(
// CHECK-SAME: %[[W:[a-z0-9]+]]: tensor<3x5xf64> {dualpipe.wsaved}, %{{[a-z0-9]+}}: tensor<3xf64> {dualpipe.wsaved}, %[[R:[a-z0-9]+]]: tensor<3xf64> {dualpipe.wsaved}
// CHECK: %[[DR:[0-9]+]] = linalg.generic {{{.*}}iterator_types = ["parallel"]}
// CHECK: %[[FIVE:.*]] = arith.constant 5 : i64
// CHECK: %[[INIT:.*]] = linalg.fill ins(%[[FIVE]] : i64) outs(%{{.*}} : tensor<3xi64>)
// CHECK: %[[ARG:.*]] = linalg.generic {{{.*}}iterator_types = ["parallel", "reduction"]} ins(%[[W]], %[[R]] : tensor<3x5xf64>, tensor<3xf64>) outs(%[[INIT]] : tensor<3xi64>)
// CHECK: arith.cmpf oeq
// CHECK: arith.minsi
// CHECK: %[[DW:.*]] = linalg.generic {{{.*}}iterator_types = ["parallel", "parallel"]} ins(%[[DR]], %[[ARG]] : tensor<3xf64>, tensor<3xi64>) outs(%{{.*}} : tensor<3x5xf64>)
// CHECK: arith.cmpi eq
// CHECK: arith.select
// CHECK: return %[[DW]]
