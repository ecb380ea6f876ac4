"""One training step of a wide MLP (dualpipe-gen mlp, 8 layers of width
1024, 64 rows per micro-batch, 8 micro-batches: bench/cpu_vs_torch.py's
mlp-wide) compiled by dualpipe and run in float32, against PyTorch's float32
step and against the same step computed by PyTorch in float64 (the
reference; both start from the same float32 weights and data).

usage: wide_mlp_accuracy.py WORK_DIR [--factor=F] [--layers=L] [--width=W]
                             [--batch=B] [SCHEDULE:RANKS ...]

For each SCHEDULE:RANKS (default gpipe:1 dualpipe:2) it compiles the model,
runs one step with --dump-grads and prints the relative error of the loss
and the worst per-tensor gradient error (max |g - ref| / max |ref| over the
tensor) of dualpipe and of PyTorch float32, both against float64. With
--factor=F every configuration must have loss and gradient errors at most F
times PyTorch float32's own (or 1e-7 relative, float32's resolution, when
that is larger); it prints PASS or FAIL per configuration.

Nothing here comes from dualpipe but the tools it runs: the model is written
again in PyTorch from dualpipe-gen's documented definition (x @ W + b,
tanh-GELU between layers, none after the last; loss the mean squared error
over the micro-batch's batch x width outputs; the step's loss the mean of
the micro-batch losses, its gradients those of that mean)."""
import os
import re
import subprocess
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

LAYERS, WIDTH, BATCH, M = 8, 1024, 64, 8


def gelu(s):  # tanh approximation, as dualpipe-gen writes it
    return 0.5 * s * (1 + torch.tanh(0.7978845608028654 * (s + 0.044715 * s * s * s)))


def draw():
    g = torch.Generator().manual_seed(15)
    params = {}
    for l in range(LAYERS):
        # bench/torch_models.py's weights (std 0.05); small nonzero biases.
        params["fc%d.weight" % l] = torch.randn(WIDTH, WIDTH, generator=g) * 0.05
        params["fc%d.bias" % l] = torch.randn(WIDTH, generator=g) * 0.01
    data = {"x": torch.randn(M * BATCH, WIDTH, generator=g),
            "y": torch.randn(M * BATCH, WIDTH, generator=g)}
    return params, data


def write_safetensors(path, tensors):
    st.write_blobs(path, {name: (list(t.shape),
                                 t.to(torch.float32).contiguous().numpy().tobytes())
                          for name, t in tensors.items()})


def read_safetensors(path):
    return {name: torch.frombuffer(bytearray(blob), dtype=torch.float32)
            .reshape(shape).to(torch.float64)
            for name, (shape, blob) in st.read_blobs(path).items()}


def torch_step(params, data, dtype):
    """(loss, grads) of one step in dtype, the way bench/torch_models.py
    runs it: each micro-batch's loss / M backpropagated, the gradients
    accumulated in dtype, the loss summed in Python (float64)."""
    p = {k: v.to(dtype).clone().requires_grad_(True) for k, v in params.items()}
    x, y = data["x"].to(dtype), data["y"].to(dtype)
    total = 0.0
    for m in range(M):
        h = x[m * BATCH:(m + 1) * BATCH]
        for l in range(LAYERS):
            h = h @ p["fc%d.weight" % l] + p["fc%d.bias" % l]
            if l != LAYERS - 1:
                h = gelu(h)
        loss = ((h - y[m * BATCH:(m + 1) * BATCH]) ** 2).mean() / M
        loss.backward()
        total += loss.item()
    return total, {k: v.grad.to(torch.float64) for k, v in p.items()}


def errors(loss, grads, ref_loss, ref_grads):
    loss_err = abs(loss - ref_loss) / abs(ref_loss)
    worst, worst_name = 0.0, ""
    for name, want in ref_grads.items():
        err = ((grads[name] - want).abs().max() / want.abs().max()).item()
        if err >= worst:
            worst, worst_name = err, name
    return loss_err, worst, worst_name


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    global LAYERS, WIDTH, BATCH
    factor = None
    for a in sys.argv[1:]:
        key, _, value = a.partition("=")
        if key == "--factor":
            factor = float(value)
        elif key in ("--layers", "--width", "--batch"):
            globals()[key[2:].upper()] = int(value)
        elif a.startswith("--"):
            raise SystemExit("unknown option " + a)
    work, configs = args[0], args[1:] or ["gpipe:1", "dualpipe:2"]
    torch.set_num_threads(1)
    os.makedirs(work, exist_ok=True)
    params, data = draw()
    write_safetensors(work + "/params.safetensors", params)
    write_safetensors(work + "/data.safetensors", data)
    # What the files hold, exactly (the draws are float32 already).
    params = read_safetensors(work + "/params.safetensors")
    data = read_safetensors(work + "/data.safetensors")

    ref_loss, ref_grads = torch_step(params, data, torch.float64)
    t_loss, t_grads = torch_step(params, data, torch.float32)
    t_lerr, t_gerr, t_name = errors(t_loss, t_grads, ref_loss, ref_grads)
    print("float64 reference loss %.12g" % ref_loss)
    print("torch float32 vs float64: loss %.3g relative, gradients %.3g (%s)"
          % (t_lerr, t_gerr, t_name))

    model = work + "/model.mlir"
    subprocess.run(["dualpipe-gen", "mlp", "--layers=%d" % LAYERS, "--width=%d" % WIDTH,
                    "--batch=%d" % BATCH, "-o", model], check=True)
    # One BLAS thread (dualpipe-run reads it as its --threads default).
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    failed = 0
    for cfg in configs:
        schedule, ranks = cfg.split(":")
        out = "%s/%s-%s" % (work, schedule, ranks)
        subprocess.run(["dualpipe-compile", model, "--schedule=" + schedule,
                        "--ranks=" + ranks, "--microbatches=%d" % M, "-o", out],
                       check=True, stdout=subprocess.DEVNULL)
        run = subprocess.run(["dualpipe-run", out, "--params=" + work + "/params.safetensors",
                              "--data=" + work + "/data.safetensors",
                              "--dump-grads=" + out + "/grads.safetensors"],
                             env=env, capture_output=True, text=True, check=True)
        full = re.search(r"^loss of the dumped step (\S+)", run.stdout, re.M)
        # Builds before the 9-digit line: the step line's 6 decimals.
        loss = float(full.group(1) if full else
                     re.search(r"^step 0 loss (\S+)", run.stdout, re.M).group(1))
        lerr, gerr, name = errors(loss, read_safetensors(out + "/grads.safetensors"),
                                  ref_loss, ref_grads)
        line = ("%s N=%s vs float64: loss %.3g relative (%.2fx torch float32's), "
                "gradients %.3g (%s; %.2fx)"
                % (schedule, ranks, lerr, lerr / max(t_lerr, 1e-300), gerr, name,
                   gerr / max(t_gerr, 1e-300)))
        if factor is not None:
            ok = lerr <= factor * max(t_lerr, 1e-7) and gerr <= factor * max(t_gerr, 1e-7)
            failed += not ok
            line += ": " + ("PASS" if ok else "FAIL")
        print(line)
    if factor is not None:
        print("within %gx torch float32's error: %s" % (factor, "FAIL" if failed else "PASS"))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
