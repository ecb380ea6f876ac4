"""dualpipe-run's side of a compiled optimizer, driven without the
compiler's: a hand-written optimizer entry point (C, built here into a
library that links the compiled step.so) and a manifest "optimizer" entry
describing it, as dualpipe-compile --optimizer=... writes them.

usage: train_optimizer_runner.py STEP_DIR WORK_DIR [--mpi]

STEP_DIR holds a step compiled by dualpipe-compile (no optimizer). Checks:
  sgd      the compiled sgd follows the runner's SGD bit for bit (5 steps,
           also with --dp=2), with lr from the manifest or from --lr;
  adamw    the first update equals AdamW computed here from the dumped
           gradients (t = 1); the state is zero at first, checkpointed under
           its names with metadata optimizer=adamw; a run resumed from a
           step-3 checkpoint follows the uninterrupted 6-step trajectory
           exactly, with t continuing (4, 5, 6);
  errors   resuming from a checkpoint of another optimizer, or one without
           a state tensor, fails and says why;
  --mpi    (needs mpirun; only this) adamw under mpirun --backend=mpi
           prints the same losses and writes the same checkpoint as on
           threads, also with --dp=2.
"""
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import manifest_seal  # noqa: E402  (the manifest's abi text and library hash)

step_dir, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
use_mpi = "--mpi" in sys.argv[3:]
failures = []


def check(ok, what):
    print("%s: %s" % ("ok" if ok else "FAIL", what))
    if not ok:
        failures.append(what)


def read_st(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {}
    for name, spec in header.items():
        b, e = spec["data_offsets"]
        fmt = {"F32": "f", "I64": "q", "I32": "i"}[spec["dtype"]]
        out[name] = list(struct.unpack("<%d%s" % ((e - b) // struct.calcsize(fmt), fmt),
                                       body[b:e]))
    return out, meta


def write_st(path, tensors, shapes, meta):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        blob = struct.pack("<%df" % len(tensors[name]), *tensors[name])
        header[name] = {"dtype": "F32", "shape": shapes[name],
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    header["__metadata__"] = meta
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


manifest = json.load(open(os.path.join(step_dir, "manifest.json")))
params = [a for a in manifest["arguments"] if a["role"] == "param"]
shapes = {a["name"]: a["shape"] for a in params}
count = [math.prod(a["shape"]) for a in params]
P = len(params)

# The optimizer in C, packed calling convention: args[i] points to a memref
# descriptor {allocated, aligned, offset, sizes..., strides...}.
C = r"""
#include <math.h>
#include <stdint.h>
typedef struct { float *allocated, *aligned; int64_t offset; } Desc;
#define P %(P)d
static const int64_t count[P] = {%(count)s};
static float *at(void **args, int i) {
  Desc *d = (Desc *)args[i];
  return d->aligned + d->offset;
}
void dualpipe_optimizer_packed(void **args) {
  float *sc = at(args, %(scalars)d);
  float lr = sc[0], t = sc[1];
  for (int p = 0; p < P; ++p) {
    float *w = at(args, p), *g = at(args, P + p);
#if KIND == 0
    for (int64_t i = 0; i < count[p]; ++i)
      w[i] -= lr * g[i];
#else
    float *m = at(args, 2 * P + 2 * p), *v = at(args, 2 * P + 2 * p + 1);
    float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.01f;
    float c1 = 1.0f - powf(b1, t), c2 = 1.0f - powf(b2, t);
    for (int64_t i = 0; i < count[p]; ++i) {
      m[i] = b1 * m[i] + (1.0f - b1) * g[i];
      v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
      float mh = m[i] / c1, vh = v[i] / c2;
      w[i] -= lr * (mh / (sqrtf(vh) + eps) + wd * w[i]);
    }
#endif
  }
#if KIND == 1
  at(args, 4 * P)[0] = t; /* "seen.t": the t it was called with */
#endif
}
"""


def make(kind, lr):
    """OUT dir for `kind` (sgd or adamw): opt.so (the optimizer, NEEDing
    step.so) and a manifest whose library is opt.so. opt.so exports the abi
    text of that manifest (its entry points and the optimizer's), and the
    manifest records opt.so's size and SHA-256, as dualpipe-compile does."""
    out = os.path.join(work, "step-" + kind)
    os.makedirs(out, exist_ok=True)
    args = [dict(name=a["name"], role="param", shape=a["shape"], dtype="f32") for a in params]
    args += [dict(name=a["name"], role="grad", shape=a["shape"], dtype="f32") for a in params]
    if kind == "adamw":
        for a in params:
            for s in ("exp_avg", "exp_avg_sq"):
                args.append(dict(name=a["name"] + "." + s, role="state", param=a["name"],
                                 shape=a["shape"], dtype="f32"))
        args.append(dict(name="seen.t", role="state", shape=[1], dtype="f32"))
    args.append(dict(name="step", role="scalars", shape=[2], dtype="f32"))
    m = dict(manifest)
    m["library"] = "opt.so"
    m["optimizer"] = {"kind": kind, "entry_point": "dualpipe_optimizer_packed",
                      "hyperparameters": {"lr": lr, "beta1": 0.9, "beta2": 0.999,
                                          "eps": 1e-8, "weight_decay": 0.01},
                      "arguments": args}
    src = os.path.join(out, "opt.c")
    with open(src, "w") as f:
        f.write(C % dict(P=P, count=", ".join(map(str, count)), scalars=len(args) - 1))
        f.write(manifest_seal.c_definition(m))
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-DKIND=%d" % (kind == "adamw"),
                    "-o", os.path.join(out, "opt.so"), src, "-Wl,--no-as-needed",
                    os.path.join(step_dir, "step.so"), "-Wl,-rpath," + step_dir, "-lm"],
                   check=True)
    m.update(manifest_seal.library_fields(os.path.join(out, "opt.so")))
    m["abi"] = manifest_seal.abi(m)
    json.dump(m, open(os.path.join(out, "manifest.json"), "w"), indent=1)
    return out


def run(out, *flags, mpi=0, ok=True):
    cmd = ["dualpipe-run", out, "--seed=5"] + list(flags)
    if mpi:
        cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", str(mpi)] + cmd + [
            "--backend=mpi"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if ok and r.returncode != 0:
        print(" ".join(cmd) + "\n" + r.stdout + r.stderr)
        failures.append(" ".join(cmd))
    return r


def losses(r):
    return re.findall(r"^step (\d+) loss (\S+)", r.stdout, re.M)


sgd = make("sgd", 0.5)
adamw = make("adamw", 0.01)

if not use_mpi:
    # sgd: the compiled update against the runner's.
    runner = losses(run(step_dir, "--steps=5", "--lr=0.5"))
    compiled = run(sgd, "--steps=5", "--check")
    check(losses(compiled) == runner and len(runner) == 5,
          "compiled sgd (lr 0.5 from the manifest) follows the runner's SGD bit for bit")
    check("optimizer: sgd (compiled, dualpipe_optimizer_packed), lr 0.5, 0 state tensors"
          in compiled.stdout and "tolerance 1e-5: PASS" in compiled.stdout,
          "the optimizer line and --check")
    check(losses(run(sgd, "--steps=5", "--lr=0.2")) == losses(run(step_dir, "--steps=5", "--lr=0.2")),
          "--lr=0.2 overrides the compiled lr")
    check(losses(run(sgd, "--steps=3", "--dp=2")) == losses(run(step_dir, "--steps=3", "--lr=0.5", "--dp=2")),
          "compiled sgd with --dp=2 follows the runner's")

    # adamw: the first update, computed here.
    p0 = os.path.join(work, "p0.safetensors")
    run(step_dir, "--steps=1", "--lr=0", "--save=" + p0)
    g1, p1 = os.path.join(work, "g1.safetensors"), os.path.join(work, "p1.safetensors")
    run(adamw, "--steps=1", "--params=" + p0, "--dump-grads=" + g1, "--save=" + p1)
    w0, _ = read_st(p0)
    g, _ = read_st(g1)
    w1, meta = read_st(p1)
    worst = 0.0
    for a in params:
        n = a["name"]
        for w, gi, got in zip(w0[n], g[n], w1[n]):
            m, v = 0.1 * gi, 0.001 * gi * gi
            mh, vh = m / (1 - 0.9), v / (1 - 0.999)
            want = w - 0.01 * (mh / (math.sqrt(vh) + 1e-8) + 0.01 * w)
            worst = max(worst, abs(got - want) / max(abs(want), 1e-3))
    check(worst < 1e-5, "the first adamw update matches AdamW computed from the dumped "
          "gradients (t = 1, zero state): worst relative error %.2g" % worst)
    check(meta.get("optimizer") == "adamw" and meta.get("step") == "1" and w1["seen.t"] == [1.0]
          and all(n + ".exp_avg" in w1 and n + ".exp_avg_sq" in w1 for n in shapes),
          "the checkpoint holds the state under its names, optimizer=adamw, step 1")

    # adamw: resume from a mid-run checkpoint reproduces the trajectory.
    full = losses(run(adamw, "--steps=6"))
    ck = os.path.join(work, "adamw3.safetensors")
    first = run(adamw, "--steps=3", "--save=" + ck)
    second = run(adamw, "--steps=3", "--resume=" + ck, "--save=" + os.path.join(work, "adamw6.safetensors"))
    check(losses(first) + losses(second) == full and len(full) == 6,
          "adamw resumed at step 3 follows the uninterrupted 6 steps exactly")
    w6, meta6 = read_st(os.path.join(work, "adamw6.safetensors"))
    check(w6["seen.t"] == [6.0] and meta6.get("step") == "6", "t continues after --resume (6 at the end)")
    print("adamw losses: " + " ".join(v for _, v in full))

    # errors
    sgd_ck = os.path.join(work, "sgd.safetensors")
    run(step_dir, "--steps=1", "--save=" + sgd_ck)
    r = run(adamw, "--steps=1", "--resume=" + sgd_ck, ok=False)
    print("resume adamw from runner sgd: rc %d: %s" % (r.returncode, r.stderr.strip()))
    check(r.returncode != 0, "resuming adamw from an sgd checkpoint fails")
    r = run(step_dir, "--steps=1", "--resume=" + ck, ok=False)
    print("resume runner sgd from adamw: rc %d: %s" % (r.returncode, r.stderr.strip()))
    check(r.returncode != 0, "resuming the runner's sgd from an adamw checkpoint fails")
    w3, meta3 = read_st(ck)
    missing = params[0]["name"] + ".exp_avg_sq"
    del w3[missing]
    cut = os.path.join(work, "cut.safetensors")
    write_st(cut, w3, dict(shapes, **{k: shapes.get(k.rsplit(".", 1)[0], [1]) for k in w3
                                      if k not in shapes}), meta3)
    r = run(adamw, "--steps=1", "--resume=" + cut, ok=False)
    print("resume without a state tensor: rc %d: %s" % (r.returncode, r.stderr.strip()))
    check(r.returncode != 0, "resuming without a state tensor fails")

if use_mpi:
    ranks = manifest["ranks"]
    lmpi = os.path.join(work, "mpi.safetensors")
    local = os.path.join(work, "local.safetensors")
    a = run(adamw, "--steps=3", "--check", "--save=" + local)
    b = run(adamw, "--steps=3", "--check", "--save=" + lmpi, mpi=ranks)
    same = open(local, "rb").read() == open(lmpi, "rb").read()
    check(losses(a) == losses(b) and len(losses(b)) == 3 and same
          and "tolerance 1e-5: PASS" in b.stdout,
          "adamw under mpirun -np %d: the same losses and checkpoint as on threads" % ranks)
    a = run(adamw, "--steps=2", "--dp=2")
    b = run(adamw, "--steps=2", "--dp=2", mpi=2 * ranks)
    check(losses(a) == losses(b) and len(losses(b)) == 2,
          "adamw with --dp=2 under mpirun -np %d: the same losses as on threads" % (2 * ranks))

print("%d check(s) failed" % len(failures) if failures else "all checks passed")
sys.exit(1 if failures else 0)
