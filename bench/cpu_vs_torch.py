#!/usr/bin/env python3
"""Side by side, one thread: CPU time (user+sys) and wall time per step of
compiled 1-rank steps against PyTorch eager (bench/torch_models.py), the
median of --repeats runs of each, interleaved so that load changes hit all
of them alike.

    python3 bench/cpu_vs_torch.py --repeats=5 \\
        mlp:/tmp/mlp-before mlp:/tmp/mlp-after gpt:/tmp/gpt-before ...

Each STEPDIR is a dualpipe-compile output (--ranks=1). dualpipe's time per
step is that of `dualpipe-run STEPDIR --steps=10 --no-progress` minus that
of the same with --steps=2, over 8 steps (start-up, loading and the first
step's page faults cancel out). The PyTorch figure is torch_models.py's own
per-step median (CPU and wall) for the same model flags as bench/bench.py.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from bench import MODEL_FLAGS  # noqa: E402

ENV = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
           MKL_NUM_THREADS="1")


def timed(cmd):
    """(cpu s, wall s) of running cmd to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit("failed: %s\n%s" % (" ".join(cmd), p.stderr[-2000:]))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, p.stdout


def dualpipe_step(run, step):
    c10, w10, _ = timed([run, step, "--steps=10", "--no-progress"])
    c2, w2, _ = timed([run, step, "--steps=2", "--no-progress"])
    return (c10 - c2) / 8 * 1e3, (w10 - w2) / 8 * 1e3


def torch_step(py, kind, M):
    cmd = [py, os.path.join(ROOT, "bench", "torch_models.py"), kind] + \
        MODEL_FLAGS[kind] + ["--M=%d" % M, "--steps=20", "--threads=1"]
    _, _, out = timed(cmd)
    t = json.loads(out.strip().splitlines()[-1])
    return t["cpu_median_ms"], t["median_ms"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("steps", nargs="+", help="KIND:STEPDIR")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--M", type=int, default=8)
    ap.add_argument("--run", default=os.path.join(ROOT, "build", "bin", "dualpipe-run"))
    ap.add_argument("--python", default=sys.executable)
    a = ap.parse_args()
    rows = {s: [] for s in a.steps}
    kinds = sorted({s.split(":", 1)[0] for s in a.steps})
    for k in kinds:
        rows["torch:" + k] = []
    for _ in range(a.repeats):
        for s in a.steps:
            rows[s].append(dualpipe_step(a.run, s.split(":", 1)[1]))
        for k in kinds:
            rows["torch:" + k].append(torch_step(a.python, k, a.M))
    print("%-40s %12s %12s  (median of %d; ms per step, 1 thread)"
          % ("step", "cpu ms", "wall ms", a.repeats))
    for name, vals in rows.items():
        print("%-40s %12.1f %12.1f   cpu %s" % (
            name, statistics.median(v[0] for v in vals),
            statistics.median(v[1] for v in vals),
            " ".join("%.1f" % v[0] for v in vals)))
    print("load average:", os.getloadavg())


if __name__ == "__main__":
    main()
