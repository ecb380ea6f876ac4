func.func @m(%x: tensor<4xf32>, %c: i1) -> tensor<4xf32> attributes {dualpipe.model} {
  %r = scf.if %c -> tensor<4xf32> {
    %y = dualpipe.stage_boundary %x : tensor<4xf32>
    scf.yield %y : tensor<4xf32>
  } else {
    scf.yield %x : tensor<4xf32>
  }
  return %r : tensor<4xf32>
}
