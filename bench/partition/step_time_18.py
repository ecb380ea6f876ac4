#!/usr/bin/env python3
"""Issue #18: the DualPipe partition's simulated and measured step time,
before (the least-max-rank-load cut) and after (the least simulated step
time), side by side in one run.

usage: step_time_18.py OUTDIR before:DIR after:DIR ...

Each DIR is a compiled step (dualpipe-compile -o DIR, with
--dualpipe-partition-report=DIR.partition.json). Each is run with
`dualpipe-run DIR --steps=20 --check --no-progress` (the runner next to
this script's build, or $DUALPIPE_RUN), alternating between the
configurations, REPEATS times (default 3). Prints, per configuration: the
stage times and simulated step of its partition report, the median step
time over steps 1..19 (median over the repeats' medians), the process's wall
and CPU (user + sys) time, and the check's verdict.
"""
import json, os, re, statistics, subprocess, sys, time

def run(runner, d):
    t0 = time.time()
    r0 = os.times()
    p = subprocess.run([runner, d, "--steps=20", "--check", "--no-progress"],
                       capture_output=True, text=True)
    r1 = os.times()
    wall = time.time() - t0
    cpu = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
    steps = [float(m.group(2)) for m in re.finditer(r"^step (\d+) loss \S+ time (\S+) ms", p.stdout, re.M)]
    check = "PASS" if re.search(r"^check:.*PASS", p.stdout, re.M) else "FAIL"
    if p.returncode != 0:
        check = "FAIL rc=%d %s" % (p.returncode, p.stderr.strip()[-200:])
    return steps, wall, cpu, check

def main():
    runner = os.environ.get("DUALPIPE_RUN", os.path.join(os.path.dirname(__file__), "../../build/bin/dualpipe-run"))
    repeats = int(os.environ.get("REPEATS", "3"))
    configs = [a.split(":", 1) for a in sys.argv[1:]]
    res = {name: [] for name, _ in configs}
    for _ in range(repeats):
        for name, d in configs:
            res[name].append(run(runner, d))
    print("%-28s %-40s %10s %10s %9s %9s %s" % ("config", "stage ms (cost model)", "sim ms", "median ms", "wall s", "cpu s", "check"))
    for name, d in configs:
        rep = json.load(open(d.rstrip("/") + ".partition.json"))
        stages = "/".join("%.4f" % (s["time_s"] * 1e3) for s in rep["stages"])
        sim = rep.get("simulated", {}).get("step_time_s")
        if sim is None:
            # main's report has no simulation: the same cut's simulated time
            # from a report that lists it as its least-max-rank-load cut.
            bounds = [0] + [c["before_op"] for c in rep["cuts"]] + [rep["num_ops"]]
            for _, d2 in configs:
                other = json.load(open(d2.rstrip("/") + ".partition.json"))
                old = other.get("simulated", {}).get("least_max_rank_load_cut")
                if old and old["bounds"] == bounds:
                    sim = old["step_time_s"]
        meds = [statistics.median(s[1:20]) for s, _, _, _ in res[name] if len(s) >= 20]
        med = statistics.median(meds) if meds else float("nan")
        wall = statistics.median(w for _, w, _, _ in res[name])
        cpu = statistics.median(c for _, _, c, _ in res[name])
        checks = ",".join(sorted(set(c for _, _, _, c in res[name])))
        print("%-28s %-40s %10s %10.3f %9.2f %9.2f %s  (medians %s)" % (
            name, stages, "%.4f" % (sim * 1e3) if sim else "-", med, wall, cpu, checks,
            " ".join("%.3f" % m for m in meds)))

main()
