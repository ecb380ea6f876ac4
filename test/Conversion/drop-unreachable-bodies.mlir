// RUN: dualpipe-opt %s --dualpipe-drop-unreachable-bodies | FileCheck %s

// The rank program (public) calls @stage_fwd, which calls @block: both
// keep their bodies. @model and @stage are named only by the pipeline
// record and the stage's autodiff record, @stage_bwd_unused by nothing:
// they become declarations. A public function keeps its body even when
// nothing calls it; a private one named by a reached op's attribute (here
// a func.constant) is reached.
module {
  func.func private @block(%x: tensor<4xf32>) -> tensor<4xf32> {
    %y = math.tanh %x : tensor<4xf32>
    return %y : tensor<4xf32>
  }
  func.func private @stage_fwd(%x: tensor<4xf32>) -> tensor<4xf32> {
    %y = func.call @block(%x) : (tensor<4xf32>) -> tensor<4xf32>
    return %y : tensor<4xf32>
  }
  func.func private @stage_bwd_unused(%x: tensor<4xf32>) -> tensor<4xf32> {
    %y = func.call @block(%x) : (tensor<4xf32>) -> tensor<4xf32>
    return %y : tensor<4xf32>
  }
  func.func private @stage(%x: tensor<4xf32>) -> tensor<4xf32> attributes {dualpipe.autodiff = #dualpipe.autodiff<forward = @stage_fwd, backward = @stage_bwd_unused, backward_input = @stage_bwd_unused, backward_weight = @stage_bwd_unused>, dualpipe.stage = 0 : i64} {
    %y = func.call @block(%x) : (tensor<4xf32>) -> tensor<4xf32>
    return %y : tensor<4xf32>
  }
  func.func private @model(%x: tensor<4xf32>) -> tensor<4xf32> attributes {dualpipe.model} {
    %y = func.call @block(%x) : (tensor<4xf32>) -> tensor<4xf32>
    return %y : tensor<4xf32>
  }
  func.func private @by_reference(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
  dualpipe.pipeline "linear" ranks 1 stages [@stage] on [0] model @model cuts []
  func.func @dualpipe_rank0(%x: tensor<4xf32>) -> tensor<4xf32> {
    %f = func.constant @by_reference : (tensor<4xf32>) -> tensor<4xf32>
    %y = func.call @stage_fwd(%x) : (tensor<4xf32>) -> tensor<4xf32>
    return %y : tensor<4xf32>
  }
  func.func @unused_entry(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// CHECK-LABEL: func.func private @block(
// CHECK-NEXT: math.tanh
// CHECK-LABEL: func.func private @stage_fwd(
// CHECK-NEXT: call @block
// CHECK: func.func private @stage_bwd_unused(tensor<4xf32>) -> tensor<4xf32>{{$}}
// CHECK: func.func private @stage(tensor<4xf32>) -> tensor<4xf32> attributes {dualpipe.autodiff
// CHECK: func.func private @model(tensor<4xf32>) -> tensor<4xf32> attributes {dualpipe.model}
// CHECK-LABEL: func.func private @by_reference(
// CHECK-NEXT: return
// CHECK: dualpipe.pipeline
// CHECK-LABEL: func.func @dualpipe_rank0(
// CHECK-LABEL: func.func @unused_entry(
// CHECK-NEXT: return
