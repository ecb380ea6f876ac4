#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
#all = affine_map<(d0, d1) -> ()>
#scalar = affine_map<() -> ()>
module {
  func.func @forward(%x: tensor<2x24xf32> {dualpipe.input = "x"}, %w0: tensor<24x48xf32> {dualpipe.param = "fc0.weight"}, %b0: tensor<48xf32> {dualpipe.param = "fc0.bias"}, %w1: tensor<48x48xf32> {dualpipe.param = "fc1.weight"}, %b1: tensor<48xf32> {dualpipe.param = "fc1.bias"}, %w2: tensor<48x48xf32> {dualpipe.param = "fc2.weight"}, %b2: tensor<48xf32> {dualpipe.param = "fc2.bias"}, %w3: tensor<48x48xf32> {dualpipe.param = "fc3.weight"}, %b3: tensor<48xf32> {dualpipe.param = "fc3.bias"}, %w4: tensor<48x16xf32> {dualpipe.param = "fc4.weight"}, %b4: tensor<16xf32> {dualpipe.param = "fc4.bias"}) -> tensor<2x16xf32> attributes {dualpipe.model} {
    %zero = arith.constant 0.0 : f32
    %e0 = tensor.empty() : tensor<2x48xf32>
    %f0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<2x48xf32>) -> tensor<2x48xf32>
    %m0 = linalg.matmul ins(%x, %w0 : tensor<2x24xf32>, tensor<24x48xf32>) outs(%f0 : tensor<2x48xf32>) -> tensor<2x48xf32>
    %a0 = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]} ins(%m0, %b0 : tensor<2x48xf32>, tensor<48xf32>) outs(%e0 : tensor<2x48xf32>) {
    ^bb0(%in: f32, %bb: f32, %out: f32):
      %s0 = arith.addf %in, %bb : f32
      %s = arith.addf %s0, %zero : f32
      %c0 = arith.constant 0.5 : f32
      %c1 = arith.constant 1.0 : f32
      %c2 = arith.constant 0.7978845608028654 : f32
      %c3 = arith.constant 0.044715 : f32
      %x3 = arith.mulf %s, %s : f32
      %x3b = arith.mulf %x3, %s : f32
      %u = arith.mulf %c3, %x3b : f32
      %v = arith.addf %s, %u : f32
      %w = arith.mulf %c2, %v : f32
      %th = math.tanh %w : f32
      %p = arith.addf %c1, %th : f32
      %q = arith.mulf %c0, %s : f32
      %t = arith.mulf %q, %p : f32
      linalg.yield %t : f32
    } -> tensor<2x48xf32>
    %e1 = tensor.empty() : tensor<2x48xf32>
    %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<2x48xf32>) -> tensor<2x48xf32>
    %m1 = linalg.matmul ins(%a0, %w1 : tensor<2x48xf32>, tensor<48x48xf32>) outs(%f1 : tensor<2x48xf32>) -> tensor<2x48xf32>
    %a1 = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]} ins(%m1, %b1 : tensor<2x48xf32>, tensor<48xf32>) outs(%e1 : tensor<2x48xf32>) {
    ^bb0(%in: f32, %bb: f32, %out: f32):
      %s0 = arith.addf %in, %bb : f32
      %s = arith.addf %s0, %zero : f32
      %t = math.tanh %s : f32
      linalg.yield %t : f32
    } -> tensor<2x48xf32>
    %e2 = tensor.empty() : tensor<2x48xf32>
    %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<2x48xf32>) -> tensor<2x48xf32>
    %m2 = linalg.matmul ins(%a1, %w2 : tensor<2x48xf32>, tensor<48x48xf32>) outs(%f2 : tensor<2x48xf32>) -> tensor<2x48xf32>
    %a2 = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]} ins(%m2, %b2 : tensor<2x48xf32>, tensor<48xf32>) outs(%e2 : tensor<2x48xf32>) {
    ^bb0(%in: f32, %bb: f32, %out: f32):
      %s0 = arith.addf %in, %bb : f32
      %s = arith.addf %s0, %zero : f32
      %z = arith.constant 0.0 : f32
      %t = arith.maximumf %in, %z : f32
      linalg.yield %t : f32
    } -> tensor<2x48xf32>
    %e3 = tensor.empty() : tensor<2x48xf32>
    %f3 = linalg.fill ins(%zero : f32) outs(%e3 : tensor<2x48xf32>) -> tensor<2x48xf32>
    %m3 = linalg.matmul ins(%a2, %w3 : tensor<2x48xf32>, tensor<48x48xf32>) outs(%f3 : tensor<2x48xf32>) -> tensor<2x48xf32>
    %a3 = linalg.generic {indexing_maps = [#id, #row, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%m3, %b3, %a0 : tensor<2x48xf32>, tensor<48xf32>, tensor<2x48xf32>) outs(%e3 : tensor<2x48xf32>) {
    ^bb0(%in: f32, %bb: f32, %r: f32, %out: f32):
      %s0 = arith.addf %in, %bb : f32
      %s = arith.addf %s0, %r : f32
      %c0 = arith.constant 0.5 : f32
      %c1 = arith.constant 1.0 : f32
      %c2 = arith.constant 0.7978845608028654 : f32
      %c3 = arith.constant 0.044715 : f32
      %x3 = arith.mulf %s, %s : f32
      %x3b = arith.mulf %x3, %s : f32
      %u = arith.mulf %c3, %x3b : f32
      %v = arith.addf %s, %u : f32
      %w = arith.mulf %c2, %v : f32
      %th = math.tanh %w : f32
      %p = arith.addf %c1, %th : f32
      %q = arith.mulf %c0, %s : f32
      %t = arith.mulf %q, %p : f32
      linalg.yield %t : f32
    } -> tensor<2x48xf32>
    %e4 = tensor.empty() : tensor<2x16xf32>
    %f4 = linalg.fill ins(%zero : f32) outs(%e4 : tensor<2x16xf32>) -> tensor<2x16xf32>
    %m4 = linalg.matmul ins(%a3, %w4 : tensor<2x48xf32>, tensor<48x16xf32>) outs(%f4 : tensor<2x16xf32>) -> tensor<2x16xf32>
    %a4 = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]} ins(%m4, %b4 : tensor<2x16xf32>, tensor<16xf32>) outs(%e4 : tensor<2x16xf32>) {
    ^bb0(%in: f32, %bb: f32, %out: f32):
      %s0 = arith.addf %in, %bb : f32
      %s = arith.addf %s0, %zero : f32
      linalg.yield %s : f32
    } -> tensor<2x16xf32>
    return %a4 : tensor<2x16xf32>
  }
  func.func @loss(%y: tensor<2x16xf32>, %label: tensor<2x16xf32> {dualpipe.label = "y"}) -> tensor<f32> attributes {dualpipe.loss} {
    %zero = arith.constant 0.0 : f32
    %n = arith.constant 32.0 : f32
    %e = tensor.empty() : tensor<f32>
    %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<f32>) -> tensor<f32>
    %sum = linalg.generic {indexing_maps = [#id, #id, #all], iterator_types = ["reduction", "reduction"]} ins(%y, %label : tensor<2x16xf32>, tensor<2x16xf32>) outs(%acc : tensor<f32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %d = arith.subf %a, %b : f32
      %sq = arith.mulf %d, %d : f32
      %r = arith.addf %o, %sq : f32
      linalg.yield %r : f32
    } -> tensor<f32>
    %mean = linalg.generic {indexing_maps = [#scalar, #scalar], iterator_types = []} ins(%sum : tensor<f32>) outs(%e : tensor<f32>) {
    ^bb0(%s: f32, %o: f32):
      %q = arith.divf %s, %n : f32
      linalg.yield %q : f32
    } -> tensor<f32>
    return %mean : tensor<f32>
  }
}
