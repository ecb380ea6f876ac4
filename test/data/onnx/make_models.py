#!/usr/bin/env python3
"""Writes the small ONNX models of test/Tools/dualpipe-import (a few KB each).

    /usr/bin/python3 test/data/onnx/make_models.py [OUT_DIR]

mlp.onnx   an ordinary torch nn.Module (Linear, GELU, Tanh, SiLU-like gate,
           Linear), exported by torch.onnx.export at opset 17 in eval mode,
           batch 4 x 8 features -> 4 classes; its weights come from
           torch.manual_seed(0).
ops.onnx   a module for the FileCheck test: MatMul on 3-D input, Transpose,
           Reshape, Flatten, Sub, Div, Pow, Sqrt, Softmax, LayerNorm.
unsupported.onnx  one CumSum node (no lowering), written with onnx.helper.
dynamic.onnx      one Relu on an input [batch, 3] with a symbolic batch.

Needs PyTorch (Debian: python3-torch) and, for unsupported.onnx, python3-onnx.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class MLP(nn.Module):
    def __init__(self, inp=8, hidden=16, classes=4):
        super().__init__()
        self.fc1 = nn.Linear(inp, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x):
        h = F.gelu(self.fc1(x))
        h = torch.tanh(self.fc2(h)) + h
        h = h * torch.sigmoid(h)
        return self.head(F.relu(h))


class Ops(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(6, 6)
        self.norm = nn.LayerNorm(6)

    def forward(self, x):  # x: [2, 3, 6]
        h = self.proj(x)                      # MatMul + Add on 3-D input
        h = h.transpose(1, 2).reshape(2, 18)  # Transpose, Reshape
        h = (h - h.mean(dim=1, keepdim=True)) / torch.sqrt(h.pow(2).mean(dim=1, keepdim=True) + 1.0)
        h = h.reshape(2, 3, 6)
        h = self.norm(h)
        return torch.softmax(torch.flatten(h, 1), dim=-1)


def export(model, args, path, names):
    model.eval()
    torch.onnx.export(model, args, path, opset_version=17, input_names=names,
                      output_names=["out"], do_constant_folding=False)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    torch.manual_seed(0)
    export(MLP(), (torch.randn(4, 8),), os.path.join(out, "mlp.onnx"), ["x"])
    torch.manual_seed(1)
    export(Ops(), (torch.randn(2, 3, 6),), os.path.join(out, "ops.onnx"), ["x"])
    try:
        import onnx
        from onnx import TensorProto, helper
    except ImportError:
        print("python3-onnx missing: unsupported.onnx not written")
        return
    node = helper.make_node("CumSum", ["x", "axis"], ["out"], name="the_cumsum")
    axis = helper.make_tensor("axis", TensorProto.INT64, [], [1])
    graph = helper.make_graph(
        [node], "unsupported",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [2, 3])],
        [axis])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, os.path.join(out, "unsupported.onnx"))
    # A dynamic batch dimension, as torch.onnx.export(dynamic_axes=...) writes.
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["out"], name="relu")], "dynamic",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, os.path.join(out, "dynamic.onnx"))


if __name__ == "__main__":
    main()
