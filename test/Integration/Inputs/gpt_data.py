"""Integer inputs from --data: writes a safetensors file holding the GPT's
token ids (I64) and targets (I32: dualpipe-run converts them to the step's
i64), trains on it with --check, resumes from a checkpoint, and checks the
refusals: an integer argument with neither --data nor an int_range, token
ids of the wrong dtype.

usage: gpt_data.py STEP_DIR WORK_DIR"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys

step, work = sys.argv[1], sys.argv[2]
manifest = json.load(open(os.path.join(step, "manifest.json")))
failures = []


def check(ok, what):
    print("%s: %s" % ("ok" if ok else "FAIL", what))
    if not ok:
        failures.append(what)


def write_st(path, tensors):
    """tensors: name -> (dtype, shape, values)."""
    header, offset, blobs = {}, 0, []
    for name, (dtype, shape, values) in sorted(tensors.items()):
        blob = struct.pack("<%d%s" % (len(values), {"I64": "q", "I32": "i", "F32": "f"}[dtype]),
                           *values)
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def run(out, *flags):
    return subprocess.run(["dualpipe-run", out] + list(flags),
                          capture_output=True, text=True)


def losses(r):
    return re.findall(r"^step \d+ loss \S+", r.stdout, re.M)


args = {a["name"]: a for a in manifest["arguments"]}
tokens, targets = args["tokens"], args["targets"]
print("manifest: tokens %s %s int_range %s; targets %s %s int_range %s" % (
    tokens["dtype"], tokens["shape"], tokens.get("int_range"), targets["dtype"],
    targets["shape"], targets.get("int_range")))
vocab = tokens["int_range"][1]
n = tokens["shape"][0] * tokens["shape"][1]
data = os.path.join(work, "data.safetensors")
write_st(data, {"tokens": ("I64", tokens["shape"], [(7 * i + 3) % vocab for i in range(n)]),
                "targets": ("I32", targets["shape"], [(7 * i + 4) % vocab for i in range(n)])})
r = run(step, "--data=" + data, "--check", "--steps=3", "--lr=0.1")
print("".join(l + "\n" for l in losses(r)), end="")
check(r.returncode == 0 and "tolerance 1e-5: PASS" in r.stdout and len(losses(r)) == 3,
      "--data with I64 tokens and I32 targets: --check passes")
ck = os.path.join(work, "ck.safetensors")
a = run(step, "--data=" + data, "--steps=2", "--lr=0.1", "--save=" + ck)
b = run(step, "--data=" + data, "--steps=1", "--lr=0.1", "--resume=" + ck)
check(losses(a) + losses(b) == losses(r), "--save after 2 steps, --resume for 1: the same 3 losses")
grads = os.path.join(work, "grads.safetensors")
c = run(step, "--data=" + data, "--dump-grads=" + grads)
check(c.returncode == 0 and os.path.exists(grads), "--dump-grads")

# The same step without the ranges: --data is then needed.
bare = os.path.join(work, "bare")
shutil.copytree(step, bare)
m = json.load(open(os.path.join(bare, "manifest.json")))
for x in m["arguments"]:
    x.pop("int_range", None)
json.dump(m, open(os.path.join(bare, "manifest.json"), "w"))
r = run(bare)
print("no int_range, no --data: rc %d: %s" % (r.returncode, r.stderr.strip()))
check(r.returncode != 0, "an integer input without a range or --data is refused")
r = run(bare, "--data=" + data, "--steps=3", "--lr=0.1")
check(losses(r) == losses(a) + losses(b), "no int_range but --data: runs as before")
f32 = os.path.join(work, "f32.safetensors")
write_st(f32, {"tokens": ("F32", tokens["shape"], [0.0] * n),
               "targets": ("I64", targets["shape"], [0] * n)})
r = run(step, "--data=" + f32)
print("F32 tokens: rc %d: %s" % (r.returncode, r.stderr.strip()))
check(r.returncode != 0, "F32 token ids are refused")
print("%d check(s) failed" % len(failures) if failures else "all checks passed")
sys.exit(1 if failures else 0)
