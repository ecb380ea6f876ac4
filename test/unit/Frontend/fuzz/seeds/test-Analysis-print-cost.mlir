#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
#one = affine_map<(d0) -> (d0)>
#all = affine_map<(d0, d1) -> ()>
module {
  func.func @m(%x: tensor<4x8xf32> {dualpipe.input = "x"}, %ids: tensor<8xi64> {dualpipe.input = "ids"},
               %w: tensor<8x16xf32> {dualpipe.param = "w"}, %b: tensor<16xf32> {dualpipe.param = "b"},
               %table: tensor<2x8xf32> {dualpipe.param = "table"}) -> (tensor<4x16xf32>, tensor<8xf32>) attributes {dualpipe.model} {
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty() : tensor<4x16xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
    %m = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%f : tensor<4x16xf32>) -> tensor<4x16xf32>
    %h = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]} ins(%m, %b : tensor<4x16xf32>, tensor<16xf32>) outs(%e : tensor<4x16xf32>) {
    ^bb0(%a: f32, %c: f32, %o: f32):
      %s = arith.addf %a, %c : f32
      linalg.yield %s : f32
    } -> tensor<4x16xf32>
    %e8 = tensor.empty() : tensor<8xf32>
    %g = linalg.generic {indexing_maps = [#one, #one], iterator_types = ["parallel"]} ins(%ids : tensor<8xi64>) outs(%e8 : tensor<8xf32>) {
    ^bb0(%i: i64, %o: f32):
      %r = arith.index_cast %i : i64 to index
      %c0 = arith.constant 0 : index
      %v = tensor.extract %table[%c0, %r] : tensor<2x8xf32>
      linalg.yield %v : f32
    } -> tensor<8xf32>
    %t = math.exp %h : tensor<4x16xf32>
    %y = arith.addf %t, %h : tensor<4x16xf32>
    return %y, %g : tensor<4x16xf32>, tensor<8xf32>
  }
  func.func @loss(%y: tensor<4x16xf32>, %g: tensor<8xf32>, %label: tensor<4x16xf32> {dualpipe.label = "y"}) -> tensor<f32> attributes {dualpipe.loss} {
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty() : tensor<f32>
    %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<f32>) -> tensor<f32>
    %sum = linalg.generic {indexing_maps = [#id, #all], iterator_types = ["reduction", "reduction"]} ins(%y : tensor<4x16xf32>) outs(%acc : tensor<f32>) {
    ^bb0(%a: f32, %o: f32):
      %r = arith.addf %o, %a : f32
      linalg.yield %r : f32
    } -> tensor<f32>
    return %sum : tensor<f32>
  }
}
