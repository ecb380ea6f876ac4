#!/usr/bin/env python3
"""Runs dualpipe's benchmarks and writes their results as JSON.

    python3 bench/bench.py [--only=compile,schedule,runtime,torch] [--quick]
    python3 bench/bench.py --only=compile --layers=12 --opt-level=3
    python3 bench/bench.py --only=runtime --compile-only

Sections (each writes bench/results/<section>.json):
  compile   per-phase (--time-phases) and per-pass (--mlir-timing) compile
            time, CPU time and peak RSS of dualpipe-compile for gpt models of
            12, 24, 48 and 96 layers, DualPipe on 8 ranks, 16 micro-batches,
            at --opt-level=0 (--opt-level=K and --layers=L,.. for others,
            merged into the saved results), and the tensor-level passes alone
            (dualpipe-opt)
  schedule  simulated bubble ratio and peak activations of every schedule,
            N in {4, 8, 16}, M in {2N, 4N, 8N}, at the cost model's F:B:W of
            a GPT layer
  runtime   compiled MLP and GPT training steps run by dualpipe-run on CPU
            (ranks as threads): step time, per-rank busy time from the
            trace's compute actions, runtime cost per send/receive, and the
            simulator's makespan with the measured action costs
  torch     the same MLP and GPT training steps in PyTorch eager (one thread,
            bench/torch_models.py) against the compiled 1-rank steps;
            skipped when PyTorch is absent

bench/report.py turns the JSON into bench/REPORT.md and bench/plots/*.svg.
Environment: DUALPIPE_BIN (default build-bench/bin), BENCH_WORK (scratch
folder, default /tmp/dualpipe-bench), BENCH_COMPILE_CAP (seconds per
compile, default 2400), BENCH_MEMORY_CAP_GB (address space, default 14).
"""
import argparse
import json
import math
import os
import re
import resource
import shlex
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("DUALPIPE_BIN", os.path.join(ROOT, "build-bench", "bin"))
WORK = os.environ.get("BENCH_WORK", "/tmp/dualpipe-bench")
RESULTS = os.path.join(ROOT, "bench", "results")
CAP = float(os.environ.get("BENCH_COMPILE_CAP", "2400"))


def tool(name):
    return os.path.join(BIN, name)


def log(msg):
    print("[bench] " + msg, flush=True)


def run(cmd, timeout=None, check=True):
    """Runs cmd (a list); returns (rc, stdout, stderr, wall s, child cpu s).
    rc is None when the timeout killed it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc = None
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if check and rc != 0:
        sys.stderr.write(err[-4000:])
        raise SystemExit("bench: failed (%s): %s" % (rc, " ".join(map(shlex.quote, cmd))))
    return rc, out, err, wall, cpu


MEM_CAP = int(float(os.environ.get("BENCH_MEMORY_CAP_GB", "14")) * (1 << 30))


def run_capped(cmd):
    """Runs a compile under the time cap (timeout -s KILL) and an address
    space cap; returns (status, stderr, wall s, cpu s, peak RSS MiB) with
    status 'ok', 'timeout' or 'failed: ...'."""
    tf = os.path.join(WORK, "time.txt")
    full = ["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf,
            "timeout", "-s", "KILL", str(int(CAP))] + cmd

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (MEM_CAP, MEM_CAP))
    t0 = time.monotonic()
    p = subprocess.run(full, capture_output=True, text=True, preexec_fn=limit)
    wall = time.monotonic() - t0
    try:
        e, u, sy, m = open(tf).read().split()[-4:]
        cpu, rss = float(u) + float(sy), float(m) / 1024
    except (OSError, ValueError):
        cpu, rss = None, None
    if p.returncode in (124, 137) and wall >= CAP - 1:
        cpu, rss = None, None  # what time(1) saw was timeout(1), not the compile
    if p.returncode == 0:
        status = "ok"
    elif p.returncode in (124, 137) and wall >= CAP - 1:
        status = "timeout"
    else:
        tail = p.stderr.strip().splitlines()[-1:] or ["?"]
        status = "failed (exit %d): %s" % (p.returncode, tail[0][:200])
    return status, p.stderr, wall, cpu, rss


def cmdline(cmd):
    return " ".join(shlex.quote(c.replace(BIN + "/", "") if c.startswith(BIN) else c)
                    for c in cmd)


def save(section, data):
    os.makedirs(RESULTS, exist_ok=True)
    data["machine"] = machine()
    with open(os.path.join(RESULTS, section + ".json"), "w") as f:
        json.dump(data, f, indent=1)
    log("wrote bench/results/%s.json" % section)


def machine():
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(),
            "load_average": os.getloadavg()[0],
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def timing_reports(stderr):
    """The --mlir-timing --mlir-output-format=json reports, in order."""
    reports, cur = [], None
    for line in stderr.splitlines():
        s = line.strip()
        if s == "[":
            cur = []
        elif s == "]" and cur is not None:
            reports.append(cur)
            cur = None
        elif cur is not None and s.startswith('{"'):
            e = json.loads(s.rstrip(","))
            cur.append({"name": e["name"], "wall": e["wall"]["duration"],
                        "user": e.get("user", e["wall"])["duration"]})
    return reports


# --------------------------------------------------------------------------
# 1. Compile time
# --------------------------------------------------------------------------

GPT_SMALL = ["--hidden=32", "--heads=2", "--seq=8", "--vocab=64", "--batch=1"]
COMPILE_FLAGS = ["--schedule=dualpipe", "--ranks=8", "--microbatches=16"]
TENSOR_PIPELINE = ("builtin.module(dualpipe-partition{stages=8 ranks=8 "
                   "placement=dualpipe device=cpu},dualpipe-autodiff{"
                   "microbatches=16},dualpipe-schedule{schedule=dualpipe "
                   "microbatches=16},dualpipe-insert-comm,dualpipe-verify,"
                   "dualpipe-plan-memory,dualpipe-lower-schedule{"
                   "prefix=dualpipe_rank})")
COMPILE_LAYERS = [12, 24, 48, 96]


def phase_times(stderr):
    """dualpipe-compile --time-phases: {phase: wall s} (with 'total')."""
    m = re.search(r"phase times \(wall s\):(.*)$", stderr, re.M)
    if not m:
        return {}
    return {k: float(v) for k, v in re.findall(r"([A-Za-z][\w-]*) ([0-9.]+)", m.group(1))}


def compile_key(e):
    return (e["layers"], e.get("opt_level", 0))


def bench_compile(args):
    """dualpipe-compile of gpt models of growing depth, DualPipe on 8 ranks,
    16 micro-batches, at --opt-level=args.opt_level (default 0): phase
    times (--time-phases), per-pass MLIR times (--mlir-timing), CPU time and
    peak RSS. --layers=L1,L2 measures only those depths and merges them into
    bench/results/compile.json (entries keyed by depth and opt level)."""
    opt = args.opt_level
    layers_list = [int(x) for x in args.layers.split(",")] if args.layers else \
        ([12, 24] if args.quick else COMPILE_LAYERS)
    os.makedirs(WORK, exist_ok=True)
    out = {"config": "dualpipe-gen gpt --layers=L " + " ".join(GPT_SMALL),
           "compile_flags": " ".join(COMPILE_FLAGS),
           "full": [], "tensor_level": []}
    gave_up = None
    for L in layers_list:
        model = os.path.join(WORK, "gpt%d.mlir" % L)
        run([tool("dualpipe-gen"), "gpt", "--layers=%d" % L] + GPT_SMALL + ["-o", model])
        ops = sum(1 for line in open(model) if " = " in line)
        if not args.skip_tensor_level:
            # Tensor-level passes alone (dualpipe-opt): always cheap enough.
            cmd = [tool("dualpipe-opt"), model, "--pass-pipeline=" + TENSOR_PIPELINE,
                   "--mlir-timing", "--mlir-timing-display=list",
                   "--mlir-output-format=json", "-o", "/dev/null"]
            status, err, wall, cpu, rss = run_capped(cmd)
            rep = timing_reports(err)
            out["tensor_level"].append({
                "layers": L, "ops": ops, "finished": status == "ok", "status": status,
                "wall_s": wall, "cpu_s": cpu, "peak_rss_mib": rss,
                "passes": rep[0] if rep else [],
                "command": cmdline(cmd)})
            log("tensor-level %d layers: %.1f s wall" % (L, wall))
        # The whole compile.
        entry = {"layers": L, "ops": ops, "opt_level": opt, "cap_s": CAP,
                 "load_before": os.getloadavg()[0]}
        if gave_up is not None:
            entry.update(finished=False, attempted=False,
                         why="not attempted: the %d-layer compile did not "
                             "finish within the caps" % gave_up)
            out["full"].append(entry)
            continue
        outdir = os.path.join(WORK, "gpt%d-O%d" % (L, opt))
        cmd = [tool("dualpipe-compile"), model] + COMPILE_FLAGS + [
            "-o", outdir, "--opt-level=%d" % opt, "--time-phases",
            "--mlir-timing", "--mlir-timing-display=list",
            "--mlir-output-format=json"]
        log("compile %d layers -O%d (cap %d s) ..." % (L, opt, CAP))
        status, err, wall, cpu, rss = run_capped(cmd)
        ok = status == "ok"
        reps = timing_reports(err)
        entry.update(finished=ok, attempted=True, wall_s=wall, cpu_s=cpu,
                     peak_rss_mib=rss, status=status, phases=phase_times(err),
                     load_after=os.getloadavg()[0],
                     command=cmdline(cmd), reports=[])
        for i, r in enumerate(reps):
            entry["reports"].append({"index": i, "passes": r})
        if not ok:
            entry["why"] = ("killed at the %d s cap after %d MLIR pass-manager "
                            "runs had finished" % (CAP, len(reps))
                            if status == "timeout" else
                            "%s (address-space cap %d GiB; %d MLIR pass-manager "
                            "runs had finished)" % (status, MEM_CAP >> 30, len(reps)))
            gave_up = L
        out["full"].append(entry)
        log("compile %d layers -O%d: %s, %.1f s wall, %.1f s cpu, %s MiB" %
            (L, opt, "ok" if ok else "NOT FINISHED", wall, cpu or 0, rss))
    # Merge with what is on disk now (another depth may have been measured
    # meanwhile by another bench.py), keyed by depth and opt level.
    path = os.path.join(RESULTS, "compile.json")
    previous = json.load(open(path)) if os.path.exists(path) else None
    if previous and "full" in previous and previous["full"] and \
            "opt_level" not in previous["full"][0]:
        previous = None  # the old 4-rank, -O3 layout: not comparable
    if previous:
        for key, kf in (("full", compile_key), ("tensor_level", lambda e: e["layers"])):
            mine = {kf(e): e for e in out[key]}
            merged = [mine.pop(kf(e), e) for e in previous.get(key, [])]
            out[key] = sorted(merged + list(mine.values()), key=kf)
    save("compile", out)


# --------------------------------------------------------------------------
# 2. Schedule quality
# --------------------------------------------------------------------------

SCHEDULES = [("gpipe", 1), ("1f1b", 1), ("interleaved", 2), ("zb1p", 1),
             ("zbv", 2), ("dualpipe", 1), ("dualpipev", 2)]
GPT_LAYER = ["--layers=3", "--hidden=768", "--heads=12", "--seq=1024",
             "--vocab=50304", "--batch=1", "--boundary-every=1"]


def layer_costs():
    """F, B, I, W of the middle stage (one GPT block) on both profiles."""
    os.makedirs(WORK, exist_ok=True)
    model = os.path.join(WORK, "gpt-layer.mlir")
    ad = os.path.join(WORK, "gpt-layer-ad.mlir")
    run([tool("dualpipe-gen"), "gpt"] + GPT_LAYER + ["-o", model])
    run([tool("dualpipe-opt"), model, "--dualpipe-partition=stages=3",
         "--dualpipe-autodiff=microbatches=1", "-o", ad])
    costs = {}
    for device in ("cpu", "h200"):
        _, text, _, _, _ = run([tool("bench-cost-ratio"), ad, "device=" + device])
        fns = {f["name"]: f for f in json.loads(text)["functions"]}
        c = {k: fns["gpt_stage1" + suf]["seconds"] for k, suf in
             (("F", "_fwd"), ("B", "_bwd"), ("I", "_bwd_i"), ("W", "_bwd_w"))}
        c["flops"] = {k: fns["gpt_stage1" + suf]["flops"] for k, suf in
                      (("F", "_fwd"), ("B", "_bwd"), ("I", "_bwd_i"), ("W", "_bwd_w"))}
        costs[device] = c
    return costs, "dualpipe-gen gpt " + " ".join(GPT_LAYER) + \
        " | dualpipe-opt --dualpipe-partition=stages=3 " \
        "--dualpipe-autodiff=microbatches=1 | bench-cost-ratio device=cpu|h200 " \
        "(stage 1 = one GPT block)"


def cost_flag(F, B, W, scale=1.0):
    return "--cost=F=%.6g,B=%.6g,W=%.6g,FB=%.6g" % (F * scale, B * scale,
                                                    W * scale, (F + B) * scale)


def bench_schedule(args):
    costs, how = layer_costs()
    out = {"layer_costs": costs, "layer_costs_command": how, "rows": []}
    for device in ("h200", "cpu"):
        c = costs[device]
        F, B, W = 1.0, c["B"] / c["F"], c["W"] / c["F"]
        out.setdefault("ratios", {})[device] = {"F": F, "B": B, "W": W, "FB": F + B}
        for N in (4, 8, 16):
            for M in (2 * N, 4 * N, 8 * N):
                for name, v in SCHEDULES:
                    cmd = [tool("dualpipe-sched"), "--schedule=" + name,
                           "--ranks=%d" % N, "--microbatches=%d" % M,
                           cost_flag(F, B, W, 1.0 / v), "--emit=summary"]
                    rc, text, err, _, _ = run(cmd, check=False)
                    row = {"device": device, "schedule": name, "N": N, "M": M,
                           "command": cmdline(cmd)}
                    if rc != 0:
                        row["error"] = (err.strip() or text.strip()).splitlines()[-1][:200]
                    else:
                        s = json.loads(text)
                        ideal = M * (F + B)  # one rank's work for an N-way stage
                        row.update(
                            stages=s["stages"], makespan=s["makespan"],
                            bubble_ratio=s["bubble_ratio"],
                            max_bubble=s["max_bubble"],
                            ideal=ideal, efficiency=ideal / s["makespan"],
                            # in micro-batches of an N-way stage's activations
                            peak_act=max(r["peak_activations"] for r in s["ranks"]) / v,
                            peak_act_stage_mb=max(r["peak_activations"] for r in s["ranks"]),
                            param_copies=s["parameter_copies"])
                    out["rows"].append(row)
        log("schedules simulated on the %s ratios" % device)
    save("schedule", out)


# --------------------------------------------------------------------------
# 3. Runtime on CPU
# --------------------------------------------------------------------------

MLP = ["--layers=8", "--width=256", "--batch=32"]
GPT = ["--layers=4", "--hidden=64", "--heads=4", "--seq=32", "--vocab=256", "--batch=4"]
# (model, schedule, ranks N, micro-batches M); the N=1 rows are the reference
# steps (every --check compares against the 1-rank step anyway).
RUNS = [("mlp", "gpipe", 1, 8), ("mlp", "1f1b", 2, 8), ("mlp", "dualpipe", 2, 8),
        ("mlp", "dualpipe", 4, 16),
        ("gpt", "gpipe", 1, 8), ("gpt", "dualpipe", 2, 8), ("gpt", "dualpipe", 4, 8)]
MODEL_FLAGS = {"mlp": MLP, "gpt": GPT}


def model_file(kind):
    os.makedirs(WORK, exist_ok=True)
    model = os.path.join(WORK, "%s-runtime.mlir" % kind)
    gen = [tool("dualpipe-gen"), kind] + MODEL_FLAGS[kind] + ["-o", model]
    tmp = model + ".new"
    run(gen[:-1] + [tmp])
    # Replace the model only when it changed, so that its compiled steps
    # (checked against its modification time) are reused.
    if os.path.exists(model) and open(model).read() == open(tmp).read():
        os.remove(tmp)
    else:
        os.replace(tmp, model)
    return model, gen


def compile_step(kind, model, schedule, N, M):
    """Compiles (at the default --opt-level=3) unless step.so is newer than
    both the model and dualpipe-compile. Returns (outdir, command, wall s,
    cpu s or None when reused)."""
    outdir = os.path.join(WORK, "%s-%s-n%d-m%d" % (kind, schedule, N, M))
    cmd = [tool("dualpipe-compile"), model, "--schedule=" + schedule,
           "--ranks=%d" % N, "--microbatches=%d" % M, "-o", outdir]
    so = os.path.join(outdir, "step.so")
    newest = max(os.path.getmtime(model), os.path.getmtime(tool("dualpipe-compile")))
    if os.path.exists(so) and os.path.getmtime(so) > newest:
        return outdir, cmd, None, None
    log("compiling %s" % cmdline(cmd))
    _, _, _, wall, cpu = run(cmd, timeout=3600)
    return outdir, cmd, wall, cpu


def parse_steps(text):
    return [float(m.group(1)) for m in
            re.finditer(r"^step \d+ loss \S+ time ([0-9.]+) ms", text, re.M)]


def analyse_trace(path, ranks):
    """Per rank, from the last step's trace: compute actions (cat compute,
    with their kind), sends, receives, all-reduces."""
    d = json.load(open(path))
    ev = [e for e in d["traceEvents"] if e.get("ph") == "X"]
    per = {}
    t0 = min((e["ts"] for e in ev), default=0.0)
    for r in range(ranks):
        mine = [e for e in ev if e["pid"] == r]
        recv = [e["dur"] for e in mine if e["name"].startswith("recv")]
        send = [e["dur"] for e in mine if e["name"].startswith("send")]
        ar = [e["dur"] for e in mine if e.get("cat") == "collective"]
        comp = [e for e in mine if e.get("cat") == "compute"]
        kinds, stages = {}, {}
        for e in comp:
            kinds.setdefault(e.get("args", {}).get("kind", "?"), []).append(e["dur"])
            if e.get("args", {}).get("kind") in ("F", "B", "I", "W"):
                stages[e["args"].get("stage", -1)] = stages.get(e["args"].get("stage", -1), 0.0) + e["dur"]
        first = min((e["ts"] for e in mine), default=t0)
        last = max((e["ts"] + e["dur"] for e in mine), default=t0)
        # Busy = the union of the compute intervals: an overlapped F&B pair
        # is one action whose F and B parts are also on the timeline, nested
        # inside it.
        busy, end = 0.0, None
        for a, b in sorted((e["ts"], e["ts"] + e["dur"]) for e in comp):
            if end is None or a >= end:
                busy += b - a
                end = b
            elif b > end:
                busy += b - end
                end = b
        top = [e for e in comp if e.get("args", {}).get("kind") == "F&B" or not any(
            o is not e and o.get("args", {}).get("kind") == "F&B" and o["ts"] <= e["ts"]
            and e["ts"] + e["dur"] <= o["ts"] + o["dur"] for o in comp)]
        # time on the rank that is neither compute nor inside the runtime's
        # send/recv/all-reduce: the rank program's own glue between actions
        per[r] = {"events": len(mine), "recv": len(recv), "send": len(send),
                  "allreduce": len(ar), "compute_events": len(comp),
                  "actions": len(top),
                  "first_event_us": first - t0, "last_event_end_us": last - t0,
                  "comm_us": sum(recv) + sum(ar) + sum(send),
                  "busy_us": busy,
                  "glue_us": (last - first) - busy - (sum(recv) + sum(ar) + sum(send)),
                  "kind_us": {k: statistics.mean(v) for k, v in kinds.items()},
                  "stage_us": stages,
                  "kind_n": {k: len(v) for k, v in kinds.items()},
                  "send_us": send, "recv_us": recv, "allreduce_us": ar}
    return per


def measured_costs(per):
    """Mean F, B (full backward), W and F&B durations (ms) over the ranks'
    compute actions; B = I + W where the schedule splits the backward."""
    acc = {}
    for p in per.values():
        for k, v in p["kind_us"].items():
            acc.setdefault(k, []).extend([v] * p["kind_n"][k])
    mean = {k: statistics.mean(v) / 1e3 for k, v in acc.items()}
    F = mean.get("F")
    W = mean.get("W")
    if "B" in mean:
        B = mean["B"]
    elif "I" in mean and W is not None:
        B = mean["I"] + W
    else:
        B = None
    st = {}
    for p in per.values():
        for k, v in p.get("stage_us", {}).items():
            st[int(k)] = st.get(int(k), 0.0) + v / 1e3
    return {"F": F, "B": B, "W": W, "I": mean.get("I"), "FB": mean.get("F&B"),
            "stage_ms": {str(k): st[k] for k in sorted(st)},
            "n": {k: len(v) for k, v in acc.items()}}


def reanalyse(entry, per):
    """Fills a runtime entry's trace figures from analyse_trace's result."""
    entry["trace"] = {r: {k: v for k, v in p_.items()
                          if not (k.endswith("_us") and isinstance(v, list))}
                      for r, p_ in per.items()}
    entry["measured_costs"] = measured_costs(per)
    sends = [x for q in per.values() for x in q["send_us"]]
    recvs = [x for q in per.values() for x in q["recv_us"]]
    entry["send_us_median"] = statistics.median(sends) if sends else None
    entry["recv_us_p10"] = (sorted(recvs)[len(recvs) // 10] if recvs else None)
    entry["recv_us_min"] = min(recvs) if recvs else None
    entry["trace_span_ms"] = max(q["last_event_end_us"] for q in per.values()) / 1e3
    nact = sum(q["actions"] for q in per.values())
    entry["glue_us_per_action"] = (sum(q["glue_us"] for q in per.values()) / nact
                                   if nact else None)


def predict(out):
    """For every multi-rank run: dualpipe-sched's makespan with the per-action
    costs measured in that run's own trace (mean F, B = I + W, W, F&B), against
    the measured span of the traced step. Where the schedule has no W or F&B
    action, W is 0 and F&B is F + B."""
    for e in out["runs"]:
        if e["N"] == 1:
            continue
        c = e["measured_costs"]
        if c["F"] is None or c["B"] is None:
            continue
        F, B = c["F"], c["B"]
        W = min(c["W"] if c["W"] is not None else 0.0, B)
        FB = c["FB"] if c["FB"] is not None else F + B
        cost = "--cost=F=%.6g,B=%.6g,W=%.6g,FB=%.6g" % (F, B, W, FB)
        cmd = [tool("dualpipe-sched"), "--schedule=" + e["schedule"],
               "--ranks=%d" % e["N"], "--microbatches=%d" % e["M"], cost,
               "--emit=summary"]
        _, text, _, _, _ = run(cmd)
        s = json.loads(text)
        e["sim_command"] = cmdline(cmd)
        e["predicted_ms"] = s["makespan"]
        e["predicted_busy_ms"] = [r["busy"] for r in s["ranks"]]
        e["predicted_efficiency"] = statistics.mean(r["busy"] for r in s["ranks"]) / s["makespan"]
        e["sim_error_span"] = (e["trace_span_ms"] - s["makespan"]) / s["makespan"]
        e["sim_error_step"] = (e["median_ms"] - s["makespan"]) / s["makespan"]


def bench_runtime(args):
    steps = 4 if args.quick else 10
    out = {"steps": steps, "runs": [], "models": {}}
    models = {}
    for kind in ("mlp", "gpt"):
        model, gen = model_file(kind)
        models[kind] = model
        out["models"][kind] = cmdline(gen)
    compiled = []
    for kind, schedule, N, M in RUNS:
        compiled.append(compile_step(kind, models[kind], schedule, N, M))
    if args.compile_only:
        log("compiled; --compile-only: nothing run")
        return
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    for (kind, schedule, N, M), (outdir, ccmd, cwall, ccpu) in zip(RUNS, compiled):
        trace = os.path.join(outdir, "trace.json")
        tf = os.path.join(WORK, "run-time.txt")
        cmd = [tool("dualpipe-run"), outdir, "--steps=%d" % steps, "--check",
               "--no-progress", "--trace=" + trace]
        load = os.getloadavg()[0]
        p = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf] + cmd,
                           capture_output=True, text=True, timeout=900, env=env)
        if p.returncode != 0:
            sys.stderr.write(p.stderr[-3000:])
            raise SystemExit("bench: failed: " + cmdline(cmd))
        text = p.stdout
        e_, u_, s_, m_ = open(tf).read().split()[-4:]
        # CPU time per step, robust to the machine's load: the same run with
        # 2 steps, and the difference of the two processes' user+sys time
        # over the difference of steps (start-up and the --check reference
        # cancel out). Multi-rank: summed over the ranks' threads.
        cmd2 = [tool("dualpipe-run"), outdir, "--steps=2", "--check", "--no-progress"]
        p2 = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf] + cmd2,
                            capture_output=True, text=True, timeout=900, env=env)
        e2, u2, s2, _ = open(tf).read().split()[-4:]
        cpu_step = ((float(u_) + float(s_)) - (float(u2) + float(s2))) / (steps - 2) * 1e3 \
            if p2.returncode == 0 else None
        times = parse_steps(text)
        steady = times[1:] if len(times) > 1 else times
        entry = {"model": kind, "schedule": schedule, "N": N, "M": M,
                 "compile_command": cmdline(ccmd), "compile_wall_s": cwall,
                 "compile_cpu_s": ccpu, "run_command": cmdline(cmd),
                 "step_ms": times, "median_ms": statistics.median(steady),
                 "min_ms": min(steady), "process_wall_s": float(e_),
                 "process_cpu_s": float(u_) + float(s_),
                 "process_peak_rss_mib": float(m_) / 1024,
                 "cpu_ms_per_step": cpu_step,
                 "cpu_per_step_command": cmdline(cmd) + " vs " + cmdline(cmd2) +
                 " under /usr/bin/time: (CPU difference) / %d steps" % (steps - 2),
                 "load_before": load, "check": "PASS" in text}
        reanalyse(entry, analyse_trace(trace, N))
        out["runs"].append(entry)
        log("%s %s N=%d M=%d: median step %.1f ms (load %.1f)" %
            (kind, schedule, N, M, entry["median_ms"], load))
    predict(out)
    save("runtime", out)


def bench_predict(args):
    """Recomputes the predictions of bench/results/runtime.json."""
    path = os.path.join(RESULTS, "runtime.json")
    out = json.load(open(path))
    for entry in out["runs"]:
        trace = entry["run_command"].split("--trace=")[-1]
        if os.path.exists(trace):
            reanalyse(entry, analyse_trace(trace, entry["N"]))
    predict(out)
    save("runtime", out)


def torch_python():
    # Debian's python3-torch lives in /usr/bin/python3's dist-packages, which
    # another python3 first on PATH (pyenv, venv) does not see.
    for cand in (sys.executable, "/usr/bin/python3"):
        if not os.path.exists(cand):
            continue
        probe = subprocess.run([cand, "-c", "import torch; print(torch.__version__)"],
                               capture_output=True, text=True)
        if probe.returncode == 0:
            return cand, probe.stdout.strip()
    return None, None


def bench_torch(args):
    py, version = torch_python()
    if py is None:
        save("torch", {"skipped": "PyTorch is not installed (python3 -c 'import "
                       "torch' fails); apt-get install python3-torch to run "
                       "this comparison"})
        log("torch: skipped, PyTorch absent")
        return
    rt_path = os.path.join(RESULTS, "runtime.json")
    rt = json.load(open(rt_path)) if os.path.exists(rt_path) else {"runs": []}
    out = {"torch": version, "python": py, "rows": []}
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    for e in rt["runs"]:
        if e["N"] != 1:
            continue
        kind, M = e.get("model", "mlp"), e["M"]
        cmd = [py, os.path.join(ROOT, "bench", "torch_models.py"), kind] + \
            MODEL_FLAGS[kind] + ["--M=%d" % M, "--steps=20", "--threads=1"]
        load = os.getloadavg()[0]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
        if p.returncode != 0:
            raise SystemExit("bench: the PyTorch step failed:\n" + p.stderr[-2000:])
        t = json.loads(p.stdout.strip().splitlines()[-1])
        # dualpipe's CPU time per step: the run's process CPU time over its
        # steps (start-up, the --check reference and the checks included:
        # an upper bound)
        out["rows"].append({"model": kind + " " + " ".join(MODEL_FLAGS[kind]), "kind": kind,
                            "M": M, "torch_ms": t["median_ms"], "torch_min_ms": t["min_ms"],
                            "torch_cpu_ms": t["cpu_median_ms"],
                            "torch_steps": t["step_ms"], "threads": t["threads"],
                            "load_before": load,
                            "dualpipe_1rank_ms": e["median_ms"],
                            "dualpipe_1rank_min_ms": e["min_ms"],
                            "dualpipe_cpu_ms": e.get("cpu_ms_per_step"),
                            "ratio_cpu": (e["cpu_ms_per_step"] / t["cpu_median_ms"]
                                          if e.get("cpu_ms_per_step") else None),
                            "dualpipe_cpu_command": e.get("cpu_per_step_command"),
                            "ratio": e["median_ms"] / t["median_ms"],
                            "ratio_min": e["min_ms"] / t["min_ms"],
                            "dualpipe_command": e["run_command"],
                            "dualpipe_compile_command": e["compile_command"],
                            "torch_command": "OMP_NUM_THREADS=1 /usr/bin/python3 " +
                                            " ".join(cmd[1:]).replace(ROOT + "/", "")})
        log("torch %s M=%d: %.1f ms vs dualpipe 1-rank %.1f ms" %
            (kind, M, t["median_ms"], e["median_ms"]))
    save("torch", out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="compile,schedule,runtime,torch")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--layers", default="",
                    help="compile: only these depths (comma-separated), merged "
                         "into the saved bench/results/compile.json")
    ap.add_argument("--opt-level", type=int, default=0,
                    help="compile: dualpipe-compile --opt-level (default 0)")
    ap.add_argument("--skip-tensor-level", action="store_true",
                    help="compile: do not rerun the dualpipe-opt tensor-level timing")
    ap.add_argument("--compile-only", action="store_true",
                    help="runtime: compile the steps, run nothing")
    args = ap.parse_args()
    for s in args.only.split(","):
        log("section " + s)
        {"compile": bench_compile, "schedule": bench_schedule,
         "runtime": bench_runtime, "torch": bench_torch,
         "predict": bench_predict}[s](args)


if __name__ == "__main__":
    main()
