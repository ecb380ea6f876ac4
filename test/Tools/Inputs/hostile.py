"""dualpipe-run against hostile and careless input (issue #19): every case
is a clean refusal, a non-zero exit with a message saying what is wrong and
what to do, never a signal, a hang, or a run that trains on garbage.

usage: hostile.py STEP OTHER_STEP WORK

STEP and OTHER_STEP are compiled training steps (different models). Each
case copies STEP, damages one thing, runs dualpipe-run and prints
  NAME: rc N: <the error line>
FileCheck (dualpipe-run-hostile.test) matches the lines; this script fails
when a run ends on a signal or exits 0.
"""
import json
import os
import shutil
import signal
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "Integration", "Inputs"))
import manifest_seal  # noqa: E402

step, other, work = (os.path.abspath(a) for a in sys.argv[1:4])
failures = []


def copy(name):
    out = os.path.join(work, name)
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(step, out)
    return out


def manifest_of(d):
    return json.load(open(os.path.join(d, "manifest.json")))


def write_manifest(d, m, seal=False):
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(m, f, indent=1)
    if seal:
        manifest_seal.seal(d)


def run(name, d, *flags, env=None, expect_rc=(1, 2)):
    cmd = ["dualpipe-run", d, "--no-progress"] + list(flags)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, **(env or {})))
    except subprocess.TimeoutExpired:
        failures.append(name + ": hung")
        print("%s: HUNG" % name)
        return None
    err = r.stderr.strip().splitlines()
    line = next((l for l in err if "error:" in l), err[-1] if err else "")
    print("%s: rc %d: %s" % (name, r.returncode, line))
    if r.returncode < 0:
        failures.append("%s: killed by %s" % (name, signal.Signals(-r.returncode).name))
    elif r.returncode not in expect_rc:
        failures.append("%s: exit status %d" % (name, r.returncode))
    if r.returncode == 0 and ("nan" in r.stdout or "inf" in r.stdout):
        failures.append(name + ": trained to a non-finite loss")
    return r


def args_named(m, role, name):
    return next(a for a in m["arguments"] if a["role"] == role and a["name"] == name)


# --- The manifest ------------------------------------------------------------
m0 = manifest_of(step)
params = [a for a in m0["arguments"] if a["role"] == "param"]
same = [a for a in params if a["shape"] == params[0]["shape"]]
assert len(same) >= 2, "the test model needs two parameters of one shape"

d = copy("shape-unsealed")
m = manifest_of(d)
args_named(m, "input", "x")["shape"][0] *= 2
write_manifest(d, m)
run("shape edited", d)

d = copy("shape-sealed")
m = manifest_of(d)
args_named(m, "input", "x")["shape"][0] *= 2
write_manifest(d, m, seal=True)
run("shape edited, abi recomputed", d)

d = copy("dtype")
m = manifest_of(d)
args_named(m, "input", "x")["dtype"] = "f64"
write_manifest(d, m, seal=True)
run("dtype edited, abi recomputed", d)

d = copy("swap")
m = manifest_of(d)
a, b = (args_named(m, "param", p["name"]) for p in same[:2])
a["name"], b["name"] = b["name"], a["name"]
write_manifest(d, m, seal=True)
run("two parameter names swapped, abi recomputed", d)

d = copy("duplicate")
m = manifest_of(d)
m["arguments"].insert(1, dict(m["arguments"][1]))
write_manifest(d, m, seal=True)
run("an argument listed twice", d)

d = copy("dropped")
m = manifest_of(d)
m["arguments"] = [a for a in m["arguments"]
                  if not (a["role"] == "grad" and a["name"] == params[-1]["name"])]
write_manifest(d, m, seal=True)
run("a gradient argument dropped", d)

d = copy("ranks")
m = manifest_of(d)
m["ranks"] = 1000000
write_manifest(d, m, seal=True)
run("ranks 1000000", d)

d = copy("entry")
m = manifest_of(d)
m["ranks"] += 1
m["entry_points"].append("dualpipe_rank%d_packed" % (m["ranks"] - 1))
write_manifest(d, m, seal=True)
run("a rank added", d)

d = copy("types")
m = manifest_of(d)
m["microbatches"] = "4"
write_manifest(d, m)
run("a number as a string", d)

d = copy("negative")
m = manifest_of(d)
params_m = [a for a in m["arguments"] if a["role"] == "param"]
params_m[0]["shape"][0] = -8
write_manifest(d, m, seal=True)
run("a negative dimension", d)

d = copy("version")
m = manifest_of(d)
m["version"] = 1
write_manifest(d, m)
run("version 1", d)

d = copy("library-path")
m = manifest_of(d)
m["library"] = "../step.so"
write_manifest(d, m)
run("a library outside the folder", d)

# --- The library -------------------------------------------------------------
d = copy("truncated")
lib = os.path.join(d, "step.so")
data = open(lib, "rb").read()
open(lib, "wb").write(data[:len(data) // 2])
run("step.so truncated", d)

d = copy("foreign")
shutil.copy(os.path.join(other, "step.so"), os.path.join(d, "step.so"))
run("step.so of another compile", d)

d = copy("foreign-sealed")
shutil.copy(os.path.join(other, "step.so"), os.path.join(d, "step.so"))
manifest_seal.seal(d)
run("step.so of another compile, manifest resealed", d)

d = copy("garbage")
open(os.path.join(d, "step.so"), "wb").write(b"\x7fELF" + b"\xcc" * 4096)
manifest_seal.seal(d)
run("step.so garbage, manifest resealed", d)

# --- The command line --------------------------------------------------------
for flag in ["--lr=inf", "--lr=nan", "--lr=1e39", "--lr=-1",
             "--steps=99999999999999999999", "--steps=0", "--dp=1000000",
             "--seed=-1", "--seed=99999999999999999999", "--timeout=inf",
             "--save-every=99999999999999999999"]:
    run(flag, step, flag, "--save=" + os.path.join(work, "x.ck"))

# --- Checkpoints and files ---------------------------------------------------
ck = os.path.join(work, "ck.safetensors")
r = run("a good checkpoint", step, "--steps=1", "--save=" + ck, expect_rc=(0,))


def edited_checkpoint(name, edit):
    data = open(ck, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    header, body = edit(header, body)
    text = json.dumps(header).encode()
    path = os.path.join(work, name + ".safetensors")
    open(path, "wb").write(struct.pack("<Q", len(text)) + text + body)
    return path


for value in ["abc", "-5", "12345678901234567890"]:
    path = edited_checkpoint("step", lambda h, b: (dict(h, __metadata__=dict(
        h["__metadata__"], step=value)), b))
    run("checkpoint step %s" % value, step, "--resume=" + path)


def add_foreign(h, b):
    first = next(k for k in h if k != "__metadata__")
    spec = dict(h[first])
    size = spec["data_offsets"][1] - spec["data_offsets"][0]
    spec["data_offsets"] = [len(b), len(b) + size]
    h = dict(h)
    h["other.weight"] = spec
    return h, b + b[:size] if size <= len(b) else b


run("checkpoint of another model", step,
    "--resume=" + edited_checkpoint("foreign", add_foreign))
path = os.path.join(work, "cut.safetensors")
open(path, "wb").write(open(ck, "rb").read()[:-10])
run("checkpoint truncated", step, "--resume=" + path)

nan = edited_checkpoint("nan", lambda h, b: (h, b"\x00\x00\xc0\x7f" * (len(b) // 4)))
run("parameters all NaN", step, "--resume=" + nan)

# A temporary file of a save that was killed (pid 2^22 + 1 is beyond
# pid_max on most systems; any dead pid will do) is removed on the next start.
dead = subprocess.Popen(["true"])
dead.wait()
stale = ck + ".tmp.%d.0" % dead.pid
open(stale, "wb").write(b"half a checkpoint")
r = run("a stale temporary beside --save", step, "--steps=1", "--save=" + ck,
        expect_rc=(0,))
left = [f for f in os.listdir(work) if f.startswith("ck.safetensors.tmp.")]
print("stale temporary removed: %s; temporaries left: %d" % (
    "removed " + stale in r.stderr, len(left)))
if left:
    failures.append("temporaries left: %s" % left)

print("%d failure(s): %s" % (len(failures), failures) if failures else "no signal, no hang, no garbage")
sys.exit(1 if failures else 0)
