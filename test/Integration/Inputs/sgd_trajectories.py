"""Trains dualpipe-gen's MLP for K SGD steps under each schedule:ranks,
with --check on the first step, and compares the loss trajectories: every
schedule must follow the same trajectory (relative 1e-5 per step) and the
loss must go down.

usage: sgd_trajectories.py MODEL WORK_DIR STEPS SCHEDULE:N ..."""
import os
import re
import subprocess
import sys

model, work, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
trajectories = {}
failed = 0
for cfg in sys.argv[4:]:
    schedule, ranks = cfg.split(":")
    out = os.path.join(work, "%s-%s" % (schedule, ranks))
    subprocess.run(["dualpipe-compile", model, "--schedule=" + schedule, "--ranks=" + ranks,
                    "--microbatches=8", "-o", out],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = subprocess.run(["dualpipe-run", out, "--steps=%d" % steps, "--lr=0.2", "--seed=3",
                          "--check"], capture_output=True, text=True)
    losses = [float(v) for v in re.findall(r"^step \d+ loss (\S+)", run.stdout, re.M)]
    check = "PASS" if "tolerance 1e-5: PASS" in run.stdout and run.returncode == 0 else "FAIL"
    failed += check != "PASS" or len(losses) != steps
    trajectories[cfg] = losses
    print("%s N=%s: check %s, loss %.6f -> %.6f over %d steps" % (
        schedule, ranks, check, losses[0], losses[-1], len(losses)))
base_cfg = sys.argv[4]
base = trajectories[base_cfg]
worst = 0.0
for cfg, losses in trajectories.items():
    for a, b in zip(losses, base):
        worst = max(worst, abs(a - b) / abs(b))
down = base[-1] < base[0]
print("largest relative difference between trajectories: %.3g; loss %s" % (
    worst, "goes down" if down else "does NOT go down"))
sys.exit(1 if failed or worst > 1e-5 or not down else 0)
