#!/usr/bin/env python3
"""Compile a deep dualpipe-gen GPT without the single-device reference and
record the phases and the slowest passes in bench/results/compile-noref.json.

usage: bench/compile_noref.py [--bin=build/bin] [--layers=96] [--ranks=8]
       [--microbatches=16] [--opt-level=0] [--from=DIR]

--from=DIR reads a finished compile's stdout.txt / stderr.txt (time(1) line
included) from DIR instead of compiling (the compile takes long here).
"""
import argparse
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse(stderr_text, stdout_text):
    phases = {}
    m = re.search(r"phase times \(wall s\): (.*)", stderr_text)
    if m:
        for item in m.group(1).split(";"):
            item = item.strip()
            if item:
                name, value = item.rsplit(" ", 1)
                phases[name.strip()] = float(value)
    passes = {}
    for line in stderr_text.splitlines():
        # --mlir-timing-display=list rows: user (pct) wall (pct) name
        m = re.match(r"\s+([0-9.]+) \(\s*[0-9.]+%\)\s+([0-9.]+) \(\s*[0-9.]+%\)\s+(.+)$",
                     line)
        if not m:
            continue
        name = m.group(3).strip()
        if name in ("root", "Total", "Rest") or name.startswith("Pipeline Collection") \
                or name.endswith("Pipeline"):
            continue
        passes[name] = passes.get(name, 0.0) + float(m.group(2))
    t = re.search(r"wall ([0-9.]+) user ([0-9.]+) sys ([0-9.]+) maxrss_kb ([0-9]+)",
                  stderr_text + stdout_text)
    ok = "dualpipe-compile: wrote" in stdout_text
    return phases, sorted(passes.items(), key=lambda kv: -kv[1]), t, ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--layers", type=int, default=96)
    ap.add_argument("--ranks", type=int, default=8)
    ap.add_argument("--microbatches", type=int, default=16)
    ap.add_argument("--opt-level", type=int, default=0)
    ap.add_argument("--from", dest="src", default="")
    ap.add_argument("--load", type=float, default=None)
    a = ap.parse_args()
    work = "/tmp/dualpipe-bench"
    model = "%s/gpt%d.mlir" % (work, a.layers)
    out = "%s/gpt%d-noref" % (work, a.layers)
    cmd = ("dualpipe-compile %s --schedule=dualpipe --ranks=%d --microbatches=%d "
           "--opt-level=%d --reference=false --time-phases --mlir-timing "
           "--mlir-timing-display=list -o %s" % (model, a.ranks, a.microbatches,
                                                 a.opt_level, out))
    if a.src:
        stdout = open(os.path.join(a.src, "stdout.txt")).read()
        stderr = open(os.path.join(a.src, "stderr.txt")).read()
        load = a.load
    else:
        os.makedirs(work, exist_ok=True)
        subprocess.run([os.path.join(a.bin, "dualpipe-gen"), "gpt",
                        "--layers=%d" % a.layers, "--hidden=32", "--heads=2", "--seq=8",
                        "--vocab=64", "--batch=1", "-o", model], check=True)
        p = subprocess.run(["/usr/bin/time", "-f",
                            "wall %e user %U sys %S maxrss_kb %M",
                            os.path.join(a.bin, "dualpipe-compile")] + cmd.split()[1:],
                           capture_output=True, text=True)
        stdout, stderr = p.stdout, p.stderr
        load = os.getloadavg()[0]
    phases, passes, t, ok = parse(stderr, stdout)
    run = {"layers": a.layers, "ranks": a.ranks, "microbatches": a.microbatches,
           "opt_level": a.opt_level, "command": cmd,
           "model": "dualpipe-gen gpt --layers=%d --hidden=32 --heads=2 --seq=8 "
                    "--vocab=64 --batch=1" % a.layers,
           "status": "ok" if ok else "failed", "phases": phases,
           "passes": passes[:25], "load": load}
    if t:
        run.update(wall_s=float(t.group(1)), cpu_s=float(t.group(2)) + float(t.group(3)),
                   peak_rss_mib=int(t.group(4)) / 1024.0)
    path = os.path.join(ROOT, "bench", "results", "compile-noref.json")
    data = json.load(open(path)) if os.path.exists(path) else {"runs": []}
    data["runs"] = [r for r in data["runs"] if r["layers"] != a.layers] + [run]
    data["runs"].sort(key=lambda r: r["layers"])
    json.dump(data, open(path, "w"), indent=1)
    print("wrote %s (%d layers: %s)" % (path, a.layers, run["status"]))


if __name__ == "__main__":
    sys.exit(main())
