"""The compiled optimizer step (dualpipe-compile --optimizer) against
PyTorch's update rules computed here in float64 from the same parameters and
gradients (torch.optim.SGD with momentum, torch.optim.AdamW).

usage: check_compiled_optimizer.py DUALPIPE_RUN MLP_MODEL_DIR_PREFIX WORKDIR

For each of momentum and adamw: step 1 from known parameters and zero state
(t = 1), then step 2 resumed from step 1's checkpoint (t = 2, non-zero
state); each checked from the gradients dualpipe-run dumps. And compiled
plain SGD against the runner's SGD over 10 steps (identical losses).
"""
import math
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import st  # noqa: E402

RUN, PREFIX, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
TOL = 1e-5


def run(args):
    p = subprocess.run([RUN] + args, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("dualpipe-run %s failed (rc %d):\n%s%s" %
                 (" ".join(args), p.returncode, p.stdout, p.stderr))
    return p.stdout


def rel(a, b):
    num = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
    den = math.sqrt(sum(y * y for y in b)) or 1.0
    return num / den


def momentum_step(p, g, buf, lr, mom, wd):
    out_p, out_b = [], []
    for pi, gi, bi in zip(p, g, buf):
        gi = gi + wd * pi
        bi = mom * bi + gi
        out_p.append(pi - lr * bi)
        out_b.append(bi)
    return out_p, out_b


def adamw_step(p, g, m, v, t, lr, b1, b2, eps, wd):
    bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
    out = ([], [], [])
    for pi, gi, mi, vi in zip(p, g, m, v):
        pi = pi * (1 - lr * wd)
        mi = b1 * mi + (1 - b1) * gi
        vi = b2 * vi + (1 - b2) * gi * gi
        pi = pi - (lr / bc1) * mi / (math.sqrt(vi) / math.sqrt(bc2) + eps)
        for o, x in zip(out, (pi, mi, vi)):
            o.append(x)
    return out


def check(kind, hyper, step_dir):
    random.seed(7)
    manifest_params = st.read(os.path.join(WORK, "init.safetensors"))
    params = manifest_params
    state = {}
    worst = 0.0
    for t in (1, 2):
        grads_file = os.path.join(WORK, "%s-g%d.safetensors" % (kind, t))
        ckpt = os.path.join(WORK, "%s-c%d.safetensors" % (kind, t))
        args = [step_dir, "--steps=1", "--dump-grads=" + grads_file,
                "--save=" + ckpt, "--no-progress"]
        args.append("--params=" + os.path.join(WORK, "init.safetensors")
                    if t == 1 else
                    "--resume=" + os.path.join(WORK, "%s-c1.safetensors" % kind))
        run(args)
        grads = st.read(grads_file)
        after = st.read(ckpt)
        for name, (shape, p) in params.items():
            if "." in name and name.rsplit(".", 1)[1] in (
                    "momentum_buffer", "exp_avg", "exp_avg_sq"):
                continue
            g = grads[name][1]
            if kind == "momentum":
                buf = state.get(name + ".momentum_buffer", [0.0] * len(p))
                newp, newb = momentum_step(p, g, buf, hyper["lr"],
                                           hyper["momentum"], hyper["wd"])
                expect = {name: newp, name + ".momentum_buffer": newb}
            else:
                m = state.get(name + ".exp_avg", [0.0] * len(p))
                v = state.get(name + ".exp_avg_sq", [0.0] * len(p))
                newp, newm, newv = adamw_step(p, g, m, v, t, hyper["lr"],
                                              hyper["beta1"], hyper["beta2"],
                                              hyper["eps"], hyper["wd"])
                expect = {name: newp, name + ".exp_avg": newm,
                          name + ".exp_avg_sq": newv}
            for key, want in expect.items():
                if key not in after:
                    sys.exit("FAIL: %s step %d: checkpoint has no '%s'" %
                             (kind, t, key))
                e = rel(after[key][1], want)
                worst = max(worst, e)
                if not e <= TOL:
                    sys.exit("FAIL: %s step %d: '%s' relative error %.3g > %g"
                             % (kind, t, key, e, TOL))
        params = {k: v for k, v in after.items()}
        state = {k: v[1] for k, v in after.items()}
    print("ok: compiled %s matches PyTorch's update at t = 1 and t = 2 "
          "(parameters and state; worst relative error %.1e, tolerance %g)"
          % (kind, worst, TOL))


def main():
    import json
    random.seed(7)
    manifest = json.load(open(os.path.join(PREFIX + "adamw", "manifest.json")))
    init = {}
    for a in manifest["arguments"]:
        if a["role"] == "param":
            n = 1
            for d in a["shape"]:
                n *= d
            init[a["name"]] = (a["shape"],
                               [random.gauss(0.0, 0.3) for _ in range(n)])
    st.write(os.path.join(WORK, "init.safetensors"), init)

    check("momentum", {"lr": 0.05, "momentum": 0.8, "wd": 0.01},
          PREFIX + "momentum")
    check("adamw", {"lr": 0.01, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6,
                    "wd": 0.1}, PREFIX + "adamw")

    # Compiled plain SGD and the runner's SGD: the same losses, step by step.
    def losses(step_dir):
        out = run([step_dir, "--steps=10", "--lr=0.05", "--no-progress",
                   "--params=" + os.path.join(WORK, "init.safetensors")])
        return [l.split()[3] for l in out.splitlines() if l.startswith("step ")]
    compiled, runner = losses(PREFIX + "sgd"), losses(PREFIX + "none")
    if compiled != runner or len(compiled) != 10:
        sys.exit("FAIL: compiled sgd losses %s differ from the runner's %s" %
                 (compiled, runner))
    print("ok: compiled sgd gives the runner's SGD losses over 10 steps "
          "(%s -> %s)" % (compiled[0], compiled[-1]))
    if not float(compiled[-1]) < float(compiled[0]):
        sys.exit("FAIL: the loss did not go down")


main()
