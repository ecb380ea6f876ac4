#!/bin/sh
# Train a PyTorch model with dualpipe: export -> dualpipe-import ->
# dualpipe-compile -> dualpipe-run --check, then compare the losses with
# PyTorch's own training of the same weights on the same data.
#
# usage: examples/train_pytorch_model.sh [WORK_DIR]
#   DUALPIPE_BIN  the tools (default: build/bin of this checkout)
#   PYTHON        a python3 with torch 1.13 (default /usr/bin/python3)
#
# The model is ordinary PyTorch: token embeddings, 4 residual MLP blocks
# (LayerNorm, Linear, GELU, Linear) exported as one ONNX function
# (export_modules_as_functions={Block}), a classification head on the mean
# token. It trains 3 steps of SGD (lr 0.1) on 8 micro-batches of 4
# sequences, pipelined over 2 ranks with the DualPipe schedule.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${DUALPIPE_BIN:-$here/../build/bin}
py=${PYTHON:-/usr/bin/python3}
work=${1:-$(mktemp -d)}
mkdir -p "$work"

# 1. Export the model (one micro-batch: 4 sequences of 6 tokens) and write
#    the data of one step (8 micro-batches stacked on dim 0) and PyTorch's
#    losses for 3 SGD steps.
"$py" - "$work" <<'PY'
import json, struct, sys, torch, torch.nn as nn, torch.nn.functional as F
work = sys.argv[1]

class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln, self.up, self.down = nn.LayerNorm(d), nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
    def forward(self, x):
        return x + self.down(F.gelu(self.up(self.ln(x))))

class Model(nn.Module):
    def __init__(self, vocab=32, d=16, layers=4, classes=4):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.blocks = nn.Sequential(*[Block(d) for _ in range(layers)])
        self.head = nn.Linear(d, classes)
    def forward(self, tokens):
        return self.head(self.blocks(self.emb(tokens)).mean(dim=1))

torch.manual_seed(0)
model = Model().eval()
with torch.no_grad():  # torch 1.13 merges equal initializers (fresh LayerNorms)
    for p in model.parameters():
        p.add_(0.1 * torch.randn(p.shape))
torch.onnx.export(model, (torch.randint(0, 32, (4, 6)),), work + "/model.onnx",
                  opset_version=17, input_names=["tokens"], output_names=["logits"],
                  do_constant_folding=False, export_modules_as_functions={Block})

M = 8
x, y = torch.randint(0, 32, (M * 4, 6)), torch.randint(0, 4, (M * 4,))
tensors = {"tokens": x, "y": y}  # safetensors: header length, JSON header, data
header, blobs, off = {}, [], 0
for k, t in tensors.items():
    b = t.contiguous().numpy().tobytes()
    header[k] = {"dtype": "I64", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b); off += len(b)
h = json.dumps(header).encode()
with open(work + "/data.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))

opt = torch.optim.SGD(model.parameters(), lr=0.1)
with open(work + "/torch_losses.txt", "w") as f:
    for step in range(3):
        opt.zero_grad()
        loss = sum(F.cross_entropy(model(x[k * 4:(k + 1) * 4]), y[k * 4:(k + 1) * 4])
                   for k in range(M)) / M
        loss.backward(); opt.step()
        f.write("%.9g\n" % loss.item())
PY

# 2. Import: the graph becomes a dualpipe.model function (the blocks one
#    private func.func, called 4 times), the weights params.safetensors, a
#    cross-entropy loss against the integer label "y".
"$bin/dualpipe-import" "$work/model.onnx" -o "$work/model.mlir" \
  --params="$work/params.safetensors" --loss=cross_entropy --label=y

# 3. Compile for 2 pipeline ranks, DualPipe schedule, 8 micro-batches a step.
"$bin/dualpipe-compile" "$work/model.mlir" --schedule=dualpipe --ranks=2 \
  --microbatches=8 -o "$work/out" > "$work/compile.log" 2>&1

# 4. Train 3 steps; --check also runs each step on one rank without the
#    pipeline and compares losses and gradients (tolerance 1e-5).
"$bin/dualpipe-run" "$work/out" --params="$work/params.safetensors" \
  --data="$work/data.safetensors" --steps=3 --lr=0.1 --check --no-progress \
  > "$work/run.log" 2>&1 || { cat "$work/run.log"; exit 1; }
grep -E '^step [0-9]+ loss|^check:' "$work/run.log"

# 5. The losses against PyTorch's (printed with 6 decimals).
"$py" - "$work" <<'PY'
import re, sys
work = sys.argv[1]
want = [float(v) for v in open(work + "/torch_losses.txt")]
got = [float(v) for v in re.findall(r"^step \d+ loss (\S+)", open(work + "/run.log").read(), re.M)]
err = max(abs(a - b) / abs(b) for a, b in zip(got, want)) if len(got) == len(want) else float("inf")
ok = err <= 1e-5 and "tolerance 1e-5: PASS" in open(work + "/run.log").read()
print("PyTorch losses: %s; max relative difference %.2e: %s"
      % (" ".join("%.6f" % v for v in want), err, "PASS" if ok else "FAIL"))
sys.exit(0 if ok else 1)
PY
