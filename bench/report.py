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


def section_compile(md, head):
    c = load("compile")
    if not c:
        md.append("*Not run.*\n")
        return
    md.append("Model: `%s`; compile: `dualpipe-compile MODEL %s -o OUT "
              "--mlir-timing --mlir-timing-display=list --mlir-output-format=json` "
              "under a %d s cap (`timeout -s KILL`) and an address-space cap. "
              "The shapes are tiny on purpose: compile time depends on the number of "
              "ops, not on tensor sizes.%s\n" % (c["config"], c["compile_flags"], c["cap_s"],
                                                  " (" + c["caps_note"] + ")" if c.get("caps_note") else ""))
    md.append("| layers | ops | status | wall s | CPU s | peak RSS MiB | tensor-level passes (pipeline + reference) s | MLIR lowering to LLVM dialect (pipeline + reference) s | LLVM IR, -O3, codegen, link, parse s |")
    md.append("|---|---|---|---|---|---|---|---|---|")
    fin = []
    for e in c["full"]:
        reps = e.get("reports", [])
        tl = sum(root(r["passes"]) for r in reps[:2]) if reps else None
        lo = sum(root(r["passes"]) for r in reps[2:4]) if len(reps) > 2 else None
        if not e.get("attempted", True):
            md.append("| %d | %d | %s | - | - | - | - | - | - |" % (e["layers"], e["ops"], e["why"]))
            continue
        status = "ok" if e["finished"] else "**not finished**: " + e.get("why", "")
        md.append("| %d | %d | %s | %.1f | %s | %s | %s | %s | %s |" % (
            e["layers"], e["ops"], status, e["wall_s"], fmt(e.get("cpu_s")),
            fmt(e.get("peak_rss_mib"), "%.0f"), fmt(tl, "%.2f"), fmt(lo, "%.1f"),
            fmt(e.get("llvm_and_rest_wall_s"))))
        if e["finished"]:
            fin.append(e)
    md.append("")
    if fin:
        big = fin[-1]
        k = slope([(e["layers"], e["wall_s"]) for e in fin])
        kc = slope([(e["layers"], e.get("cpu_s")) for e in fin])
        kl = slope([(e["layers"], sum(root(r["passes"]) for r in e["reports"][2:4])) for e in c["full"] if len(e.get("reports", [])) == 4])
        ks = slope([(e["layers"], sum(p["wall"] for r in e["reports"][2:4] for p in r["passes"] if p["name"] == "SCFToControlFlowPass")) for e in c["full"] if len(e.get("reports", [])) == 4])
        kr = slope([(e["layers"], e.get("llvm_and_rest_wall_s")) for e in fin])
        md.append("Growth, as the least-squares exponent k of time ~ layers^k over the finished "
                  "compiles (%s layers): whole compile k = %s (wall), %s (CPU); MLIR lowering "
                  "(over %s layers: every compile whose four MLIR reports finished) "
                  "k = %s; `SCFToControlFlowPass` alone k = %s; LLVM IR, -O3, codegen and link "
                  "k = %s. Slowest passes of the %d-layer pipeline lowering (wall s):\n" % (
                      ", ".join(str(e["layers"]) for e in fin), fmt(k, "%.2f"), fmt(kc, "%.2f"),
                      ", ".join(str(e["layers"]) for e in c["full"] if len(e.get("reports", [])) == 4),
                      fmt(kl, "%.2f"), fmt(ks, "%.2f"), fmt(kr, "%.2f"), big["layers"]))
        phases = [("tensor-level passes", sum(root(r["passes"]) for r in big["reports"][:2])),
                  ("MLIR lowering to the LLVM dialect", sum(root(r["passes"]) for r in big["reports"][2:4])),
                  ("LLVM IR translation, -O3, codegen and link", big.get("llvm_and_rest_wall_s") or 0)]
        main_phase = max(phases, key=lambda p: p[1])
        top = sorted([p for p in big["reports"][2]["passes"] if p["name"] not in ("root", "Total", "Rest")],
                     key=lambda p: -p["wall"])[:8]
        md.append("| pass | wall s | share |")
        md.append("|---|---|---|")
        r0 = root(big["reports"][2]["passes"])
        for p in top:
            md.append("| %s | %.2f | %.0f%% |" % (p["name"], p["wall"], 100 * p["wall"] / r0))
        md.append("")
        head.append(("Compile time, %d-layer GPT, DualPipe on 4 ranks, 8 micro-batches: "
                     "%.0f s wall (%s s CPU), growing as layers^%s (CPU: layers^%s); "
                     "%s take %.0f%% of the wall time" %
                     (big["layers"], big["wall_s"], fmt(big.get("cpu_s"), "%.0f"), fmt(k, "%.2f"),
                      fmt(kc, "%.2f"), main_phase[0], 100 * main_phase[1] / big["wall_s"]),
                     "python3 bench/bench.py --only=compile  (runs " + big["command"] + ")"))
        for e in c["full"]:
            if e.get("attempted", True) and not e["finished"]:
                reps = e.get("reports", [])
                head.append(("Compile time, %d-layer GPT: not finished within the %d s cap on this "
                             "loaded machine (%d of 4 MLIR pass-manager runs done: tensor level %.1f s, "
                             "MLIR lowering %.0f s; killed during LLVM -O3/codegen); deeper models not "
                             "attempted" % (e["layers"], c["cap_s"], len(reps),
                                            sum(root(r["passes"]) for r in reps[:2]),
                                            sum(root(r["passes"]) for r in reps[2:4])),
                             e["command"]))
                break
        t96 = [e for e in c["tensor_level"] if e["finished"]]
        if t96:
            e = t96[-1]
            head.append(("Tensor-level passes (partition, autodiff, schedule, comm, verify, memory plan, "
                         "rank programs) for a %d-layer GPT (%d ops): %.1f s wall, growing as layers^%s" % (
                             e["layers"], e["ops"], e["wall_s"],
                             fmt(slope([(x["layers"], x["wall_s"]) for x in t96 if x["layers"] >= 12]), "%.2f")),
                         e["command"]))
    # tensor-level alone
    md.append("The tensor-level passes alone (partition, autodiff, schedule, "
              "communication, verification, memory plan, per-rank step functions), "
              "run by `dualpipe-opt` with the same pipeline, for every depth:\n")
    names = ["DualPipePartition", "DualPipeAutodiff", "DualPipeSchedule", "DualPipeInsertComm",
             "DualPipeVerify", "DualPipePlanMemory", "DualPipeLowerSchedule"]
    md.append("| layers | ops | status | total wall s | " + " | ".join(n.replace("DualPipe", "") for n in names) + " |")
    md.append("|---|---|---|---|" + "---|" * len(names))
    for e in c["tensor_level"]:
        pw = {p["name"]: p["wall"] for p in e["passes"]}
        md.append("| %d | %d | %s | %.2f | %s |" % (
            e["layers"], e["ops"], e.get("status", "ok"), e["wall_s"],
            " | ".join(fmt(pw.get(n), "%.2f") for n in names)))
    md.append("")
    kt = slope([(e["layers"], e["wall_s"]) for e in c["tensor_level"] if e["finished"] and e["layers"] >= 12])
    md.append("From 12 to 96 layers the tensor level grows as layers^%s (below 12 layers "
              "start-up dominates). The compile time is in the lowering: the MLIR conversion to "
              "the LLVM dialect (where `SCFToControlFlowPass` grows superlinearly) and, larger "
              "still, LLVM's -O3 and code generation of the resulting module, which "
              "`--mlir-timing` does not itemise (the last column is the whole compile's wall time "
              "minus the four MLIR reports).\n" % fmt(kt, "%.2f"))
    low = [e for e in c["full"] if len(e.get("reports", [])) == 4]
    killed = [e for e in c["full"] if e.get("attempted", True) and not e["finished"]]
    series = [("whole compile", [(e["layers"], e["wall_s"]) for e in fin]),
              ("killed at cap (lower bound)", [(e["layers"], e["wall_s"]) for e in killed]),
              ("MLIR lowering", [(e["layers"], sum(root(r["passes"]) for r in e["reports"][2:4])) for e in low]),
              ("SCF to CF (both)", [(e["layers"], sum(p["wall"] for r in e["reports"][2:4] for p in r["passes"] if p["name"] == "SCFToControlFlowPass")) for e in low]),
              ("LLVM + link", [(e["layers"], e.get("llvm_and_rest_wall_s")) for e in fin]),
              ("tensor level (opt)", [(e["layers"], e["wall_s"]) for e in c["tensor_level"] if e["finished"]])]
    series = [(n, [(x, y) for x, y in pts if y and y > 0]) for n, pts in series]
    series = [s for s in series if s[1]]
    if series:
        md.append("![compile time](%s)\n" % plot("compile-time.svg", svg.line_chart(
            series, "dualpipe-compile wall time by GPT depth", "layers", "seconds (log)", logy=True)))


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
    if not rt:
        md.append("*Not run.*\n")
        return
    md.append("Model: `%s` (per micro-batch), compiled per schedule with "
              "`dualpipe-compile mlp.mlir --schedule=S --ranks=N --microbatches=M -o OUT` "
              "and run with `dualpipe-run OUT --steps=%d --check --trace=trace.json` "
              "(local backend: ranks are threads of one process; the compiled code is "
              "single-threaded). Step time: median of steps 1..%d (step 0 is warm-up). "
              "Every run's `--check` against the 1-rank reference: %s.\n" % (
                  rt["model"], rt["steps"], rt["steps"] - 1,
                  "PASS" if all(e["check"] for e in rt["runs"]) else "**not all PASS**"))
    md.append("**How busy time is read.** The trace has the runtime's send, receive and "
              "all-reduce events per rank; the generated rank programs do not yet call "
              "`dualpipe_rt_begin_action`, so compute actions are not on the timeline. "
              "Busy time of a rank = end of its last event minus the time inside "
              "send/receive/all-reduce (waiting included); efficiency = mean busy / step "
              "span (the latest event end over ranks). On this 2-core machine (shared "
              "with other builds) 4 ranks oversubscribe the cores, so their busy time "
              "includes time-slicing.\n")
    md.append("| schedule | N | M | step ms (median) | span ms | busy ms per rank | efficiency (simulated) | sends, recvs, all-reduces per rank | predicted from 1-rank step ms (error) | predicted, calibrated on busy time ms (error) | check |")
    md.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for e in rt["runs"]:
        tr = e["trace"]
        busy = [tr[r]["busy_us"] / 1e3 for r in sorted(tr, key=int)]
        span = e["trace_span_ms"]
        eff = sum(busy) / len(busy) / span if span else None
        e["_eff"] = eff
        comm = "; ".join("%d, %d, %d" % (tr[r]["send"], tr[r]["recv"], tr[r]["allreduce"]) for r in sorted(tr, key=int))
        if e["N"] == 1:
            md.append("| %s | 1 | %d | %.1f | - | whole step | 1 (one rank) | - | - | - | %s |" % (
                NAMES.get(e["schedule"], e["schedule"]), e["M"], e["median_ms"],
                "PASS" if e["check"] else "FAIL"))
            continue
        md.append("| %s | %d | %d | %.1f | %.1f | %s | %.2f (%.2f) | %s | %.0f (%+.0f%%) | %.0f (%+.0f%%) | %s |" % (
            NAMES.get(e["schedule"], e["schedule"]), e["N"], e["M"], e["median_ms"], span,
            ", ".join("%.0f" % b for b in busy), eff, e["predicted_efficiency"],
            comm, e["predicted_ms"], 100 * e["sim_error"], e["calibrated_predicted_ms"],
            100 * e["calibrated_sim_error"], "PASS" if e["check"] else "FAIL"))
    md.append("")
    sends = [e["send_us_median"] for e in rt["runs"] if e.get("send_us_median")]
    recvs = [e["recv_us_min"] for e in rt["runs"] if e.get("recv_us_min")]
    rp10 = [e["recv_us_p10"] for e in rt["runs"] if e.get("recv_us_p10")]
    if sends:
        sends.sort(); recvs.sort(); rp10.sort()
        md.append("**Runtime overhead per action.** A send (eager copy of a 32 KiB activation "
                  "into the link's FIFO): median over runs of the per-run median %.1f µs "
                  "(range %.1f-%.1f). A receive whose message is already queued: fastest "
                  "%.1f µs, 10th percentile %.1f µs (median over runs). A compute action of "
                  "these schedules sends and receives about one message each (see the counts "
                  "above: 2M messages each way per rank for 1F1B on 2 ranks with M=8 and 8+8 "
                  "actions), so the runtime adds about %.0f µs per action, against compute "
                  "actions of tens of milliseconds here.\n" % (
                      sends[len(sends) // 2], sends[0], sends[-1], recvs[len(recvs) // 2],
                      rp10[len(rp10) // 2], sends[len(sends) // 2] + rp10[len(rp10) // 2]))
        head.append(("Runtime overhead per action (local backend): about %.0f µs (send %.1f µs + "
                     "ready receive %.1f µs)" % (sends[len(sends) // 2] + rp10[len(rp10) // 2],
                                                 sends[len(sends) // 2], rp10[len(rp10) // 2]),
                     "python3 bench/bench.py --only=runtime  (dualpipe-run OUT --steps=%d --check --trace=trace.json)" % rt["steps"]))
    r = rt["cost_model_ratio"]
    md.append("**Simulator prediction.** Two predictions per run, both from `dualpipe-sched "
              "--schedule=S --ranks=N --microbatches=M --cost=... --emit=summary` (the exact "
              "command is `sim_command` in `bench/results/runtime.json`), with the cost "
              "model's F : B : W of one MLP layer (cpu profile: F %.1f µs, B %.1f µs, W %.1f µs; "
              "FB = F+B):\n\n"
              "- *from the 1-rank step*: F+B of an N-way stage = (1-rank step time with the same "
              "M) / (M x N). Error = (measured step - predicted) / predicted. This assumes one "
              "core per rank; with 4 ranks on 2 shared cores it cannot hold, and the error "
              "(hundreds of percent) measures the oversubscription, not the schedule.\n"
              "- *calibrated*: the same ratios scaled so that the simulated mean busy time equals "
              "the measured one; error = (measured span - predicted) / predicted. This checks the "
              "idle time the simulator predicts.\n\n"
              "Costs are not measured per action from the trace because the trace has no compute "
              "actions yet (see above).\n" % (r["F"] * 1e6, r["B"] * 1e6, r["W"] * 1e6))
    multi = [e for e in rt["runs"] if e["N"] > 1]
    if multi:
        groups = ["%s N=%d M=%d" % (NAMES.get(e["schedule"], e["schedule"]), e["N"], e["M"]) for e in multi]
        vals = [[e["trace_span_ms"], sum(e["trace"][k]["busy_us"] for k in e["trace"]) / len(e["trace"]) / 1e3,
                 e.get("predicted_ms"), e.get("calibrated_predicted_ms")] for e in multi]
        md.append("![runtime](%s)\n" % plot("runtime-cpu.svg", svg.bar_chart(
            groups, ["measured step span", "mean busy per rank", "predicted from 1-rank", "predicted, calibrated"], vals,
            "MLP training step on CPU (local backend)", "ms", w=900)))
        two = [e for e in multi if e["N"] == 2]
        for e in two:
            if e["schedule"] == "dualpipe":
                head.append(("DualPipe on 2 ranks (CPU threads), 8-layer MLP, M=%d: step %.0f ms, "
                             "pipeline efficiency %.2f (simulator: %.2f); simulator error %+.0f%% "
                             "predicting from the 1-rank step, %+.0f%% calibrated on busy time" % (
                                 e["M"], e["median_ms"], e["_eff"], e["predicted_efficiency"],
                                 100 * e["sim_error"], 100 * e["calibrated_sim_error"]),
                             e["run_command"] + "; " + e["sim_command"]))


def section_torch(md, head):
    t = load("torch")
    if not t:
        md.append("*Not run.*\n")
        return
    if "skipped" in t:
        md.append("**Skipped:** %s.\n" % t["skipped"])
        return
    md.append("PyTorch %s eager, one process, `torch.set_num_threads(1)` (the compiled "
              "step runs one thread): the same MLP (tanh-GELU, `x @ W + b`, mean squared "
              "error), M micro-batches per step with gradient accumulation and the loss "
              "scaled by 1/M, as the compiled step does; optimizer excluded on both sides "
              "(dualpipe-run applies SGD outside the timed step). PyTorch: median and best of "
              "20 steps after one warm-up; dualpipe: of steps 1..7 of section 3's run.\n" % t["torch"])
    md.append("| model | M | PyTorch ms median (min) | dualpipe 1-rank ms median (min) | dualpipe / PyTorch, medians | dualpipe / PyTorch, minima |")
    md.append("|---|---|---|---|---|---|")
    for r in t["rows"]:
        md.append("| %s | %d | %.1f (%.1f) | %.1f (%.1f) | %.1fx | %.1fx |" % (
            r["model"], r["M"], r["torch_ms"], r["torch_min_ms"], r["dualpipe_1rank_ms"],
            r["dualpipe_1rank_min_ms"], r["ratio"], r["ratio_min"]))
    md.append("")
    if t["rows"]:
        r = t["rows"][0]
        flops = 3 * 2 * 32 * 256 * 256 * 8 * r["M"]  # fwd 2*b*k*n per layer, bwd twice that
        md.append("A step of M=%d does about %.0f MFLOP (matmuls only: forward 2 x 32 x 256 x 256 "
                  "per layer, backward twice that): PyTorch's best step runs at %.1f GFLOP/s, the "
                  "compiled step's at %.2f GFLOP/s. The CPU lowering turns every linalg op into "
                  "plain loops (`ConvertLinalgToLoopsPass`: no tiling, no BLAS call, only what LLVM -O3 "
                  "vectorises on its own), "
                  "so the gap is code generation, not the pipeline runtime (whose cost per "
                  "message is microseconds, section 3).\n" % (
                      r["M"], flops / 1e6, flops / (r["torch_min_ms"] * 1e-3) / 1e9,
                      flops / (r["dualpipe_1rank_min_ms"] * 1e-3) / 1e9))
    md.append("On this shared machine single steps vary a lot (PyTorch's range is in "
              "`bench/results/torch.json`); the minima are the fairer comparison of "
              "what each implementation costs.\n")
    md.append("GPT: %s.\n" % t["gpt"])
    if t["rows"]:
        r = t["rows"][0]
        head.append(("Compiled 1-rank MLP step vs PyTorch eager (1 thread), M=%d: best step %.1f ms vs "
                     "%.1f ms, %.1fx slower (medians %.0f vs %.0f ms)" % (
                         r["M"], r["dualpipe_1rank_min_ms"], r["torch_min_ms"], r["ratio_min"],
                         r["dualpipe_1rank_ms"], r["torch_ms"]),
                     "python3 bench/bench.py --only=runtime,torch"))


def main():
    md, head = [], []
    body = []
    body.append("## 1. Compile time per pass\n")
    section_compile(body, head)
    body.append("## 2. Schedule quality (simulated)\n")
    section_schedule(body, head)
    body.append("## 3. Runtime on CPU\n")
    section_runtime(body, head)
    body.append("## 4. Against PyTorch eager on CPU\n")
    section_torch(body, head)
    body.append("## 5. GPU (`bench/gpu.sh`)\n")
    body.append("**Pending: nothing was measured on a GPU.** This machine has no GPU. The "
                "compiler's CUDA target now builds (`dualpipe-compile --target=cuda` emits sm_90 "
                "cubins, docs/cuda.md), but `dualpipe-run` cannot run a cuda step yet (no cuda "
                "backend: it would hand host memory to the kernels), and the runtime has no "
                "stream-overlapped communication yet, so a hidden-communication fraction could "
                "only read 0 today. `bench/gpu.sh` checks, in order, for a GPU (`nvidia-smi`), "
                "the CUDA toolkit, CMake's `CUDA ON`, a runner that runs cuda steps and a "
                "working `--target=cuda`, and exits with status 2 and a plain message at the "
                "first that is missing (here: no GPU; with a GPU but today's runner: the runner). "
                "With all of them it builds with CUDA, compiles a GPT (8 layers, hidden 1024, "
                "sequence 1024 by default) for DualPipe on 4 ranks of the one GPU and a 1-rank "
                "reference, runs both with `--check --trace`, and prints the step time, the "
                "achieved TFLOP/s (cost-model FLOPs of forward + backward x M / step time) and "
                "the fraction of communication time that overlaps compute actions on the same "
                "rank (`bench/gpu_trace.py`, which says 'unknown' when the trace has no compute "
                "actions), within a five-minute budget.\n")
    mach = None
    for n in ("compile", "schedule", "runtime", "torch"):
        d = load(n)
        if d and "machine" in d:
            mach = d["machine"]
    md.append("# dualpipe benchmark report\n")
    md.append("Written by `bench/run.sh` (build, then `python3 bench/bench.py`, then "
              "`python3 bench/report.py`); raw figures in `bench/results/*.json`, plots in "
              "`bench/plots/`. Each section can be rerun alone with `bench/run.sh "
              "--only=SECTION` (compile, schedule, runtime, torch, predict); the figures "
              "below come from such per-section runs on the machine below, using the "
              "`build-bench` binaries.")
    if mach:
        md.append("Machine: %s, %s cores visible, shared with other builds (load average "
                  "%.1f at the end of the run), %s. Wall times on a shared machine are upper "
                  "bounds; CPU times are given beside them where it matters.\n" % (
                      mach["cpu"], mach["cores"], mach["load_average"], mach["date"]))
    md.append("## Headline figures\n")
    for text, cmd in head:
        md.append("- %s.  \n  `%s`" % (text, cmd))
    md.append("- GPU: pending, nothing measured: no GPU here, and `dualpipe-run` cannot run a "
              "`--target=cuda` step yet; `bench/gpu.sh` says which and exits 2.  \n  `bench/gpu.sh`\n")
    md.extend(body)
    with open(os.path.join(ROOT, "bench", "REPORT.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("wrote bench/REPORT.md")


if __name__ == "__main__":
    main()
