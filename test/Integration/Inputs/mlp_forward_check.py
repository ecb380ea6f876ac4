"""Writes parameters and data for examples/mlp.mlir, or checks the outputs
dualpipe-run dumped against a forward pass computed here in plain Python:
y = tanh(x W0 + b0) W1 + b1."""
import math
import random
import sys

import st

rng = random.Random(7)
SHAPES = {"x": (4, 16), "fc0.weight": (16, 32), "fc0.bias": (32,),
          "fc1.weight": (32, 8), "fc1.bias": (8,)}


def tensors():
    out = {}
    for name in sorted(SHAPES):
        n = 1
        for d in SHAPES[name]:
            n *= d
        out[name] = (SHAPES[name], [rng.uniform(-1, 1) for _ in range(n)])
    return out


def forward(t):
    x, w0, b0 = t["x"][1], t["fc0.weight"][1], t["fc0.bias"][1]
    w1, b1 = t["fc1.weight"][1], t["fc1.bias"][1]
    y = []
    for r in range(4):
        h = [math.tanh(sum(x[r * 16 + k] * w0[k * 32 + j] for k in range(16)) + b0[j])
             for j in range(32)]
        y += [sum(h[k] * w1[k * 8 + j] for k in range(32)) + b1[j] for j in range(8)]
    return y


mode, folder = sys.argv[1], sys.argv[2]
t = tensors()
if mode == "write":
    st.write(folder + "/params.safetensors", {k: v for k, v in t.items() if k != "x"})
    st.write(folder + "/data.safetensors", {"x": t["x"]})
else:
    # Round the inputs to float32 the way the files stored them.
    stored = {**st.read(folder + "/params.safetensors"), **st.read(folder + "/data.safetensors")}
    want = forward(stored)
    got = st.read(folder + "/outputs.safetensors")["output0"][1]
    err = max(abs(a - b) for a, b in zip(got, want)) / max(abs(b) for b in want)
    print("relative error vs plain-Python forward: %.3g" % err)
    sys.exit(0 if err < 1e-5 else 1)
