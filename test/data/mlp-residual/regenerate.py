#!/usr/bin/env python3
"""Rebuilds the PyTorch references of the mlp-residual case.

The model of model.mlir, written again as an ordinary torch.nn.Module, runs
one training step in float64 on the CPU from the float32 parameters and data
in this folder, and gives the loss of each micro-batch, their mean, and the
gradient of that mean with respect to every parameter.

    regenerate.py                     rewrite ref.json and ref_grads.safetensors
    regenerate.py --check             compare with them; exit 1 on a mismatch
    regenerate.py --new-weights --seed=S
                                      draw new params.safetensors and
                                      data.safetensors, then rewrite the
                                      references from them
    regenerate.py --dir=DIR ...       work on DIR instead of this folder

Nothing here comes from dualpipe: the only shared knowledge is the model's
definition (read from model.mlir by a person, not by this script) and the
safetensors format, read and written below with json and struct.

Needs PyTorch (Debian: apt-get install python3-torch python3-numpy, for
/usr/bin/python3).
"""
import argparse
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

# Widths of the five linear layers and the size of one micro-batch.
WIDTHS = [24, 48, 48, 48, 48, 16]
ROWS_PER_MICROBATCH = 2
MICROBATCHES = 8
# --check: float32 rounding of the stored gradients is 6e-8 relative; twice
# as much as this would be a different computation.
RELATIVE_TOLERANCE = 1e-6


# --- safetensors (little-endian; F32 and F64 only) --------------------------

_DTYPES = {"F32": ("f", 4, torch.float32), "F64": ("d", 8, torch.float64)}


def read_safetensors(path):
    """Returns an ordered dict name -> float64 tensor (file order)."""
    with open(path, "rb") as f:
        raw = f.read()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length].decode("utf-8"))
    body = raw[8 + length:]
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        code, size, _ = _DTYPES[spec["dtype"]]
        begin, end = spec["data_offsets"]
        count = (end - begin) // size
        values = struct.unpack("<%d%s" % (count, code), body[begin:end])
        out[name] = torch.tensor(values, dtype=torch.float64).reshape(spec["shape"])
    return out


def write_safetensors(path, tensors):
    """tensors: ordered dict name -> tensor, stored as F32 in that order.

    The header is JSON padded with spaces to a multiple of 8 bytes, as the
    safetensors library writes it."""
    header, blobs, offset = {}, [], 0
    for name, tensor in tensors.items():
        values = tensor.detach().to(torch.float32).reshape(-1).tolist()
        blob = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


# --- the model of model.mlir ------------------------------------------------

class Linear(nn.Module):
    """y = x @ weight + bias with weight stored in x out, as in the files
    and in model.mlir's linalg.matmul (torch.nn.Linear keeps out x in)."""

    def __init__(self, fan_in, fan_out):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(fan_in, fan_out, dtype=torch.float64))
        self.bias = nn.Parameter(torch.zeros(fan_out, dtype=torch.float64))

    def forward(self, x):
        return x @ self.weight + self.bias


class MlpResidual(nn.Module):
    """fc0..fc4 (24-48-48-48-48-16); activations GELU (tanh approximation),
    tanh, ReLU, GELU, none. The output of layer 0 (after its GELU) is added
    to the pre-activation of layer 3, after its bias."""

    def __init__(self):
        super().__init__()
        self.fc = nn.ModuleList(Linear(i, o) for i, o in zip(WIDTHS[:-1], WIDTHS[1:]))

    def forward(self, x):
        h0 = F.gelu(self.fc[0](x), approximate="tanh")
        h1 = torch.tanh(self.fc[1](h0))
        h2 = F.relu(self.fc[2](h1))
        h3 = F.gelu(self.fc[3](h2) + h0, approximate="tanh")
        return self.fc[4](h3)


def microbatch_loss(output, label):
    """@loss of model.mlir: the sum of squared differences over the 2x16
    micro-batch divided by 32, i.e. the mean squared error."""
    return F.mse_loss(output, label, reduction="mean")


def load_model(params):
    model = MlpResidual()
    with torch.no_grad():
        for i, layer in enumerate(model.fc):
            layer.weight.copy_(params["fc%d.weight" % i])
            layer.bias.copy_(params["fc%d.bias" % i])
    return model


def reference(params, data):
    """One step: each micro-batch's loss, their mean, and the gradient of the
    mean under the parameter names."""
    model = load_model(params)
    x, y = data["x"], data["y"]
    assert x.shape == (MICROBATCHES * ROWS_PER_MICROBATCH, WIDTHS[0]), x.shape
    assert y.shape == (MICROBATCHES * ROWS_PER_MICROBATCH, WIDTHS[-1]), y.shape
    losses = []
    for k in range(MICROBATCHES):
        rows = slice(k * ROWS_PER_MICROBATCH, (k + 1) * ROWS_PER_MICROBATCH)
        losses.append(microbatch_loss(model(x[rows]), y[rows]))
    loss = torch.stack(losses).mean()
    model.zero_grad()
    loss.backward()
    grads = {}
    for i, layer in enumerate(model.fc):
        grads["fc%d.weight" % i] = layer.weight.grad.clone()
        grads["fc%d.bias" % i] = layer.bias.grad.clone()
    return {"loss": loss.item(),
            "microbatch_losses": [l.item() for l in losses]}, grads


# --- fresh weights and data -------------------------------------------------

def draw(seed):
    """nn.Linear's default initialization for the parameters, standard normal
    inputs and labels; all rounded to float32 (what the files hold)."""
    generator = torch.Generator().manual_seed(seed)
    params = {}
    for i, (fan_in, fan_out) in enumerate(zip(WIDTHS[:-1], WIDTHS[1:])):
        bound = 1.0 / math.sqrt(fan_in)
        params["fc%d.weight" % i] = (torch.rand(fan_in, fan_out, generator=generator) * 2 - 1) * bound
        params["fc%d.bias" % i] = (torch.rand(fan_out, generator=generator) * 2 - 1) * bound
    rows = MICROBATCHES * ROWS_PER_MICROBATCH
    data = {"x": torch.randn(rows, WIDTHS[0], generator=generator),
            "y": torch.randn(rows, WIDTHS[-1], generator=generator)}
    as_stored = lambda t: t.to(torch.float32).to(torch.float64)
    return ({k: as_stored(v) for k, v in params.items()},
            {k: as_stored(v) for k, v in data.items()})


# --- check ------------------------------------------------------------------

def relative(got, want):
    return abs(got - want) / abs(want) if want != 0 else abs(got)


def check(folder, ref, grads):
    want = json.load(open(os.path.join(folder, "ref.json")))
    want_grads = read_safetensors(os.path.join(folder, "ref_grads.safetensors"))
    failures = []

    loss_err = relative(ref["loss"], want["loss"])
    if len(want["microbatch_losses"]) != len(ref["microbatch_losses"]):
        failures.append("ref.json has %d micro-batch losses, expected %d"
                        % (len(want["microbatch_losses"]), len(ref["microbatch_losses"])))
        mb_err = float("inf")
    else:
        mb_err = max(relative(a, b) for a, b in
                     zip(ref["microbatch_losses"], want["microbatch_losses"]))
    print("loss %.12g vs ref.json %.12g: relative error %.3g; micro-batch losses: "
          "max relative error %.3g" % (ref["loss"], want["loss"], loss_err, mb_err))
    if not loss_err <= RELATIVE_TOLERANCE:
        failures.append("loss differs by %.3g relative" % loss_err)
    if not mb_err <= RELATIVE_TOLERANCE:
        failures.append("micro-batch losses differ by %.3g relative" % mb_err)

    if list(want_grads) != list(grads):
        failures.append("ref_grads.safetensors holds %s, expected %s"
                        % (sorted(want_grads), sorted(grads)))
    worst, worst_name = 0.0, ""
    for name, got in grads.items():
        if name not in want_grads:
            continue
        expected = want_grads[name]
        if tuple(expected.shape) != tuple(got.shape):
            failures.append("%s: shape %s, expected %s"
                            % (name, list(expected.shape), list(got.shape)))
            continue
        # Per element, relative to the element; the floor (1e-6 of the
        # tensor's largest magnitude) keeps float32's rounding of values
        # near zero from counting.
        scale = expected.abs().max().item()
        err = ((got - expected).abs() /
               expected.abs().clamp(min=scale * 1e-6, max=None)).max().item()
        if err >= worst:
            worst, worst_name = err, name
        if not err <= RELATIVE_TOLERANCE:
            failures.append("%s differs by %.3g relative" % (name, err))
    print("gradients: max relative error %.3g (%s) over %d tensors"
          % (worst, worst_name, len(grads)))

    for failure in failures:
        print("mismatch: " + failure)
    print("regenerate --check (tolerance %g relative): %s"
          % (RELATIVE_TOLERANCE, "FAIL" if failures else "PASS"))
    return not failures


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with ref.json and ref_grads.safetensors instead of writing them")
    parser.add_argument("--new-weights", action="store_true",
                        help="draw new params.safetensors and data.safetensors first")
    parser.add_argument("--seed", type=int, default=0, help="seed for --new-weights")
    parser.add_argument("--dir", default=os.path.dirname(os.path.abspath(__file__)),
                        help="the folder holding the case (default: this script's)")
    args = parser.parse_args(argv)
    if args.check and args.new_weights:
        parser.error("--check compares the committed files; it cannot draw new weights")

    torch.set_default_dtype(torch.float64)
    folder = args.dir
    if args.new_weights:
        params, data = draw(args.seed)
        write_safetensors(os.path.join(folder, "params.safetensors"), params)
        write_safetensors(os.path.join(folder, "data.safetensors"), data)
        print("wrote params.safetensors and data.safetensors (seed %d)" % args.seed)
    params = read_safetensors(os.path.join(folder, "params.safetensors"))
    data = read_safetensors(os.path.join(folder, "data.safetensors"))
    ref, grads = reference(params, data)

    if args.check:
        return 0 if check(folder, ref, grads) else 1
    with open(os.path.join(folder, "ref.json"), "w") as f:
        json.dump(ref, f, sort_keys=True)
    write_safetensors(os.path.join(folder, "ref_grads.safetensors"), grads)
    print("wrote ref.json (loss %.12g) and ref_grads.safetensors (%d tensors)"
          % (ref["loss"], len(grads)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
