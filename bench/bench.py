#!/usr/bin/env python3
"""Runs dualpipe's benchmarks and writes their results as JSON.

    python3 bench/bench.py [--only=compile,schedule,runtime,torch] [--quick]

Sections (each writes bench/results/<section>.json):
  compile   per-pass compile time of dualpipe-compile for gpt models of
            growing depth (--mlir-timing), and the tensor-level passes alone
            (dualpipe-opt) up to 96 layers
  schedule  simulated bubble ratio and peak activations of every schedule,
            N in {4, 8, 16}, M in {2N, 4N, 8N}, at the cost model's F:B:W of
            a GPT layer
  runtime   compiled MLP training steps run by dualpipe-run on CPU (ranks as
            threads): step time, per-rank busy time from the trace, runtime
            cost per send/receive, and the simulator's prediction
  torch     the same MLP training step in PyTorch eager (one thread) against
            the compiled 1-rank step; skipped when PyTorch is absent

bench/report.py turns the JSON into bench/REPORT.md and bench/plots/*.svg.
Environment: DUALPIPE_BIN (default build-bench/bin), BENCH_WORK (scratch
folder, default /tmp/dualpipe-bench), BENCH_COMPILE_CAP (seconds per
compile, default 900).
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
CAP = float(os.environ.get("BENCH_COMPILE_CAP", "900"))


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


MEM_CAP = int(float(os.environ.get("BENCH_MEMORY_CAP_GB", "10")) * (1 << 30))


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
COMPILE_FLAGS = ["--schedule=dualpipe", "--ranks=4", "--microbatches=8"]
TENSOR_PIPELINE = ("builtin.module(dualpipe-partition{stages=4 ranks=4 "
                   "placement=dualpipe device=cpu},dualpipe-autodiff{"
                   "microbatches=8},dualpipe-schedule{schedule=dualpipe "
                   "microbatches=8},dualpipe-insert-comm,dualpipe-verify,"
                   "dualpipe-plan-memory,dualpipe-lower-schedule{"
                   "prefix=dualpipe_rank})")
REPORT_NAMES = ["pipeline, tensor level", "reference, tensor level",
                "pipeline, lowering to LLVM dialect",
                "reference, lowering to LLVM dialect"]


def bench_compile(args):
    layers_list = [3, 6, 12, 24, 48, 96] if not args.quick else [3, 6]
    previous = None
    if args.layers:
        # Measure only these depths and merge them into the saved results.
        layers_list = [int(x) for x in args.layers.split(",")]
        path = os.path.join(RESULTS, "compile.json")
        previous = json.load(open(path)) if os.path.exists(path) else None
    os.makedirs(WORK, exist_ok=True)
    out = {"config": "dualpipe-gen gpt --layers=L " + " ".join(GPT_SMALL),
           "compile_flags": " ".join(COMPILE_FLAGS), "cap_s": CAP,
           "full": [], "tensor_level": []}
    gave_up = None
    for L in layers_list:
        model = os.path.join(WORK, "gpt%d.mlir" % L)
        run([tool("dualpipe-gen"), "gpt", "--layers=%d" % L] + GPT_SMALL + ["-o", model])
        ops = sum(1 for line in open(model) if " = " in line)
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
        entry = {"layers": L, "ops": ops}
        if gave_up is not None:
            entry.update(finished=False, attempted=False,
                         why="not attempted: the %d-layer compile did not "
                             "finish within the caps" % gave_up)
            out["full"].append(entry)
            continue
        done = [e for e in out["full"] if e.get("finished")]
        if len(done) >= 2 and not args.layers:
            a, b = done[-2], done[-1]
            k = math.log(b["wall_s"] / a["wall_s"]) / math.log(b["layers"] / a["layers"])
            predicted = b["wall_s"] * (L / b["layers"]) ** k
            if predicted > CAP:
                entry.update(finished=False, attempted=False, predicted_s=predicted,
                             why="not attempted: the %d- and %d-layer compiles grow as "
                                 "layers^%.2f, which predicts about %.0f s here, above the "
                                 "%d s cap" % (a["layers"], b["layers"], k, predicted, CAP))
                out["full"].append(entry)
                log("compile %d layers: skipped, predicted %.0f s" % (L, predicted))
                continue
        outdir = os.path.join(WORK, "gpt%d" % L)
        cmd = [tool("dualpipe-compile"), model] + COMPILE_FLAGS + [
            "-o", outdir, "--mlir-timing", "--mlir-timing-display=list",
            "--mlir-output-format=json"]
        status, err, wall, cpu, rss = run_capped(cmd)
        rc = 0 if status == "ok" else 1
        reps = timing_reports(err)
        entry.update(finished=rc == 0, attempted=True, wall_s=wall, cpu_s=cpu,
                     peak_rss_mib=rss, status=status,
                     command=cmdline(cmd), reports=[])
        for i, r in enumerate(reps):
            entry["reports"].append({"name": REPORT_NAMES[i] if i < 4 else str(i),
                                     "passes": r})
        mlir_wall = sum(p["wall"] for r in reps for p in r if p["name"] == "root")
        entry["mlir_wall_s"] = mlir_wall
        if rc == 0:
            entry["llvm_and_rest_wall_s"] = wall - mlir_wall
        else:
            entry["why"] = ("killed at the %d s cap after %d of 4 pass-manager "
                            "runs had finished" % (CAP, len(reps))
                            if status == "timeout" else
                            "%s (address-space cap %d GiB; %d of 4 pass-manager "
                            "runs had finished)" % (status, MEM_CAP >> 30, len(reps)))
            gave_up = L
        out["full"].append(entry)
        log("compile %d layers: %s, %.1f s wall, %.1f s cpu" %
            (L, "ok" if rc == 0 else "NOT FINISHED", wall, cpu or 0))
    if previous:
        for key in ("full", "tensor_level"):
            mine = {e["layers"]: e for e in out[key]}
            merged = [mine.pop(e["layers"], e) for e in previous[key]]
            out[key] = sorted(merged + list(mine.values()), key=lambda e: e["layers"])
        out["cap_s"] = max(previous.get("cap_s", CAP), CAP)
        out["caps_note"] = "depths %s measured separately with a %d s cap" % (
            args.layers, CAP)
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
RUNS = [("gpipe", 1, 8), ("1f1b", 2, 8), ("zb1p", 2, 8), ("dualpipe", 2, 8),
        ("1f1b", 4, 16), ("dualpipe", 4, 16), ("gpipe", 1, 16)]


def compile_mlp(model, schedule, N, M):
    outdir = os.path.join(WORK, "mlp-%s-n%d-m%d" % (schedule, N, M))
    cmd = [tool("dualpipe-compile"), model, "--schedule=" + schedule,
           "--ranks=%d" % N, "--microbatches=%d" % M, "-o", outdir]
    if not os.path.exists(os.path.join(outdir, "step.so")) or \
            os.path.getmtime(os.path.join(outdir, "step.so")) < os.path.getmtime(model):
        run(cmd, timeout=CAP)
    return outdir, cmd


def parse_steps(text):
    return [float(m.group(1)) for m in
            re.finditer(r"^step \d+ loss \S+ time ([0-9.]+) ms", text, re.M)]


def analyse_trace(path, ranks):
    d = json.load(open(path))
    ev = [e for e in d["traceEvents"] if e.get("ph") == "X"]
    per = {}
    for r in range(ranks):
        mine = [e for e in ev if e["pid"] == r]
        recv = [e["dur"] for e in mine if e["name"].startswith("recv")]
        send = [e["dur"] for e in mine if e["name"].startswith("send")]
        ar = [e["dur"] for e in mine if e.get("cat") == "collective"]
        comp = [e["dur"] for e in mine if e.get("cat") not in ("p2p", "collective")]
        last = max((e["ts"] + e["dur"] for e in mine), default=0.0)
        wait = sum(recv) + sum(ar) + sum(send)
        per[r] = {"events": len(mine), "recv": len(recv), "send": len(send),
                  "allreduce": len(ar), "compute_events": len(comp),
                  "last_event_end_us": last, "comm_us": wait,
                  "busy_us": last - wait,
                  "send_us": send, "recv_us": recv, "allreduce_us": ar}
    return per


def mlp_costs():
    """The cost model's F : B : W of one MLP layer (cpu profile): the middle
    stage of a 3-layer MLP cut after every layer, so that its backward has
    both an input and a weight part."""
    model = os.path.join(WORK, "mlp-layer.mlir")
    ad = os.path.join(WORK, "mlp-layer-ad.mlir")
    run([tool("dualpipe-gen"), "mlp", "--layers=3", "--width=256", "--batch=32",
         "--boundary-every=1", "-o", model])
    run([tool("dualpipe-opt"), model, "--dualpipe-partition=stages=3",
         "--dualpipe-autodiff=microbatches=1", "-o", ad])
    _, text, _, _, _ = run([tool("bench-cost-ratio"), ad, "device=cpu"])
    fns = {f["name"]: f for f in json.loads(text)["functions"]}
    return {k: fns["mlp_stage1" + suf]["seconds"] for k, suf in
            (("F", "_fwd"), ("B", "_bwd"), ("W", "_bwd_w"))}


def predict(out):
    """The simulator's predictions for every multi-rank run:
    - from the 1-rank step: F+B of an N-way stage = T1 / (M N), split by
      the cost model's F : B : W of an MLP layer, FB = F + B;
    - calibrated: the same ratios scaled so that the simulated mean busy
      time equals the run's measured mean busy time (tests the idle time
      the simulator predicts, not the speed of a rank)."""
    ratio = out["cost_model_ratio"] = mlp_costs()
    one_rank = {e["M"]: e["median_ms"] for e in out["runs"] if e["N"] == 1}
    fb = ratio["F"] + ratio["B"]
    for e in out["runs"]:
        if e["N"] == 1 or e["M"] not in one_rank:
            continue
        u = one_rank[e["M"]] / (e["M"] * e["N"])
        F, B, W = u * ratio["F"] / fb, u * ratio["B"] / fb, u * ratio["W"] / fb
        cmd = [tool("dualpipe-sched"), "--schedule=" + e["schedule"],
               "--ranks=%d" % e["N"], "--microbatches=%d" % e["M"],
               cost_flag(F, B, W), "--emit=summary"]
        _, text, _, _, _ = run(cmd)
        s = json.loads(text)
        e["sim_command"] = cmdline(cmd)
        e["predicted_ms"] = s["makespan"]
        e["predicted_busy_ms"] = [r["busy"] for r in s["ranks"]]
        e["sim_error"] = (e["median_ms"] - s["makespan"]) / s["makespan"]
        sim_busy = statistics.mean(r["busy"] for r in s["ranks"])
        meas_busy = statistics.mean(p["busy_us"] for p in e["trace"].values()) / 1e3
        scale = meas_busy / sim_busy
        e["calibrated_predicted_ms"] = s["makespan"] * scale
        e["calibrated_sim_error"] = (e["trace_span_ms"] - e["calibrated_predicted_ms"]) / \
            e["calibrated_predicted_ms"]
        e["predicted_efficiency"] = sim_busy / s["makespan"]


def bench_runtime(args):
    os.makedirs(WORK, exist_ok=True)
    model = os.path.join(WORK, "mlp8.mlir")
    gen = [tool("dualpipe-gen"), "mlp"] + MLP + ["-o", model]
    run(gen)
    steps = 4 if args.quick else 8
    out = {"model": cmdline(gen), "steps": steps, "runs": []}
    one_rank = {}
    for schedule, N, M in RUNS:
        outdir, ccmd = compile_mlp(model, schedule, N, M)
        trace = os.path.join(outdir, "trace.json")
        cmd = [tool("dualpipe-run"), outdir, "--steps=%d" % steps, "--check",
               "--trace=" + trace]
        _, text, _, _, _ = run(cmd, timeout=600)
        times = parse_steps(text)
        steady = times[1:] if len(times) > 1 else times
        entry = {"schedule": schedule, "N": N, "M": M,
                 "compile_command": cmdline(ccmd), "run_command": cmdline(cmd),
                 "step_ms": times, "median_ms": statistics.median(steady),
                 "min_ms": min(steady),
                 "check": "PASS" in text}
        per = analyse_trace(trace, N)
        entry["trace"] = {r: {k: v for k, v in p.items()
                              if not k.endswith("_us") or not isinstance(v, list)}
                          for r, p in per.items()}
        sends = [x for p in per.values() for x in p["send_us"]]
        recvs = [x for p in per.values() for x in p["recv_us"]]
        entry["send_us_median"] = statistics.median(sends) if sends else None
        entry["recv_us_p10"] = (sorted(recvs)[len(recvs) // 10] if recvs else None)
        entry["recv_us_min"] = min(recvs) if recvs else None
        span = max(p["last_event_end_us"] for p in per.values()) / 1e3
        entry["trace_span_ms"] = span
        if N == 1:
            one_rank[M] = entry["median_ms"]
        out["runs"].append(entry)
        log("%s N=%d M=%d: median step %.1f ms" % (schedule, N, M, entry["median_ms"]))
    predict(out)
    save("runtime", out)


# --------------------------------------------------------------------------
# 4. PyTorch
# --------------------------------------------------------------------------

TORCH_MLP = r'''
import json, sys, time, statistics, math
import torch
layers, width, batch, M, steps = %(layers)d, %(width)d, %(batch)d, %(M)d, %(steps)d
torch.set_num_threads(1)
torch.manual_seed(0)
Ws = [torch.randn(width, width) * 0.05 for _ in range(layers)]
bs = [torch.zeros(width) for _ in range(layers)]
for t in Ws + bs:
    t.requires_grad_(True)
x = torch.randn(M, batch, width)
y = torch.randn(M, batch, width)
def gelu(s):  # tanh approximation, as dualpipe-gen writes it
    return 0.5 * s * (1 + torch.tanh(0.7978845608028654 * (s + 0.044715 * s * s * s)))
def step():
    for t in Ws + bs:
        t.grad = None
    for m in range(M):
        h = x[m]
        for l in range(layers):
            h = h @ Ws[l] + bs[l]
            if l != layers - 1:
                h = gelu(h)
        loss = ((h - y[m]) ** 2).mean() / M
        loss.backward()
times = []
for k in range(steps + 1):
    t0 = time.perf_counter(); step(); times.append((time.perf_counter() - t0) * 1e3)
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                  "step_ms": times, "median_ms": statistics.median(times[1:]),
                  "min_ms": min(times[1:])}))
'''


def bench_predict(args):
    """Recomputes the predictions of bench/results/runtime.json."""
    path = os.path.join(RESULTS, "runtime.json")
    out = json.load(open(path))
    predict(out)
    save("runtime", out)


def bench_torch(args):
    # Debian's python3-torch lives in /usr/bin/python3's dist-packages, which
    # another python3 first on PATH (pyenv, venv) does not see.
    py, probe = None, None
    for cand in (sys.executable, "/usr/bin/python3"):
        if not os.path.exists(cand):
            continue
        probe = subprocess.run([cand, "-c", "import torch; print(torch.__version__)"],
                               capture_output=True, text=True)
        if probe.returncode == 0:
            py = cand
            break
    if py is None:
        save("torch", {"skipped": "PyTorch is not installed (python3 -c 'import "
                       "torch' fails); apt-get install python3-torch to run "
                       "this comparison"})
        log("torch: skipped, PyTorch absent")
        return
    rt_path = os.path.join(RESULTS, "runtime.json")
    rt = json.load(open(rt_path)) if os.path.exists(rt_path) else {"runs": []}
    out = {"torch": probe.stdout.strip(), "python": py, "rows": [],
           "gpt": "skipped: dualpipe-run's runner takes f32 arguments only, "
                  "and the GPT's token and target inputs are i64, so the "
                  "compiled GPT step cannot be run yet"}
    layers, width, batch = 8, 256, 32
    for e in rt["runs"]:
        if e["N"] != 1:
            continue
        M = e["M"]
        script = TORCH_MLP % dict(layers=layers, width=width, batch=batch, M=M,
                                  steps=20)
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                   MKL_NUM_THREADS="1")
        p = subprocess.run([py, "-c", script], capture_output=True, text=True,
                           timeout=600, env=env)
        if p.returncode != 0:
            raise SystemExit("bench: the PyTorch step failed:\n" + p.stderr[-2000:])
        text = p.stdout
        t = json.loads(text.strip().splitlines()[-1])
        out["rows"].append({"model": "mlp " + " ".join(MLP), "M": M,
                            "torch_ms": t["median_ms"], "torch_min_ms": t["min_ms"],
                            "torch_steps": t["step_ms"],
                            "threads": t["threads"],
                            "dualpipe_1rank_ms": e["median_ms"],
                            "dualpipe_1rank_min_ms": e["min_ms"],
                            "ratio": e["median_ms"] / t["median_ms"],
                            "ratio_min": e["min_ms"] / t["min_ms"],
                            "dualpipe_command": e["run_command"],
                            "torch_command": "python3 bench/bench.py --only=torch"})
        log("torch MLP M=%d: %.1f ms vs dualpipe 1-rank %.1f ms" %
            (M, t["median_ms"], e["median_ms"]))
    save("torch", out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="compile,schedule,runtime,torch")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--layers", default="",
                    help="compile: only these depths (comma-separated), merged "
                         "into the saved bench/results/compile.json")
    args = ap.parse_args()
    for s in args.only.split(","):
        log("section " + s)
        {"compile": bench_compile, "schedule": bench_schedule,
         "runtime": bench_runtime, "torch": bench_torch,
         "predict": bench_predict}[s](args)


if __name__ == "__main__":
    main()
