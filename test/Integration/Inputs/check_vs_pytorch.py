"""Compares a step's losses and gradients with PyTorch's reference results
(test/data/mlp-residual: ref.json and ref_grads.safetensors).

usage: check_vs_pytorch.py REF_DIR GRADS.safetensors LOG
LOG is dualpipe-run's output; its first 'step <k> loss <value>' line is the
step whose gradients were dumped (run with --steps=1)."""
import json
import re
import sys

import st

ref_dir, grads_path, log_path = sys.argv[1:4]
ref = json.load(open(ref_dir + "/ref.json"))
want = st.read(ref_dir + "/ref_grads.safetensors")
got = st.read(grads_path)
loss = float(re.search(r"^step \d+ loss (\S+)", open(log_path).read(), re.M).group(1))
loss_err = abs(loss - ref["loss"]) / abs(ref["loss"])
worst, worst_name = 0.0, ""
for name, (shape, values) in want.items():
    g = got[name][1]
    err = max(abs(a - b) for a, b in zip(g, values)) / max(abs(b) for b in values)
    if err >= worst:
        worst, worst_name = err, name
print("loss %.9f vs PyTorch %.9f: relative error %.3g; gradients: max relative error %.3g (%s) over %d tensors"
      % (loss, ref["loss"], loss_err, worst, worst_name, len(want)))
# The printed loss has 6 decimals, so 1e-6 relative is its resolution.
ok = loss_err <= 2e-6 and worst <= 1e-5
print("PyTorch check: " + ("PASS" if ok else "FAIL"))
sys.exit(0 if ok else 1)
