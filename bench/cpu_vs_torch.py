#!/usr/bin/env python3
"""Side by side, one thread: CPU time (user+sys) and wall time per step of
compiled 1-rank steps against PyTorch eager (bench/torch_models.py), the
median of --repeats runs of each, interleaved so that load changes hit all
of them alike.

    python3 bench/cpu_vs_torch.py --repeats=5 \\
        mlp:/tmp/mlp-before mlp:/tmp/mlp-after gpt:/tmp/gpt-before ...
    python3 bench/cpu_vs_torch.py --repeats=5 --threads=1 \\
        --build=before:/path/to/old/build --build=main:build \\
        --kinds=mlp,mlp-wide,gpt,gpt-256

Each STEPDIR is a dualpipe-compile output (--ranks=1). With --build=LABEL:DIR
the script generates each model of --kinds with DIR/bin/dualpipe-gen,
compiles it with DIR/bin/dualpipe-compile (1 rank, gpipe, --microbatches=M,
default options) into /tmp/dualpipe-bench/cpu/LABEL-KIND, and runs it with
DIR/bin/dualpipe-run against DIR/lib's runtime (LD_LIBRARY_PATH).
--threads=K runs both sides with K threads (OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS and MKL_NUM_THREADS K, which dualpipe-run takes as its
--threads; torch.set_num_threads(K); OMP_WAIT_POLICY=PASSIVE, see
set_threads). dualpipe's time per
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

# The models of issue #15's table: KIND -> (torch_models.py / dualpipe-gen
# model, flags).
KINDS = {
    "mlp": ("mlp", MODEL_FLAGS["mlp"]),
    "mlp-wide": ("mlp", ["--layers=8", "--width=1024", "--batch=64"]),
    "gpt": ("gpt", MODEL_FLAGS["gpt"]),
    "gpt-256": ("gpt", ["--layers=4", "--hidden=256", "--heads=8", "--seq=128",
                        "--vocab=2048", "--batch=4"]),
}
ENV = dict(os.environ)


def set_threads(k):
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        ENV[var] = str(k)
    # PyTorch's OpenMP workers spin while they wait by default (libgomp's
    # active wait policy): with 2 threads its CPU time per step was 2-4x
    # its 1-thread figure, its wall time up to 2x (the h256 GPT: 8.0 s
    # against 3.7 s). Passive waiting is the fair PyTorch configuration
    # (2.45 s wall there); dualpipe-run uses no OpenMP.
    ENV["OMP_WAIT_POLICY"] = "PASSIVE"


def timed(cmd, env=None):
    """(cpu s, wall s) of running cmd to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env or ENV, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit("failed: %s\n%s" % (" ".join(cmd), p.stderr[-2000:]))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, p.stdout


def dualpipe_step(run, step, lib=None):
    env = dict(ENV)
    if lib:
        env["LD_LIBRARY_PATH"] = lib
    # The thread count reaches dualpipe-run through OPENBLAS_NUM_THREADS
    # (set_threads), which builds before --threads read as well.
    c10, w10, _ = timed([run, step, "--steps=10", "--no-progress"], env)
    c2, w2, _ = timed([run, step, "--steps=2", "--no-progress"], env)
    return (c10 - c2) / 8 * 1e3, (w10 - w2) / 8 * 1e3


def compile_step(build, label, kind, M):
    """Generates and compiles KIND with the build's tools; returns the step
    folder (reused when the model and the compiler are unchanged)."""
    work = os.path.join("/tmp/dualpipe-bench/cpu", "%s-%s" % (label, kind))
    os.makedirs(work, exist_ok=True)
    model, flags = KINDS[kind]
    mlir = os.path.join(work, "model.mlir")
    subprocess.run([os.path.join(build, "bin", "dualpipe-gen"), model] + flags +
                   ["-o", mlir], check=True)
    out = os.path.join(work, "step")
    compiler = os.path.join(build, "bin", "dualpipe-compile")
    stamp = os.path.join(work, "stamp")
    key = "%s %s %d" % (os.path.getmtime(compiler), open(mlir).read(), M)
    if not (os.path.exists(stamp) and open(stamp).read() == key):
        t0 = time.perf_counter()
        subprocess.run([compiler, mlir, "--schedule=gpipe", "--ranks=1",
                        "--microbatches=%d" % M, "-o", out], check=True,
                       capture_output=True)
        print("compiled %s-%s in %.1f s" % (label, kind, time.perf_counter() - t0),
              file=sys.stderr)
        open(stamp, "w").write(key)
    return out


def torch_step(py, kind, M, threads):
    model, flags = KINDS[kind]
    cmd = [py, os.path.join(ROOT, "bench", "torch_models.py"), model] + \
        flags + ["--M=%d" % M, "--steps=20", "--threads=%d" % (threads or 1)]
    _, _, out = timed(cmd)
    t = json.loads(out.strip().splitlines()[-1])
    return t["cpu_median_ms"], t["median_ms"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("steps", nargs="*", help="KIND:STEPDIR")
    ap.add_argument("--build", action="append", default=[],
                    help="LABEL:BUILDDIR: compile --kinds with this build")
    ap.add_argument("--kinds", default="mlp,gpt",
                    help="with --build: models (%s)" % ",".join(KINDS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--M", type=int, default=8)
    ap.add_argument("--run", default=os.path.join(ROOT, "build", "bin", "dualpipe-run"))
    ap.add_argument("--python", default=sys.executable)
    a = ap.parse_args()
    set_threads(a.threads)
    # name -> (run, step folder, runtime library folder or None)
    steps = {}
    for s in a.steps:
        steps[s] = (a.run, s.split(":", 1)[1], None)
    for b in a.build:
        label, build = b.split(":", 1)
        build = os.path.abspath(build)
        for kind in a.kinds.split(","):
            if kind not in KINDS:
                raise SystemExit("unknown kind %s (%s)" % (kind, ",".join(KINDS)))
            steps["%s:%s" % (kind, label)] = (
                os.path.join(build, "bin", "dualpipe-run"),
                compile_step(build, label, kind, a.M), os.path.join(build, "lib"))
    if not steps:
        raise SystemExit("nothing to run: give KIND:STEPDIR or --build")
    rows = {s: [] for s in steps}
    kinds = sorted({s.split(":", 1)[0] for s in steps})
    for k in kinds:
        rows["torch:" + k] = []
    for _ in range(a.repeats):
        for s, (run, folder, lib) in steps.items():
            rows[s].append(dualpipe_step(run, folder, lib))
        for k in kinds:
            rows["torch:" + k].append(torch_step(a.python, k, a.M, a.threads))
    print("%-40s %12s %12s  (median of %d; ms per step, %d thread%s)"
          % ("step", "cpu ms", "wall ms", a.repeats, a.threads,
             "" if a.threads == 1 else "s"))
    for name, vals in rows.items():
        print("%-40s %12.1f %12.1f   cpu %s" % (
            name, statistics.median(v[0] for v in vals),
            statistics.median(v[1] for v in vals),
            " ".join("%.1f" % v[0] for v in vals)))
    print("load average:", os.getloadavg())


if __name__ == "__main__":
    main()
