#!/usr/bin/env python3
"""How well the schedule simulator predicts a measured training step (#18).

    python3 bench/sim_accuracy.py [--steps=10] [--rows=mlp:dualpipe:2:8,...]
                                  [--out=FILE.json]

For each row (model, schedule, ranks N, micro-batches M; default the runtime
bench's DualPipe and 1F1B rows of bench/bench.py plus ZB-H1 on the same MLP)
it compiles the step as bench/bench.py's runtime section does (the same
models, cached in BENCH_WORK), runs `dualpipe-run --steps=S --trace`, and
reads the traced step's compute actions: the mean duration of F, B, I and W
per stage (an overlapped pair's F and B parts count as F and B). Those
per-stage lists go to the simulator (`dualpipe-sched --schedule=K --cost=
F=f0,f1,..,B=..,W=..[,I=..]`, a pair costing its F + B, messages free), and
the predicted makespan is set against the traced step's span (first to last
event over all ranks) and the median measured step time (steps 1..S-1). For
comparison, the prediction from one mean cost per kind over all stages
(what bench.py's runtime section feeds the simulator).

Environment: DUALPIPE_BIN (default build/bin), BENCH_WORK as bench.py.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DUALPIPE_BIN", os.path.join(ROOT, "build", "bin"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import bench  # noqa: E402  (the runtime section's models and helpers)

DEFAULT_ROWS = [("mlp", "1f1b", 2, 8), ("mlp", "zb1p", 2, 8),
                ("mlp", "dualpipe", 2, 8), ("mlp", "dualpipe", 4, 16),
                ("gpt", "dualpipe", 2, 8), ("gpt", "dualpipe", 4, 8)]


def per_stage_costs(trace_path):
    """{stage: {kind: mean ms}} over the traced step's compute actions."""
    d = json.load(open(trace_path))
    acc = {}
    for e in d["traceEvents"]:
        if e.get("ph") != "X" or e.get("cat") != "compute":
            continue
        a = e.get("args", {})
        k, s = a.get("kind"), a.get("stage", -1)
        if k in ("F", "B", "I", "W") and s is not None and s >= 0:
            acc.setdefault(int(s), {}).setdefault(k, []).append(e["dur"] / 1e3)
    return {s: {k: statistics.mean(v) for k, v in ks.items()} for s, ks in acc.items()}


def span_ms(trace_path):
    d = json.load(open(trace_path))
    ev = [e for e in d["traceEvents"] if e.get("ph") == "X"]
    return (max(e["ts"] + e["dur"] for e in ev) - min(e["ts"] for e in ev)) / 1e3


def cost_lists(costs, stages):
    F, B, W, I = [], [], [], []
    have_i = any("I" in costs.get(s, {}) for s in range(stages))
    for s in range(stages):
        c = costs.get(s, {})
        f = c.get("F", 0.0)
        w = c.get("W", 0.0)
        i = c.get("I")
        b = c.get("B", (i or 0.0) + w)
        F.append(f)
        B.append(max(b, w))
        W.append(w)
        I.append(i if i is not None else max(b - w, 0.0))
    flag = "--cost=F=%s,B=%s,W=%s" % tuple(",".join("%.6g" % x for x in v) for v in (F, B, W))
    if have_i:
        flag += ",I=" + ",".join("%.6g" % x for x in I)
    return flag


def simulate(schedule, n, m, cost_flag):
    cmd = [bench.tool("dualpipe-sched"), "--schedule=" + schedule, "--ranks=%d" % n,
           "--microbatches=%d" % m, cost_flag, "--emit=summary"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit("sim_accuracy: %s: %s" % (bench.cmdline(cmd), p.stderr))
    return json.loads(p.stdout), bench.cmdline(cmd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--rows", default="")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    rows = DEFAULT_ROWS
    if args.rows:
        rows = []
        for r in args.rows.split(","):
            k, s, n, m = r.split(":")
            rows.append((k, s, int(n), int(m)))
    models = {}
    out = []
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    for kind, schedule, n, m in rows:
        if kind not in models:
            models[kind] = bench.model_file(kind)[0]
        outdir, ccmd, _, _ = bench.compile_step(kind, models[kind], schedule, n, m)
        trace = os.path.join(outdir, "trace.json")
        cmd = [bench.tool("dualpipe-run"), outdir, "--steps=%d" % args.steps,
               "--no-progress", "--trace=" + trace]
        load = os.getloadavg()[0]
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if p.returncode != 0:
            raise SystemExit("sim_accuracy: failed: %s\n%s" % (bench.cmdline(cmd), p.stderr[-2000:]))
        times = bench.parse_steps(p.stdout)
        median = statistics.median(times[1:] if len(times) > 1 else times)
        costs = per_stage_costs(trace)
        stages = max(costs) + 1
        flag = cost_lists(costs, stages)
        sim, scmd = simulate(schedule, n, m, flag)
        # One mean cost per kind over all stages (bench.py's prediction).
        means = {}
        for c in costs.values():
            for k, v in c.items():
                means.setdefault(k, []).append(v)
        uni = {s: {k: statistics.mean(v) for k, v in means.items()} for s in range(stages)}
        usim, _ = simulate(schedule, n, m, cost_lists(uni, stages))
        span = span_ms(trace)
        e = {"model": kind, "schedule": schedule, "N": n, "M": m,
             "run_command": bench.cmdline(cmd), "compile_command": bench.cmdline(ccmd),
             "sim_command": scmd, "load_before": load,
             "per_stage_ms": {str(s): costs[s] for s in sorted(costs)},
             "measured_span_ms": span, "measured_median_step_ms": median,
             "predicted_ms": sim["makespan"], "predicted_uniform_ms": usim["makespan"],
             "error_vs_span": (sim["makespan"] - span) / span,
             "error_vs_step": (sim["makespan"] - median) / median,
             "uniform_error_vs_span": (usim["makespan"] - span) / span}
        out.append(e)
        print("%-4s %-9s N=%d M=%-3d load %4.1f  measured span %8.3f ms, median step %8.3f ms;"
              "  predicted per-stage %8.3f ms (%+6.1f%% of span, %+6.1f%% of step),"
              " one mean per kind %8.3f ms (%+6.1f%% of span)"
              % (kind, schedule, n, m, load, span, median, sim["makespan"],
                 100 * e["error_vs_span"], 100 * e["error_vs_step"],
                 usim["makespan"], 100 * e["uniform_error_vs_span"]), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
