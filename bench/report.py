#!/usr/bin/env python3
"""Writes bench/REPORT.md and bench/plots/*.svg from bench/results/*.json."""
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import svg  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RES = os.path.join(ROOT, "bench", "results")
PLOTS = os.path.join(ROOT, "bench", "plots")
NAMES = {"gpipe": "GPipe", "1f1b": "1F1B", "interleaved": "Interleaved 1F1B (v=2)",
         "zb1p": "ZB-H1", "zbv": "ZB-V", "dualpipe": "DualPipe",
         "dualpipev": "DualPipeV"}


def load(name):
    p = os.path.join(RES, name + ".json")
    return json.load(open(p)) if os.path.exists(p) else None


def plot(name, text):
    os.makedirs(PLOTS, exist_ok=True)
    with open(os.path.join(PLOTS, name), "w") as f:
        f.write(text)
    return "plots/" + name


def slope(points):
    """Least-squares exponent k of y ~ x^k."""
    pts = [(math.log(x), math.log(y)) for x, y in points if y and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    den = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / den if den else None


def fmt(v, f="%.1f"):
    return "-" if v is None else f % v


def root(passes):
    return next((p["wall"] for p in passes if p["name"] == "root"), 0.0)


PHASES = ["parse", "tensor-level", "lower-to-llvm-dialect", "llvm-translate", "other",
          "llvm-optimize", "codegen", "link"]


def pass_totals(e):
    """{pass name: wall s} summed over all of a compile's --mlir-timing reports."""
    tot = {}
    for r in e.get("reports", []):
        for p in r["passes"]:
            n = p["name"]
            if n in ("root", "Total", "Rest") or n.startswith("Pipeline Collection") \
                    or n.endswith("Pipeline"):
                continue  # totals and nesting entries, not passes
            tot[p["name"]] = tot.get(p["name"], 0.0) + p["wall"]
    return tot


def section_compile(md, head):
    c = load("compile")
    if not c or not c.get("full") or "opt_level" not in c["full"][0]:
        md.append("*Not run.*\n")
        return
    md.append("Model: `%s`; compile: `dualpipe-compile MODEL %s -o OUT --opt-level=K "
              "--time-phases --mlir-timing --mlir-timing-display=list "
              "--mlir-output-format=json`, one compile at a time, each under a cap "
              "(`timeout -s KILL`, given per row) and an address-space cap, CPU time "
              "and peak RSS from `/usr/bin/time -f '%%e %%U %%S %%M'`. The shapes are tiny "
              "on purpose: compile time depends on the number of ops, not on tensor "
              "sizes. Phase times are dualpipe-compile's own `--time-phases` line "
              "(wall s); *load* is the 1-minute load average before / after the "
              "compile (2 cores).\n" % (c["config"], c["compile_flags"]))
    full = c["full"]
    hdr = "| layers | ops | -O | status | wall s | CPU s | peak RSS MiB | load | " + \
        " | ".join(PHASES) + " |"
    md.append(hdr)
    md.append("|---" * (8 + len(PHASES)) + "|")
    for e in sorted(full, key=lambda e: (e.get("opt_level", 0), e["layers"])):
        ph = e.get("phases", {})
        if not e.get("attempted", True):
            md.append("| %d | %d | %d | %s |" % (e["layers"], e["ops"], e["opt_level"], e["why"])
                      + " - |" * (4 + len(PHASES)))
            continue
        status = "ok" if e["finished"] else "**not finished**: " + e.get("why", "")
        md.append("| %d | %d | %d | %s | %.0f | %s | %s | %s / %s | %s |" % (
            e["layers"], e["ops"], e["opt_level"], status, e["wall_s"], fmt(e.get("cpu_s"), "%.0f"),
            fmt(e.get("peak_rss_mib"), "%.0f"), fmt(e.get("load_before")), fmt(e.get("load_after")),
            " | ".join(fmt(ph.get(k), "%.1f") for k in PHASES)))
    have = {(e["layers"], e.get("opt_level", 0)) for e in full}
    missing = [(L, 0) for L in (12, 24, 48, 96)] + [(12, 1), (12, 3)]
    missing = [k for k in missing if k not in have]
    for L, o in missing:
        md.append("| %d | - | %d | **no result**: %s |" % (L, o, ((load("notes") or {}).get("compile_not_run") or {}).get("%d/%d" % (L, o), "not measured in this run")) + " - |" * (4 + len(PHASES)))
    md.append("")
    if (load("notes") or {}).get("compile"):
        md.append(load("notes")["compile"] + "\n")
    o0 = [e for e in full if e.get("opt_level", 0) == 0 and e.get("finished")]
    o0.sort(key=lambda e: e["layers"])
    if len(o0) >= 2:
        k = slope([(e["layers"], e["wall_s"]) for e in o0])
        kc = slope([(e["layers"], e.get("cpu_s")) for e in o0])
        kp = {ph: slope([(e["layers"], e["phases"].get(ph)) for e in o0 if e.get("phases")])
              for ph in PHASES}
        kr = slope([(e["layers"], e.get("peak_rss_mib")) for e in o0])
        md.append("Growth at -O0, least-squares exponent k of time ~ layers^k over the finished "
                  "compiles (%s layers): whole compile k = %s (wall), %s (CPU); per phase: %s; "
                  "peak RSS k = %s.\n" % (
                      ", ".join(str(e["layers"]) for e in o0), fmt(k, "%.2f"), fmt(kc, "%.2f"),
                      ", ".join("%s %s" % (ph, fmt(kp[ph], "%.2f")) for ph in PHASES
                                if kp[ph] is not None), fmt(kr, "%.2f")))
        big = o0[-1]
        ph = big.get("phases", {})
        llvm = sum(ph.get(x, 0) for x in ("llvm-translate", "llvm-optimize", "codegen", "link"))
        head.append(("Compile time, GPT of %s layers (tiny shapes), DualPipe on 8 ranks, 16 "
                     "micro-batches, -O0: %s s wall (%s s CPU); grows as layers^%s wall, "
                     "layers^%s CPU; at %d layers LLVM (translation, optimization, codegen, "
                     "link) takes %.0f%% of the wall time, MLIR lowering to the LLVM dialect "
                     "%.0f%%; peak RSS %s MiB" % (
                         "/".join(str(e["layers"]) for e in o0),
                         "/".join("%.0f" % e["wall_s"] for e in o0),
                         "/".join(fmt(e.get("cpu_s"), "%.0f") for e in o0),
                         fmt(k, "%.2f"), fmt(kc, "%.2f"), big["layers"],
                         100 * llvm / max(ph.get("total", big["wall_s"]), 1e-9),
                         100 * ph.get("lower-to-llvm-dialect", 0) / max(ph.get("total", big["wall_s"]), 1e-9),
                         fmt(big.get("peak_rss_mib"), "%.0f")),
                     "python3 bench/bench.py --only=compile --layers=%s  (each: %s)" % (
                         ",".join(str(e["layers"]) for e in o0), big["command"])))
    # optimization levels
    lv = sorted([e for e in full if e.get("finished")], key=lambda e: e["opt_level"])
    by_layers = {}
    for e in lv:
        by_layers.setdefault(e["layers"], []).append(e)
    for L, es in sorted(by_layers.items()):
        if len(es) < 2:
            continue
        base = es[0]
        md.append("What optimization costs at %d layers (same model and flags, wall s; CPU "
                  "s in brackets): %s.\n" % (L, "; ".join(
                      "-O%d %.0f (%s)" % (e["opt_level"], e["wall_s"], fmt(e.get("cpu_s"), "%.0f"))
                      for e in es)))
        head.append(("Cost of LLVM optimization, %d-layer GPT, 8-rank DualPipe: %s s wall "
                     "(%s s CPU) at -O%s" % (
                         L, "/".join("%.0f" % e["wall_s"] for e in es),
                         "/".join(fmt(e.get("cpu_s"), "%.0f") for e in es),
                         "/".join(str(e["opt_level"]) for e in es)),
                     " ; ".join(e["command"] for e in es)))
    unfinished = [e for e in full if e.get("attempted", True) and not e.get("finished")]
    for e in unfinished:
        if e["layers"] == 96 and e.get("reports"):
            continue  # its own headline below, with the passes that finished
        head.append(("Compile, %d-layer GPT at -O%d: **not finished**: %s" % (
            e["layers"], e["opt_level"], e.get("why", "")), e["command"]))
    # top passes per depth
    with_rep = sorted([e for e in full if e.get("reports") and e.get("opt_level", 0) == 0],
                      key=lambda e: e["layers"])
    if with_rep:
        tots = {e["layers"]: pass_totals(e) for e in with_rep}
        big = with_rep[-1]["layers"]
        names = sorted(tots[big], key=lambda n: -tots[big][n])[:10]
        md.append("Slowest MLIR passes (wall s, summed over the compile's pass-manager runs: "
                  "the pipeline and the 1-rank reference, tensor level and lowering), by depth "
                  "at -O0, ranked at %d layers; k = growth exponent over the depths:\n" % big)
        md.append("| pass | " + " | ".join("%d layers" % e["layers"] for e in with_rep) + " | k |")
        md.append("|---|" + "---|" * len(with_rep) + "---|")
        for n in names:
            md.append("| %s | %s | %s |" % (n, " | ".join(fmt(tots[e["layers"]].get(n), "%.2f") for e in with_rep),
                                          fmt(slope([(e["layers"], tots[e["layers"]].get(n)) for e in with_rep]), "%.2f")))
        md.append("")
    e96 = next((e for e in full if e["layers"] == 96 and e.get("opt_level", 0) == 0
                and e.get("reports")), None)
    if e96:
        tot = pass_totals(e96)
        allw = e96.get("phases", {}).get("total", e96["wall_s"])
        md.append("**96-layer GPT, DualPipe on 8 ranks, 16 micro-batches, -O0: time per pass** "
                  "(`--mlir-timing`, the 15 slowest by wall time, summed over the pass-manager "
                  "runs; %s). Command: `%s`\n" % (
                      "finished" if e96.get("finished") else "the compile did NOT finish: " + e96.get("why", ""),
                      e96["command"]))
        md.append("| pass | wall s | share of the compile's wall time (until the kill, if killed) |")
        md.append("|---|---|---|")
        for n in sorted(tot, key=lambda n: -tot[n])[:15]:
            md.append("| %s | %.2f | %.1f%% |" % (n, tot[n], 100 * tot[n] / allw))
        md.append("")
        if not e96.get("finished"):
            head.append(("Time per pass, 96-layer GPT, 8-rank DualPipe, -O0: the compile did not finish "
                         "(%s); in the %d MLIR pass-manager runs that finished: %s" % (
                             e96.get("why", ""), len(e96["reports"]), "; ".join(
                                 "%s %.0f s" % (n, tot[n]) for n in sorted(tot, key=lambda n: -tot[n])[:6])),
                         e96["command"] + "  (python3 bench/bench.py --only=compile --layers=96, "
                         "BENCH_COMPILE_CAP=2400)"))
        if e96.get("finished"):
            ph = e96["phases"]
            head.append(("Time per pass, 96-layer GPT, 8-rank DualPipe, -O0: %s" % "; ".join(
                "%s %.2f s" % (n, tot[n]) for n in sorted(tot, key=lambda n: -tot[n])[:5])
                + "; phases: " + ", ".join("%s %.0f s" % (k, ph[k]) for k in PHASES if k in ph),
                e96["command"]))
    # tensor-level alone
    if c.get("tensor_level"):
        md.append("The tensor-level passes alone, run by `dualpipe-opt` with the same pipeline "
                  "(8 stages on 8 ranks, 16 micro-batches):\n")
        names = ["DualPipePartition", "DualPipeAutodiff", "DualPipeSchedule", "DualPipeInsertComm",
                 "DualPipeVerify", "DualPipePlanMemory", "DualPipeLowerSchedule"]
        md.append("| layers | ops | status | total wall s | " + " | ".join(n.replace("DualPipe", "") for n in names) + " |")
        md.append("|---|---|---|---|" + "---|" * len(names))
        for e in c["tensor_level"]:
            pw = {p["name"]: p["wall"] for p in e["passes"]}
            md.append("| %d | %d | %s | %.2f | %s |" % (
                e["layers"], e["ops"], e.get("status", "ok"), e["wall_s"],
                " | ".join(fmt(pw.get(n), "%.2f") for n in names)))
        md.append("\nCommand (per depth): `%s`\n" % c["tensor_level"][-1]["command"])
    series = [("whole compile (wall)", [(e["layers"], e["wall_s"]) for e in o0]),
              ("whole compile (CPU)", [(e["layers"], e.get("cpu_s")) for e in o0])]
    for ph in ("lower-to-llvm-dialect", "llvm-translate", "codegen", "link", "tensor-level"):
        series.append((ph, [(e["layers"], e.get("phases", {}).get(ph)) for e in o0]))
    killed = [e for e in full if e.get("attempted", True) and not e.get("finished") and e.get("opt_level", 0) == 0]
    series.append(("killed at cap (lower bound)", [(e["layers"], e["wall_s"]) for e in killed]))
    series = [(n, [(x, y) for x, y in pts if y and y > 0]) for n, pts in series]
    series = [s_ for s_ in series if s_[1]]
    if series:
        md.append("![compile time](%s)\n" % plot("compile-time.svg", svg.line_chart(
            series, "dualpipe-compile -O0 time by GPT depth (8-rank DualPipe, M=16)",
            "layers", "seconds (log)", logy=True)))



def section_compile_noref(md, head):
    """Deep models compiled without the single-device reference
    (--reference=false): results/compile-noref.json, written by
    bench/compile_noref.py."""
    c = load("compile-noref")
    if not c:
        return
    md.append("### Without the single-device reference (`--reference=false`)\n")
    md.append("The reference is the whole model in one stage function; the bufferization "
              "passes grow superlinearly in a function's size (above), so the reference "
              "dominates deep compiles. `--reference=false` compiles only the pipeline "
              "(each stage function holds layers/N blocks; `dualpipe-run --check` then "
              "refuses with the reason). One compile at a time, CPU time and peak RSS from "
              "`/usr/bin/time`; *load* as above.\n")
    md.append("| layers | ranks | M | -O | status | wall s | CPU s | peak RSS MiB | load | "
              + " | ".join(PHASES) + " |")
    md.append("|---" * (9 + len(PHASES)) + "|")
    for e in c["runs"]:
        ph = e.get("phases", {})
        md.append("| %d | %d | %d | %d | %s | %.0f | %s | %s | %s | %s |" % (
            e["layers"], e["ranks"], e["microbatches"], e["opt_level"], e["status"],
            e["wall_s"], fmt(e.get("cpu_s"), "%.0f"), fmt(e.get("peak_rss_mib"), "%.0f"),
            fmt(e.get("load")), " | ".join(fmt(ph.get(k), "%.1f") for k in PHASES)))
    md.append("")
    done = [e for e in c["runs"] if e["status"] == "ok" and e.get("cpu_s")]
    if len(done) >= 2:
        k = slope([(e["layers"], e["cpu_s"]) for e in done])
        kl = slope([(e["layers"], e["phases"].get("lower-to-llvm-dialect")) for e in done])
        kc = slope([(e["layers"], e["phases"].get("codegen")) for e in done])
        md.append("Growth over %s layers (least-squares exponent k of time ~ layers^k): "
                  "whole compile (CPU) k = %.2f, lowering to the LLVM dialect k = %.2f, "
                  "code generation k = %.2f.\n" % (
                      "/".join(str(e["layers"]) for e in done), k, kl, kc))
        head.append(("Compile-time growth without the reference, %s layers, 8-rank DualPipe, "
                     "-O0: CPU time ~ layers^%.2f (%s s)" % (
                         "/".join(str(e["layers"]) for e in done), k,
                         "/".join("%.0f" % e["cpu_s"] for e in done)),
                     "python3 bench/compile_noref.py --layers=L  (L = %s)" %
                     ", ".join(str(e["layers"]) for e in done)))
    for e in c["runs"]:
        if not e.get("passes") or e["layers"] != max(r["layers"] for r in c["runs"]):
            continue
        md.append("Slowest passes, %d layers (wall s, summed over the pass-manager runs):\n"
                  % e["layers"])
        md.append("| pass | wall s |")
        md.append("|---|---|")
        for name, wall in e["passes"][:15]:
            md.append("| %s | %.2f |" % (name, wall))
        md.append("\nCommand: `%s` (model: `%s`)\n" % (e["command"], e.get("model", "")))
        if e.get("note"):
            md.append(e["note"] + "\n")
        if e["status"] == "ok":
            head.append(("Compile time, 96-layer GPT (tiny shapes), DualPipe on %d ranks, "
                         "M=%d, -O%d, --reference=false: %.0f s wall, %s s CPU, peak RSS %s MiB; "
                         "phases: %s; slowest passes: %s" % (
                             e["ranks"], e["microbatches"], e["opt_level"], e["wall_s"],
                             fmt(e.get("cpu_s"), "%.0f"), fmt(e.get("peak_rss_mib"), "%.0f"),
                             ", ".join("%s %.0f s" % (k, e["phases"][k]) for k in PHASES
                                       if k in e.get("phases", {})),
                             ", ".join("%s %.1f s" % (n, w) for n, w in e["passes"][:4])),
                         e["command"]))


def section_schedule(md, head):
    s = load("schedule")
    if not s:
        md.append("*Not run.*\n")
        return
    lc = s["layer_costs"]
    md.append("Costs of one GPT block (hidden 768, 12 heads, sequence 1024) from the cost "
              "model, per micro-batch: `%s`.\n" % s["layer_costs_command"])
    md.append("| profile | F ms | B ms | I ms | W ms | B/F | W/F |")
    md.append("|---|---|---|---|---|---|---|")
    for d in ("h200", "cpu"):
        c = lc[d]
        md.append("| %s | %.3f | %.3f | %.3f | %.3f | %.2f | %.2f |" % (
            d, c["F"] * 1e3, c["B"] * 1e3, c["I"] * 1e3, c["W"] * 1e3, c["B"] / c["F"], c["W"] / c["F"]))
    md.append("")
    md.append("Simulated with `dualpipe-sched --schedule=S --ranks=N --microbatches=M "
              "--cost=F=1,B=B/F,W=W/F,FB=F+B --emit=summary` (an overlapped F&B pair is "
              "costed F+B: the simulator credits DualPipe's pair with no compute "
              "speed-up, only its placement). Schedules with 2N stages (interleaved with "
              "2 chunks, ZB-V, DualPipeV) get half the cost per stage, so every row is "
              "the same model. *bubble* = total idle / (N x makespan); *act* = worst "
              "rank's peak activations in micro-batches of an N-way stage (a 2N-stage "
              "schedule's count halved); *params* = parameter copies per rank.\n")
    for d in ("h200", "cpu"):
        rows = [r for r in s["rows"] if r["device"] == d]
        r0 = s["ratios"][d]
        md.append("#### %s ratios (F=1, B=%.2f, W=%.2f)\n" % (d, r0["B"], r0["W"]))
        for N in (4, 8, 16):
            Ms = sorted({r["M"] for r in rows if r["N"] == N})
            md.append("N = %d | " % N + " | ".join("M=%d bubble | act" % M for M in Ms) + " | params |")
            md.append("|---|" + "---|---|" * len(Ms) + "---|")
            for name in NAMES:
                cells, params = [], "-"
                best = {}
                for M in Ms:
                    cand = [r for r in rows if r["N"] == N and r["M"] == M and "bubble_ratio" in r]
                    best[M] = min(r["bubble_ratio"] for r in cand) if cand else None
                for M in Ms:
                    r = next((r for r in rows if r["N"] == N and r["M"] == M and r["schedule"] == name), None)
                    if r is None or "bubble_ratio" not in r:
                        cells.append("n/a | -")
                        continue
                    b = "%.3f" % r["bubble_ratio"]
                    if best[M] is not None and abs(r["bubble_ratio"] - best[M]) < 1e-9:
                        b = "**" + b + "**"
                    cells.append("%s | %g" % (b, r["peak_act"]))
                    params = "%dx" % r["param_copies"]
                md.append("| %s | %s | %s |" % (NAMES[name], " | ".join(cells), params))
            md.append("")
        if d == "h200":
            n8 = [r for r in rows if r["N"] == 8 and "bubble_ratio" in r]
            Ms = sorted({r["M"] for r in n8})
            vals = [[next((r["bubble_ratio"] for r in n8 if r["M"] == M and r["schedule"] == k), None) for k in NAMES] for M in Ms]
            md.append("![bubble ratio, N=8](%s)\n" % plot("schedule-bubble-n8.svg", svg.bar_chart(
                ["M=%d" % M for M in Ms], [NAMES[k] for k in NAMES], vals,
                "Simulated bubble ratio, N=8, GPT-layer costs (h200 profile)", "bubble ratio")))
            vals = [[next((r["peak_act"] for r in n8 if r["M"] == M and r["schedule"] == k), None) for k in NAMES] for M in Ms]
            md.append("![peak activations, N=8](%s)\n" % plot("schedule-memory-n8.svg", svg.bar_chart(
                ["M=%d" % M for M in Ms], [NAMES[k] for k in NAMES], vals,
                "Peak activations per rank, N=8 (micro-batches of an N-way stage)", "micro-batches")))
            for N, M in ((8, 32), (16, 64)):
                sel = {r["schedule"]: r for r in rows if r["N"] == N and r["M"] == M and "bubble_ratio" in r}
                if "dualpipe" in sel and "1f1b" in sel:
                    bestname = min(sel, key=lambda k: sel[k]["bubble_ratio"])
                    head.append(("Simulated bubble ratio at N=%d, M=%d (GPT-layer costs, h200 profile): "
                                 "DualPipe %.3f, 1F1B %.3f, ZB-H1 %.3f, best %s %.3f; DualPipe's peak "
                                 "activations %g vs 1F1B %g micro-batches" % (
                                     N, M, sel["dualpipe"]["bubble_ratio"], sel["1f1b"]["bubble_ratio"],
                                     sel["zb1p"]["bubble_ratio"], NAMES[bestname], sel[bestname]["bubble_ratio"],
                                     sel["dualpipe"]["peak_act"], sel["1f1b"]["peak_act"]),
                                 "python3 bench/bench.py --only=schedule  (e.g. " + sel["dualpipe"]["command"] + ")"))


def section_runtime(md, head):
    rt = load("runtime")
    if not rt or "models" not in rt:
        md.append("*Not run.*\n")
        return
    md.append("Models (per micro-batch): MLP `%s`; GPT `%s`. Each compiled per schedule "
              "(default `--opt-level=3`; GEMMs call OpenBLAS, one BLAS thread) with "
              "`dualpipe-compile MODEL --schedule=S --ranks=N --microbatches=M -o OUT` and "
              "run with `OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 dualpipe-run OUT --steps=%d "
              "--check --no-progress --trace=trace.json` (local backend: ranks are threads of "
              "one process). Step time: median of steps 1..%d (step 0 is warm-up). Every "
              "run's `--check` against the 1-rank reference: %s. The trace is of the last "
              "step.\n" % (rt["models"]["mlp"], rt["models"]["gpt"], rt["steps"], rt["steps"] - 1,
                           "PASS" if all(e["check"] for e in rt["runs"]) else "**not all PASS**"))
    if (load("notes") or {}).get("runtime"):
        md.append(load("notes")["runtime"] + "\n")
    md.append("**Pipeline efficiency.** The rank programs bracket every compute action with "
              "`dualpipe_rt_begin_action`/`end_action`, so the trace has compute (F, B, I, W, "
              "F&B), send, receive and all-reduce events. Busy time of a rank = the union of its "
              "compute actions (an overlapped F&B pair contains its F and B parts); span = last event end over all ranks of the traced step; "
              "efficiency = mean busy / span. *CPU ms per step*: user+sys of the process (all rank threads), the difference between a 10-step and a 2-step run over 8 steps; with a loaded machine it is the load-independent cost of a step, where the wall times mostly measure the wait for a core. On this 2-core machine (shared with other "
              "engineers' builds, load in the table) 4 ranks oversubscribe the cores, so their "
              "compute actions include time-slicing and their efficiency is a lower bound.\n")
    md.append("| model | schedule | N | M | step ms median (min) | CPU ms per step (all ranks) | load | span ms | busy ms per rank | efficiency (simulated) | simulated ms with the measured costs (error of span / of step) | check |")
    md.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for e in rt["runs"]:
        tr = e["trace"]
        busy = [tr[r]["busy_us"] / 1e3 for r in sorted(tr, key=int)]
        span = e["trace_span_ms"]
        eff = sum(busy) / len(busy) / span if span else None
        e["_eff"] = eff
        sim = "-"
        if e.get("predicted_ms"):
            sim = "%.0f (%+.0f%% / %+.0f%%)" % (e["predicted_ms"], 100 * e["sim_error_span"],
                                                100 * e["sim_error_step"])
        md.append("| %s | %s | %d | %d | %.1f (%.1f) | %s | %.1f | %.1f | %s | %s | %s | %s |" % (
            e["model"], NAMES.get(e["schedule"], e["schedule"]), e["N"], e["M"], e["median_ms"],
            e["min_ms"], fmt(e.get("cpu_ms_per_step")), e["load_before"], span,
            ", ".join("%.0f" % b for b in busy),
            "%.2f (%s)" % (eff, fmt(e.get("predicted_efficiency"), "%.2f")) if e["N"] > 1 else "1 (one rank)",
            sim, "PASS" if e["check"] else "FAIL"))
    md.append("")
    md.append("Measured mean cost per action (ms) that the simulation above uses, from each "
              "run's own trace (B = I + W where the backward is split; F&B = the overlapped "
              "pair):\n")
    md.append("| model | schedule | N | M | F | B | I | W | F&B | actions |")
    md.append("|---|---|---|---|---|---|---|---|---|---|")
    for e in rt["runs"]:
        c = e["measured_costs"]
        md.append("| %s | %s | %d | %d | %s | %s | %s | %s | %s | %s |" % (
            e["model"], NAMES.get(e["schedule"], e["schedule"]), e["N"], e["M"],
            fmt(c["F"], "%.2f"), fmt(c["B"], "%.2f"), fmt(c["I"], "%.2f"), fmt(c["W"], "%.2f"),
            fmt(c["FB"], "%.2f"), ", ".join("%s %d" % kv for kv in sorted(c["n"].items()))))
    md.append("")
    sends = sorted(e["send_us_median"] for e in rt["runs"] if e.get("send_us_median"))
    rp10 = sorted(e["recv_us_p10"] for e in rt["runs"] if e.get("recv_us_p10"))
    glue = sorted(e["glue_us_per_action"] for e in rt["runs"] if e.get("glue_us_per_action") is not None and e["N"] == 1)
    if sends:
        s_med, r_med = sends[len(sends) // 2], rp10[len(rp10) // 2]
        g_med = ("%.0f-%.0f" % (glue[0], glue[-1]) if len(glue) > 1 else "%.0f" % glue[0]) if glue else None
        md.append("**Runtime overhead per action.** A send (eager copy into the link's FIFO): "
                  "median over runs of the per-run median %.1f µs (range %.1f-%.1f). A receive "
                  "whose message is already queued: 10th percentile %.1f µs (median over "
                  "runs). A compute action sends and receives about one message, so the "
                  "runtime adds about %.0f µs per action. The time of a 1-rank step outside "
                  "any action (the rank program's glue between actions, action markers "
                  "included): %s µs per action (range over the 1-rank runs; it includes time the thread "
                  "waited for a core on this loaded machine).\n" % (
                      s_med, sends[0], sends[-1], r_med, s_med + r_med, g_med or "-"))
        mr = next((e for e in rt["runs"] if e["N"] > 1), None)
        head.append(("Runtime overhead per action (local backend, CPU): about %.0f µs (send %.1f µs "
                     "+ ready receive %.1f µs)%s" % (
                         s_med + r_med, s_med, r_med,
                         "; time between actions in a 1-rank step %s µs per action (wall, loaded machine)" % g_med
                         if g_med is not None else ""),
                     "python3 bench/bench.py --only=runtime  (e.g. %s)" % (mr or rt["runs"][0])["run_command"]))
    md.append("**Simulator prediction.** `dualpipe-sched --schedule=S --ranks=N "
              "--microbatches=M --cost=F=..,B=..,W=..,FB=.. --emit=summary` with the mean "
              "costs per action measured in the same run's trace (table above; the exact "
              "command is `sim_command` in `bench/results/runtime.json`). Error = (measured - "
              "simulated) / simulated, of the traced step's span and of the median step "
              "time. It tests the schedule's idle time and the runtime's overheads, not the "
              "cost model's speed estimates. With 4 ranks on 2 loaded cores the action times "
              "already include time-slicing.\n")
    multi = [e for e in rt["runs"] if e["N"] > 1]
    if multi:
        groups = ["%s %s N=%d M=%d" % (e["model"], NAMES.get(e["schedule"], e["schedule"]), e["N"], e["M"]) for e in multi]
        vals = [[e["median_ms"], e["trace_span_ms"],
                 sum(e["trace"][k]["busy_us"] for k in e["trace"]) / len(e["trace"]) / 1e3,
                 e.get("predicted_ms")] for e in multi]
        md.append("![runtime](%s)\n" % plot("runtime-cpu.svg", svg.bar_chart(
            groups, ["median step", "traced step span", "mean busy per rank", "simulated (measured costs)"], vals,
            "Training step on CPU (local backend)", "ms", w=1000)))
        for e in multi:
            if e["schedule"] == "dualpipe" and e.get("predicted_ms"):
                head.append(("DualPipe on %d ranks (CPU threads), %s, M=%d: step %.0f ms median, "
                             "pipeline efficiency %.2f (simulated %.2f); measured span %.0f ms vs "
                             "simulated %.0f ms with the measured action costs (%+.0f%%); load %.1f" % (
                                 e["N"], "8-layer MLP" if e["model"] == "mlp" else "4-layer GPT",
                                 e["M"], e["median_ms"], e["_eff"], e["predicted_efficiency"],
                                 e["trace_span_ms"], e["predicted_ms"], 100 * e["sim_error_span"],
                                 e["load_before"]),
                             e["compile_command"] + " && OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 " +
                             e["run_command"] + "; " + e["sim_command"]))


def section_torch(md, head):
    t = load("torch")
    if not t:
        md.append("*Not run.*\n")
        return
    if "skipped" in t:
        md.append("**Skipped:** %s.\n" % t["skipped"])
        return
    md.append("PyTorch %s eager (`/usr/bin/python3`), one process, `torch.set_num_threads(1)` "
              "and `OMP_NUM_THREADS=1` (without the variable torch 1.13's idle OpenMP workers "
              "spin and its one-thread MLP step measured 7x slower here), against the compiled "
              "1-rank step (one thread, one BLAS thread). The models are written in "
              "`bench/torch_models.py` after `tools/dualpipe-gen/dualpipe-gen.cpp`: the MLP "
              "(tanh-GELU, `x @ W + b`, mean squared error) and the GPT (token + position "
              "embedding, pre-norm causal attention with bias-free q/k/v, tanh-GELU MLP of "
              "width 4 x hidden, final layer norm, bias-free LM head, token-mean "
              "cross-entropy). M micro-batches per step, gradient accumulation with the loss "
              "scaled by 1/M as the compiled step does; optimizer excluded on both sides "
              "(dualpipe-run applies SGD outside the timed step). PyTorch: median and best of "
              "20 steps after one warm-up, and the median CPU time per step; dualpipe: steps "
              "1..9 of section 3's run.\n" % t["torch"])
    md.append("| model | M | PyTorch wall ms median (min) | dualpipe 1-rank wall ms median (min) | ratio of medians (minima) | PyTorch CPU ms per step | dualpipe CPU ms per step | ratio of CPU times | load |")
    md.append("|---|---|---|---|---|---|---|---|---|")
    for r in t["rows"]:
        md.append("| %s | %d | %.1f (%.1f) | %.1f (%.1f) | %.2fx (%.2fx) | %s | %s | %s | %.1f |" % (
            r["model"], r["M"], r["torch_ms"], r["torch_min_ms"],
            r["dualpipe_1rank_ms"], r["dualpipe_1rank_min_ms"], r["ratio"], r["ratio_min"],
            fmt(r.get("torch_cpu_ms")), fmt(r.get("dualpipe_cpu_ms")),
            fmt(r.get("ratio_cpu"), "%.2fx"), r.get("load_before", float("nan"))))
    md.append("")
    md.append("Ratios above 1 mean the compiled step is slower. On this shared machine (load "
              "in the last column, 2 cores) a one-thread process gets a fraction of a core, so "
              "wall times mostly measure the wait for the CPU; the CPU time per step (PyTorch: "
              "`time.process_time()` around each step, median; dualpipe: the user+sys "
              "difference between a 10-step and a 2-step run of the same step, over 8 steps) "
              "is the load-independent comparison, and the headline ratio.\n")
    for r in t["rows"]:
        head.append(("Compiled 1-rank %s step vs PyTorch eager (1 thread), M=%d: CPU time per step "
                     "%s ms vs %s ms, dualpipe / PyTorch = %s (wall, loaded machine: best %.1f vs "
                     "%.1f ms, %.2fx; medians %.1f vs %.1f ms, %.2fx; load %.1f)" % (
                         "MLP" if r.get("kind", "mlp") == "mlp" else "GPT", r["M"],
                         fmt(r.get("dualpipe_cpu_ms")), fmt(r.get("torch_cpu_ms")),
                         fmt(r.get("ratio_cpu"), "%.2fx"),
                         r["dualpipe_1rank_min_ms"], r["torch_min_ms"], r["ratio_min"],
                         r["dualpipe_1rank_ms"], r["torch_ms"], r["ratio"], r.get("load_before", 0)),
                     "%s && OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/time %s (CPU per "
                     "step: its user+sys minus that of the same command with --steps=2, over "
                     "8 steps); %s" % (
                         r.get("dualpipe_compile_command", ""), r["dualpipe_command"],
                         r["torch_command"])))


def main():
    md, head = [], []
    body = []
    body.append("## 1. Compile time per pass\n")
    section_compile(body, head)
    section_compile_noref(body, head)
    body.append("## 2. Schedule quality (simulated)\n")
    section_schedule(body, head)
    body.append("## 3. Runtime on CPU\n")
    section_runtime(body, head)
    body.append("## 4. Against PyTorch eager on CPU\n")
    section_torch(body, head)
    if (load("notes") or {}).get("torch"):
        body.append(load("notes")["torch"] + "\n")
    body.append("## 5. GPU (`bench/gpu.sh`)\n")
    body.append("**Not measured here: this machine has no GPU** (and this session was not "
                "lent one). `bench/gpu.sh` runs DualPipe on several ranks of one H200 against a "
                "1-rank reference (step time, achieved TFLOP/s, fraction of communication hidden "
                "under compute, from the trace); `bench/gpu.sh --dry-run` does everything short "
                "of running on the GPU (toolkit check, CUDA build, GPT generation, FLOP count, "
                "both `--target=cuda` compiles) and prints the runs it would make; it exits 2 "
                "with a plain message where it cannot run. See the script's header for its "
                "environment variables.\n")
    mach = None
    for n in ("compile", "schedule", "runtime", "torch"):
        d = load(n)
        if d and "machine" in d and (mach is None or d["machine"]["date"] > mach["date"]):
            mach = d["machine"]
    md.append("# dualpipe benchmark report\n")
    md.append("Written by `bench/run.sh` (build, then `python3 bench/bench.py`, then "
              "`python3 bench/report.py`); raw figures in `bench/results/*.json`, plots in "
              "`bench/plots/`. Each section can be rerun alone with `bench/run.sh "
              "--only=SECTION` (compile, schedule, runtime, torch, predict); the figures "
              "below come from such per-section runs on the machine below. Every figure is "
              "followed by the command that produced it (tool paths relative to the build's "
              "`bin/`).")
    if mach:
        loads = {n: load(n)["machine"]["load_average"] for n in ("compile", "runtime", "torch")
                 if load(n) and "machine" in load(n)}
        md.append("Machine: %s, %s cores visible, shared with other engineers' builds (1-minute "
                  "load average at the end of each section: %s; per-measurement loads are in the "
                  "tables), %s. Wall times on this shared machine are upper bounds; CPU (user+sys) "
                  "times are given beside them.\n" % (
                      mach["cpu"], mach["cores"],
                      ", ".join("%s %.1f" % kv for kv in loads.items()) or "%.1f" % mach["load_average"],
                      mach["date"]))
    md.append("## Headline figures\n")
    for text, cmd in head:
        md.append("- %s.  \n  `%s`" % (text, cmd))
    md.append("- GPU: not measured (no GPU on this machine); the measurement is `bench/gpu.sh`, "
              "its build-and-compile rehearsal `bench/gpu.sh --dry-run`.  \n  `bench/gpu.sh`\n")
    md.extend(body)
    with open(os.path.join(ROOT, "bench", "REPORT.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("wrote bench/REPORT.md")


if __name__ == "__main__":
    main()
