"""Per-micro-batch MSE of dumped outputs against PyTorch's reference losses."""
import json
import sys

import st

ref_dir, out_dir = sys.argv[1], sys.argv[2]
ref = json.load(open(ref_dir + "/ref.json"))["microbatch_losses"]
labels = st.read(ref_dir + "/data.safetensors")["y"][1]
worst = 0.0
for k, want in enumerate(ref):
    y = st.read("%s/out%d.safetensors" % (out_dir, k))["output0"][1]
    label = labels[k * len(y):(k + 1) * len(y)]
    loss = sum((a - b) ** 2 for a, b in zip(y, label)) / len(y)
    worst = max(worst, abs(loss - want) / abs(want))
print("%d micro-batches: max relative loss error %.3g (PyTorch float64 reference)" % (len(ref), worst))
sys.exit(0 if worst <= 1e-6 else 1)
