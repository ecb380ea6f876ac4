#!/usr/bin/env python3
"""Compile time against depth (issue #14's table): dualpipe-gen GPTs of L
layers (tiny shapes: compile time depends on the number of ops), with
blocks as calls (the default) or flat (--flat=1), compiled for 8-rank
DualPipe with 16 micro-batches, the single-device reference included,
one compile at a time. Prints one row per compile (wall and CPU seconds
from time(1), peak RSS, dualpipe-compile's own phase line) and writes
bench/results/compile-depth.json.

usage: bench/compile_depth.py [--bin=build/bin] [--layers=12,24,48,96]
       [--forms=calls,flat] [--opt-level=3] [--jobs=0,1] [--cap=1800]
"""
import argparse
import json
import os
import re
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def compile_once(bin_dir, model, out, opt, jobs, cap):
    cmd = [os.path.join(bin_dir, "dualpipe-compile"), model, "--schedule=dualpipe",
           "--ranks=8", "--microbatches=16", "-o", out, "--time-phases",
           "-j", str(jobs)]
    if opt is not None:
        cmd.append("--opt-level=%d" % opt)
    timed = ["/usr/bin/time", "-f", "TIME %e %U %S %M", "timeout", "-s", "KILL",
             str(cap)] + cmd
    p = subprocess.run(timed, capture_output=True, text=True)
    row = {"command": " ".join(cmd[0:1] + [os.path.basename(model)] + cmd[2:]),
           "status": "ok" if p.returncode == 0 else "failed (exit %d)" % p.returncode}
    m = re.search(r"TIME ([0-9.]+) ([0-9.]+) ([0-9.]+) ([0-9]+)", p.stderr)
    if m:
        row.update(wall_s=float(m.group(1)),
                   cpu_s=float(m.group(2)) + float(m.group(3)),
                   peak_rss_mib=int(m.group(4)) // 1024)
    m = re.search(r"phase times \(wall s\): (.*)", p.stderr)
    row["phases"] = m.group(1) if m else ""
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--layers", default="12,24,48,96")
    ap.add_argument("--forms", default="calls,flat")
    ap.add_argument("--opt-level", type=int, default=None,
                    help="default: dualpipe-compile's own default")
    ap.add_argument("--jobs", default="0")
    ap.add_argument("--cap", type=int, default=1800)
    a = ap.parse_args()
    rows = []
    work = tempfile.mkdtemp(prefix="dualpipe-depth-")
    for form in a.forms.split(","):
        for layers in [int(x) for x in a.layers.split(",")]:
            model = os.path.join(work, "gpt%d-%s.mlir" % (layers, form))
            gen = [os.path.join(a.bin, "dualpipe-gen"), "gpt", "--layers=%d" % layers,
                   "--hidden=32", "--heads=2", "--seq=8", "--vocab=64", "--batch=1",
                   "-o", model] + (["--flat=1"] if form == "flat" else [])
            subprocess.run(gen, check=True)
            for jobs in [int(x) for x in a.jobs.split(",")]:
                row = compile_once(a.bin, model, os.path.join(work, "out"),
                                   a.opt_level, jobs, a.cap)
                row.update(form=form, layers=layers, jobs=jobs,
                           load=os.getloadavg()[0])
                rows.append(row)
                print("%-5s L=%-3d -j%d: %s, wall %s s, CPU %s s, peak %s MiB, load %.1f; %s"
                      % (form, layers, jobs, row["status"], row.get("wall_s"),
                         row.get("cpu_s"), row.get("peak_rss_mib"), row["load"],
                         row["phases"]), flush=True)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "compile-depth.json"), "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
