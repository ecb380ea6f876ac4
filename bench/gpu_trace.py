#!/usr/bin/env python3
"""Reads a dualpipe-run trace (Chrome JSON) and prints, per rank and overall,
the busy time of compute actions, the time in communication, and the
fraction of communication hidden under compute (communication time that
overlaps a compute action on the same rank, over all communication time).

    python3 bench/gpu_trace.py trace.json [--flops=F --step-ms=T]

Compute actions are the events the rank programs record with
dualpipe_rt_begin_action/end_action (any event whose category is not
p2p or collective). Without them the hidden fraction cannot be read and
the script says so (exit status 3)."""
import json
import sys


def merge(iv):
    iv = sorted(iv)
    out = []
    for a, b in iv:
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def overlap(a, b, merged):
    t = 0.0
    for x, y in merged:
        lo, hi = max(a, x), min(b, y)
        if hi > lo:
            t += hi - lo
    return t


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    opts = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
    d = json.load(open(args[0]))
    ev = [e for e in d["traceEvents"] if e.get("ph") == "X"]
    ranks = sorted({e["pid"] for e in ev})
    tot_comm = tot_hidden = 0.0
    any_compute = False
    span = max(e["ts"] + e["dur"] for e in ev) - min(e["ts"] for e in ev)
    for r in ranks:
        mine = [e for e in ev if e["pid"] == r]
        comm = [e for e in mine if e.get("cat") in ("p2p", "collective")]
        comp = merge([[e["ts"], e["ts"] + e["dur"]] for e in mine
                      if e.get("cat") not in ("p2p", "collective")])
        any_compute = any_compute or bool(comp)
        c = sum(e["dur"] for e in comm)
        h = sum(overlap(e["ts"], e["ts"] + e["dur"], comp) for e in comm)
        busy = sum(b - a for a, b in comp)
        tot_comm += c
        tot_hidden += h
        print("rank %d: compute %.3f ms, communication %.3f ms, hidden %.3f ms" %
              (r, busy / 1e3, c / 1e3, h / 1e3))
    print("trace span %.3f ms" % (span / 1e3))
    if "flops" in opts and "step-ms" in opts:
        print("achieved %.1f TFLOP/s" % (float(opts["flops"]) / (float(opts["step-ms"]) * 1e-3) / 1e12))
    if not any_compute:
        print("communication hidden under compute: unknown (the trace has no compute "
              "action events; the rank programs do not call dualpipe_rt_begin_action)")
        return 3
    print("communication hidden under compute: %.1f%% (%.3f of %.3f ms)" %
          (100 * tot_hidden / tot_comm if tot_comm else 100.0, tot_hidden / 1e3, tot_comm / 1e3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
