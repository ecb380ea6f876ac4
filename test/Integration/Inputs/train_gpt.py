"""Trains a model for K steps under each SCHEDULE:N[:VARIANT], with --check
(pipeline vs the same model on one rank) on the first step, and compares
the loss trajectories. VARIANT is local (the default: ranks as threads),
dp2 (--dp=2 on threads), mpi (mpirun -np N, --backend=mpi) or mpi-dp2
(mpirun -np 2N, --backend=mpi --dp=2). Configurations on the same data
(the same number of micro-batches and of replicas) must follow the same
trajectory (relative 1e-5 per step; mpi must equal its threads exactly),
and the loss must go down.
Each SCHEDULE:N is compiled once (--opt-level=1 when dualpipe-compile has
it: run time does not matter here).

usage: train_gpt.py MODEL WORK_DIR STEPS MICROBATCHES SCHEDULE:N[:VARIANT] ...
MICROBATCHES is a number or "2N" (twice each configuration's ranks: the
fewest DualPipe takes, so the cheapest to compile)."""
import os
import re
import subprocess
import sys
import time

model, work, steps, micro = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
help_text = subprocess.run(["dualpipe-compile", "--help"], capture_output=True,
                           text=True).stdout
opt_level = ["--opt-level=1"] if "--opt-level" in help_text else []
mpirun = ["mpirun", "--allow-run-as-root", "--oversubscribe"]
compiled = set()
trajectories = {}
failed = 0
for cfg in sys.argv[5:]:
    parts = cfg.split(":")
    schedule, ranks = parts[0], int(parts[1])
    variant = parts[2] if len(parts) > 2 else "local"
    out = os.path.join(work, "%s-%d" % (schedule, ranks))
    t0 = time.time()
    if out not in compiled:
        c = subprocess.run(["dualpipe-compile", model, "--schedule=" + schedule,
                            "--ranks=%d" % ranks,
                            "--microbatches=%d" % (2 * ranks if micro == "2N" else int(micro)),
                            "-o", out]
                           + opt_level, capture_output=True, text=True)
        if c.returncode != 0:
            print("%s N=%d: dualpipe-compile FAILED\n%s" % (schedule, ranks, c.stderr))
            sys.exit(1)
        compiled.add(out)
    t1 = time.time()
    run = ["dualpipe-run", out, "--steps=%d" % steps, "--lr=0.1", "--seed=3", "--check"]
    if variant == "dp2":
        run.append("--dp=2")
    elif variant == "mpi":
        run = mpirun + ["-np", str(ranks)] + run + ["--backend=mpi"]
    elif variant == "mpi-dp2":
        run = mpirun + ["-np", str(2 * ranks)] + run + ["--backend=mpi", "--dp=2"]
    elif variant != "local":
        print("unknown variant " + variant)
        sys.exit(2)
    r = subprocess.run(run, capture_output=True, text=True)
    t2 = time.time()
    losses = re.findall(r"^step \d+ loss (\S+)", r.stdout, re.M)
    check = "PASS" if "tolerance 1e-5: PASS" in r.stdout and r.returncode == 0 else "FAIL"
    if check != "PASS" or len(losses) != steps:
        failed += 1
        sys.stderr.write(r.stdout + r.stderr)
    trajectories[cfg] = losses
    print("%s N=%d %s: check %s, loss %s -> %s over %d steps" % (
        schedule, ranks, variant, check, losses[0] if losses else "?",
        losses[-1] if losses else "?", len(losses)))
    sys.stderr.write("%s: compile %.1f s, run %.1f s\n" % (cfg, t1 - t0, t2 - t1))
    sys.stdout.flush()


def variant_of(cfg):
    parts = cfg.split(":")
    return parts[2] if len(parts) > 2 else "local"


def microbatches_of(cfg):
    return 2 * int(cfg.split(":")[1]) if micro == "2N" else int(micro)


# Configurations on the same data (the same M, the same number of replicas)
# must follow the same trajectory; mpi must equal its threads exactly.
worst = 0.0
down = True
groups = {}
for cfg in sys.argv[5:]:
    if trajectories[cfg]:
        groups.setdefault((microbatches_of(cfg), "dp2" in variant_of(cfg)), []).append(cfg)
for cfgs in groups.values():
    base = [float(v) for v in trajectories[cfgs[0]]]
    down = down and base[-1] < base[0]
    for cfg in cfgs:
        if "mpi" in variant_of(cfg):
            twin = cfg.rsplit(":", 1)[0] + ("" if variant_of(cfg) == "mpi" else ":dp2")
            if twin in trajectories and trajectories[twin] != trajectories[cfg]:
                print("%s: losses differ from %s" % (cfg, twin))
                failed += 1
        for a, b in zip((float(v) for v in trajectories[cfg]), base):
            worst = max(worst, abs(a - b) / abs(b))
print("largest relative difference between trajectories on the same data: %.3g; "
      "loss %s" % (worst, "goes down" if down else "does NOT go down"))
sys.exit(1 if failed or worst > 1e-5 or not down else 0)
