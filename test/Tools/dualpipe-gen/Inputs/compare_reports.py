"""Prints the largest per-micro-batch rank load of partition reports.

The first report is the linear baseline; each following report is compared
with it and with its own best linear partition on the same ranks.
"""
import json
import sys

base = json.load(open(sys.argv[1]))
lin = base["max_rank_load_per_microbatch_s"] * 1e3
print("linear: %d stages on %d ranks, max rank load per micro-batch %.4f ms"
      % (base["num_stages"], base["num_ranks"], lin))
for path in sys.argv[2:]:
    r = json.load(open(path))
    mine = r["max_rank_load_per_microbatch_s"] * 1e3
    best = r["best_linear_same_ranks"]["max_rank_load_s"] * 1e3
    verdict = "lower than linear" if mine < lin else "NOT lower than linear"
    print("%s: %d stages on %d ranks, max rank load per micro-batch %.4f ms "
          "(best linear on these ranks %.4f ms): %s"
          % (r["placement"], r["num_stages"], r["num_ranks"], mine, best,
             verdict))
    print("  rank loads (ms): "
          + ", ".join("%.4f" % (x["load_per_microbatch_s"] * 1e3)
                      for x in r["ranks"]))
    print("  stage times (ms): "
          + ", ".join("%.4f" % (s["time_s"] * 1e3) for s in r["stages"]))
