#!/usr/bin/env bash
# Runs the readers' fuzz target for a bounded time on the seeds here plus
# generated safetensors seeds; fails on any crash, leak, sanitizer report or
# broken invariant, and prints the number of executions.
#
#   run-fuzz.sh FUZZER SEEDS WORK SECONDS
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3 seconds=$4
rm -rf "$work"
mkdir -p "$work/corpus"
cp "$seeds"/* "$work/corpus/"
# Safetensors seeds: 'S' + the file (a checkpoint with metadata, integer and
# float tensors, a scalar, an empty tensor).
python3 - "$work/corpus" <<'PY'
import json, struct, sys
def file(tensors, meta=None):
    header, blobs, offset = {}, b"", 0
    if meta:
        header["__metadata__"] = meta
    for name, (dtype, shape, blob) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs += blob
    text = json.dumps(header).encode()
    return b"S" + struct.pack("<Q", len(text)) + text + blobs
seeds = {
    "checkpoint": file({"fc0.weight": ("F32", [2, 3], struct.pack("<6f", *range(6))),
                        "fc0.bias": ("F32", [3], struct.pack("<3f", 1, 2, 3))},
                       {"step": "3", "optimizer": "adamw"}),
    "tokens": file({"tokens": ("I64", [2, 2], struct.pack("<4q", 1, 2, 3, 4)),
                    "targets": ("I32", [4], struct.pack("<4i", 0, 1, 2, 3))}),
    "scalar": file({"s": ("F64", [], struct.pack("<d", 3.5)), "e": ("BF16", [0], b"")}),
}
for name, data in seeds.items():
    open("%s/%s.safetensors" % (sys.argv[1], name), "wb").write(data)
PY
log=$work/fuzz.log
if ! (cd "$work" && "$fuzzer" -max_total_time="$seconds" -seed=1 -timeout=10 \
      -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$work/" "$work/corpus") >"$log" 2>&1; then
  tail -60 "$log"
  echo "FUZZ FAILED: a crash, leak, sanitizer report or broken invariant (input saved in $work/)"
  exit 1
fi
runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
grep -E '^Done|stat::number_of_executed_units|stat::peak_rss_mb|seeded mutation' "$log" || true
echo "fuzz: $runs executions in $seconds s, 0 crashes"
