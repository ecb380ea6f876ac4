//===- DualPipeAttrs.td - the dualpipe vocabulary ----------*- tablegen -*-===//
//
// The words of the domain, defined once: where stages run (placement), what
// an action computes (F, B, I, W), what a message carries (an activation or
// a gradient), which algorithm a schedule came from, and the functions
// autodiff derives from a stage. Ops use them as attributes; passes take
// them as options.
//
//===----------------------------------------------------------------------===//
#ifndef DUALPIPE_ATTRS
#define DUALPIPE_ATTRS

include "dualpipe/Dialect/DualPipe/IR/DualPipeDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def DualPipe_Placement : I32EnumAttr<"Placement",
    "the rule that maps a pipeline's stages to ranks", [
      I32EnumAttrCase<"Linear", 0, "linear">,
      I32EnumAttrCase<"Interleaved", 1, "interleaved">,
      I32EnumAttrCase<"DualPipe", 2, "dualpipe">,
      I32EnumAttrCase<"DualPipeV", 3, "dualpipev">,
    ]> {
  let cppNamespace = "::dualpipe";
  let genSpecializedAttr = 0;
}
def DualPipe_PlacementAttr
    : EnumAttr<DualPipe_Dialect, DualPipe_Placement, "placement">;

def DualPipe_ActionKind : I32EnumAttr<"ActionKind",
    "what one compute action computes", [
      I32EnumAttrCase<"Forward", 0, "F">,
      I32EnumAttrCase<"Backward", 1, "B">,
      I32EnumAttrCase<"BackwardInput", 2, "I">,
      I32EnumAttrCase<"BackwardWeight", 3, "W">,
    ]> {
  let cppNamespace = "::dualpipe";
  let genSpecializedAttr = 0;
}
def DualPipe_ActionKindAttr
    : EnumAttr<DualPipe_Dialect, DualPipe_ActionKind, "action">;

def DualPipe_Payload : I32EnumAttr<"Payload",
    "what a message between stages carries", [
      I32EnumAttrCase<"Activation", 0, "activation">,
      I32EnumAttrCase<"Gradient", 1, "gradient">,
    ]> {
  let cppNamespace = "::dualpipe";
  let genSpecializedAttr = 0;
}
def DualPipe_PayloadAttr
    : EnumAttr<DualPipe_Dialect, DualPipe_Payload, "payload">;

def DualPipe_ScheduleKind : I32EnumAttr<"ScheduleKind",
    "the algorithm a schedule came from", [
      I32EnumAttrCase<"GPipe", 0, "gpipe">,
      I32EnumAttrCase<"OneFOneB", 1, "1f1b">,
      I32EnumAttrCase<"Interleaved1F1B", 2, "interleaved">,
      I32EnumAttrCase<"ZBH1", 3, "zb1p">,
      I32EnumAttrCase<"ZBV", 4, "zbv">,
      I32EnumAttrCase<"DualPipe", 5, "dualpipe">,
      I32EnumAttrCase<"DualPipeV", 6, "dualpipev">,
      I32EnumAttrCase<"LoopedBFS", 7, "loopedbfs">,
      I32EnumAttrCase<"InterleavedZB", 8, "interleaved-zb">,
      I32EnumAttrCase<"VHalf", 9, "vhalf">,
      I32EnumAttrCase<"VMin", 10, "vmin">,
      I32EnumAttrCase<"Custom", 11, "custom">,
    ]> {
  let cppNamespace = "::dualpipe";
  let genSpecializedAttr = 0;
}
def DualPipe_ScheduleKindAttr
    : EnumAttr<DualPipe_Dialect, DualPipe_ScheduleKind, "schedule_kind"> {
  // "1f1b" is not a keyword: the value is written as a string,
  // #dualpipe<schedule_kind "1f1b">.
  let assemblyFormat = ?;
  let hasCustomAssemblyFormat = 1;
}

//===----------------------------------------------------------------------===//
// Attributes
//===----------------------------------------------------------------------===//

class DualPipe_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<DualPipe_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

def DualPipe_AutodiffAttr : DualPipe_Attr<"Autodiff", "autodiff"> {
  let summary = "The functions --dualpipe-autodiff derived from a stage";
  let description = [{
    Set on a stage function by `--dualpipe-autodiff` as
    `dualpipe.autodiff`: its forward (which also returns the values the
    backward needs), its full backward, and the backward split into the
    part that produces the input gradients (I) and the deferred
    weight-gradient part (W).

    ```mlir
    func.func @s0(...) attributes {dualpipe.autodiff = #dualpipe.autodiff<
        forward = @s0_fwd, backward = @s0_bwd,
        backward_input = @s0_bwd_i, backward_weight = @s0_bwd_w>}
    ```
  }];
  let parameters = (ins "::mlir::FlatSymbolRefAttr":$forward,
                        "::mlir::FlatSymbolRefAttr":$backward,
                        "::mlir::FlatSymbolRefAttr":$backward_input,
                        "::mlir::FlatSymbolRefAttr":$backward_weight);
  let assemblyFormat = "`<` struct(params) `>`";
  let extraClassDeclaration = [{
    /// The function that realises an action of `kind`.
    ::mlir::FlatSymbolRefAttr getFunction(::dualpipe::ActionKind kind) const;
  }];
}

#endif // DUALPIPE_ATTRS
