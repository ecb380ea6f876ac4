"""ONNX's own backend node tests (Debian libonnx-testdata) through
dualpipe-import, dualpipe-compile (forward) and dualpipe-run.

usage: onnx_node_tests.py WORK [--data=DIR] [--tests=NAME,...] [--expect=FILE]
                          [--table=FILE] [--write-passing=FILE] [-j N]
                          [--batch=K] [--verbose]

For every test DIR/test_*/ (model.onnx, test_data_set_0/input_N.pb and
output_N.pb) whose ops dualpipe-import lowers, the model is imported
forward only (--loss=none), compiled with dualpipe-compile's forward
skeleton (--schedule=forward, --opt-level=0), run by dualpipe-run on the
test's inputs (--data, --dump-outputs), and every output is compared with
the expected one as ONNX's backend test runner does:
numpy.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-7).

Each test is one of
  pass     the outputs agree;
  fail     it ran and some output differs (wrong numbers or shape);
  refused  dualpipe-import, dualpipe-compile or dualpipe-run stopped with an
           error (its message is kept);
  skipped  not attempted: an op without a lowering, an element type the
           compiled step does not carry (inputs float32, int64, int32 or
           bool; outputs float32, int64, int32 or bool), or no input left
           to feed.

float32, int64 and int32 inputs are fed at run time. dualpipe compiles
static shapes and dualpipe-import needs shapes, axes, Trilu's k and similar
operands known at import: when it refuses a test because an integer input
must be known ("the k ('k') must be known at import time"), or because an
integer input is empty, that input is written into the model as an
initializer with the test's values and the test is imported again. Bool
inputs are always initializers (the runtime feeds f32/f64/i64/i32). Integer
and bool outputs get a Cast to FLOAT appended, since the compiled step's
outputs are f32, and are compared as float32. The supported op list is read from dualpipe-import's own
unsupported-op message (on test/data/onnx/unsupported.onnx).

To keep the run short, the tests that import are compiled K at a time
(--batch, default 48): one merged ONNX graph, every value name prefixed by
its test, so one compile and one run cover K tests; a batch that fails to
compile or run is split in halves until the failing test is alone.

--expect=FILE (one test name a line, # comments) makes the exit status 1 if
a listed test does not pass, and prints the tests that pass but are not
listed ("newly passing: ..."); --write-passing=FILE writes the passing set;
--table=FILE writes the per-op table (docs/onnx-node-tests.md).
"""
import argparse
import collections
import concurrent.futures
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time

import numpy as np
import onnx
from onnx import numpy_helper

RTOL, ATOL = 1e-3, 1e-7  # onnx/backend/test/case/node: the runner's defaults
DEFAULT_DATA = "/usr/share/libonnx-testdata/data/node"
HERE = os.path.dirname(os.path.abspath(__file__))
UNSUPPORTED_ONNX = os.path.join(HERE, "..", "..", "data", "onnx", "unsupported.onnx")

FEED_TYPES = {onnx.TensorProto.FLOAT}
INT_FEED_TYPES = {onnx.TensorProto.INT64, onnx.TensorProto.INT32}
FROZEN_TYPES = {onnx.TensorProto.INT64, onnx.TensorProto.INT32, onnx.TensorProto.BOOL}
CAST_OUTPUTS = {onnx.TensorProto.INT64, onnx.TensorProto.INT32, onnx.TensorProto.BOOL}


def dtype_name(t):
    return onnx.TensorProto.DataType.Name(t)


def supported_ops():
    """The lowerings and host folds dualpipe-import names when it refuses
    an op (the 'Supported: ...; folded at import: ...' list)."""
    r = subprocess.run(["dualpipe-import", UNSUPPORTED_ONNX], capture_output=True, text=True)
    m = re.search(r"Supported: (.*?); folded at import: (.*?)\. ", r.stderr)
    if not m:
        sys.exit("onnx_node_tests.py: cannot read the supported ops from dualpipe-import's "
                 "message on %s:\n%s" % (UNSUPPORTED_ONNX, r.stderr))
    return set(m.group(1).split(", ")) | set(m.group(2).split(", "))


class Test:
    def __init__(self, name, path):
        self.name, self.path = name, path
        self.status, self.reason = None, ""
        self.model, self.feeds, self.expected = None, {}, []
        self.op, self.expanded = None, False


def load_tensor(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return t


def prepare(t, ops, freeze=()):
    """Reads the test, sets t.status to skipped (with a reason) or leaves it
    None with t.model, t.feeds and t.expected. Integer inputs are fed at run
    time except those named in `freeze`, which become initializers (bool
    inputs always do); integer and bool outputs get a Cast to FLOAT appended
    (compared as float32)."""
    t.feeds = {}
    m = onnx.load(os.path.join(t.path, "model.onnx"))
    g = m.graph
    used = sorted({n.op_type for n in g.node})
    missing = [o for o in used if o not in ops]
    if missing:
        t.status, t.reason = "skipped", "no lowering for " + ", ".join(missing)
        return
    inits = {i.name for i in g.initializer}
    ins = [i for i in g.input if i.name not in inits]
    for vi in list(ins) + list(g.output):
        if not vi.type.HasField("tensor_type"):
            t.status, t.reason = "skipped", "'%s' is a %s, not a tensor" % (
                vi.name, vi.type.WhichOneof("value"))
            return
    data = os.path.join(t.path, "test_data_set_0")
    inputs = [load_tensor(os.path.join(data, "input_%d.pb" % k)) for k in range(len(ins))]
    outputs = [load_tensor(os.path.join(data, "output_%d.pb" % k)) for k in range(len(g.output))]
    for o in outputs:
        if o.data_type != onnx.TensorProto.FLOAT and o.data_type not in CAST_OUTPUTS:
            t.status, t.reason = "skipped", "output is %s (the step's outputs are f32; integer and bool ones are cast)" % (
                dtype_name(o.data_type))
            return
    frozen = []
    for vi, tensor in zip(ins, inputs):
        if tensor.data_type in FEED_TYPES or (tensor.data_type in INT_FEED_TYPES and
                                              vi.name not in freeze):
            t.feeds[vi.name] = numpy_helper.to_array(tensor)
        elif tensor.data_type in FROZEN_TYPES:
            frozen.append((vi.name, numpy_helper.to_array(tensor)))
        else:
            t.status, t.reason = "skipped", "input is %s" % dtype_name(tensor.data_type)
            return
    if not t.feeds:
        t.status, t.reason = "skipped", "no input left to feed (bool inputs and integer operands needed at import are frozen, so the output is a constant)"
        return
    for k, (vi, o) in enumerate(zip(list(g.output), outputs)):
        if o.data_type in CAST_OUTPUTS:
            name = vi.name + "__as_float"
            g.node.append(onnx.helper.make_node("Cast", [vi.name], [name], to=onnx.TensorProto.FLOAT))
            g.output[k].name = name
            g.output[k].type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    names = {n for n, _ in frozen}
    keep = [i for i in g.input if i.name not in names]
    del g.input[:]
    g.input.extend(keep)
    for name, value in frozen:
        g.initializer.append(numpy_helper.from_array(value, name))
    t.model = m
    t.expected = [numpy_helper.to_array(o).astype(np.float32) for o in outputs]


def attribute(tests):
    """The op a test belongs to: its one node's op, or for test_X_expanded*
    (the function body of X as primitive ops) the op of test_X."""
    by_name = {t.name: t for t in tests}
    for t in tests:
        m = onnx.load(os.path.join(t.path, "model.onnx"), load_external_data=False)
        ops = [n.op_type for n in m.graph.node]
        if len(ops) == 1:
            t.op = ops[0]
    for t in tests:
        if t.op:
            continue
        if "_expanded" in t.name:
            base = by_name.get(t.name.split("_expanded")[0])
            if base and base.op:
                t.op, t.expanded = base.op, True
                continue
        m = onnx.load(os.path.join(t.path, "model.onnx"), load_external_data=False)
        t.op = "+".join(sorted({n.op_type for n in m.graph.node}))


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def first_error(text):
    lines = [l for l in text.splitlines() if "error" in l.lower()]
    line = (lines[0] if lines else text.strip().splitlines()[-1] if text.strip() else "?")
    return re.sub(r"\S*/(model|batch)[^:\s]*\.(onnx|mlir)", "MODEL", line.strip())[:400]


def import_one(t, work):
    d = os.path.join(work, t.name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.onnx")
    onnx.save(t.model, path)
    r = run(["dualpipe-import", path, "-o", os.path.join(d, "model.mlir"), "--loss=none"])
    if r.returncode != 0:
        t.status, t.reason = "refused", "import: " + first_error(r.stderr)


def merge(tests):
    """One ONNX model holding every test's graph, names prefixed t<k>__."""
    g = onnx.GraphProto(name="batch")
    opset = 13
    for k, t in enumerate(tests):
        p = "t%d__" % k
        ren = lambda s: p + s if s else s
        src = t.model.graph
        for o in t.model.opset_import:
            if o.domain in ("", "ai.onnx"):
                opset = max(opset, o.version)
        for n in src.node:
            c = g.node.add()
            c.CopyFrom(n)
            c.name = p + (n.name or "node")
            c.input[:] = [ren(s) for s in n.input]
            c.output[:] = [ren(s) for s in n.output]
        for lst, dst in ((src.input, g.input), (src.output, g.output)):
            for vi in lst:
                c = dst.add()
                c.CopyFrom(vi)
                c.name = p + vi.name
        for i in src.initializer:
            c = g.initializer.add()
            c.CopyFrom(i)
            c.name = p + i.name
    return onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", opset)])


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        a = np.asarray(a)  # rank 0 stays rank 0
        dtype = {"int64": "I64", "int32": "I32"}.get(str(a.dtype), "F32")
        if dtype == "F32":
            a = a.astype(np.float32)
        raw = a.tobytes(order="C")
        header[name] = {"dtype": dtype, "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        a, b = spec["data_offsets"]
        assert spec["dtype"] == "F32", spec
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=np.float32).reshape(spec["shape"])
    return out


def compile_and_run(tests, work, tag):
    """Compiles and runs `tests` as one merged model; on a failure splits
    them until the failing test is alone. Sets each test's status."""
    d = os.path.join(work, "batch-" + tag)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    onnx_path, mlir = os.path.join(d, "batch.onnx"), os.path.join(d, "batch.mlir")
    onnx.save(merge(tests), onnx_path)

    def split(stage, text):
        if len(tests) == 1:
            tests[0].status, tests[0].reason = "refused", stage + ": " + first_error(text)
            return
        h = len(tests) // 2
        compile_and_run(tests[:h], work, tag + "a")
        compile_and_run(tests[h:], work, tag + "b")

    r = run(["dualpipe-import", onnx_path, "-o", mlir, "--loss=none"])
    if r.returncode != 0:
        return split("import", r.stderr)
    out = os.path.join(d, "out")
    r = run(["dualpipe-compile", mlir, "--opt-level=0", "-j", "1", "-o", out])
    if r.returncode != 0:
        return split("compile", r.stderr + r.stdout)
    feeds = {}
    for k, t in enumerate(tests):
        for name, a in t.feeds.items():
            feeds["t%d__%s" % (k, name)] = a
    data, dump = os.path.join(d, "data.safetensors"), os.path.join(d, "outputs.safetensors")
    write_safetensors(data, feeds)
    # Exit status 3: the 1-rank reference of the skeleton disagrees with it
    # (NaN outputs compare unequal): the dump is written all the same.
    r = run(["dualpipe-run", out, "--data=" + data, "--dump-outputs=" + dump, "--no-progress"])
    if r.returncode not in (0, 3) or not os.path.exists(dump):
        return split("run", r.stderr + r.stdout)
    got = read_safetensors(dump)
    k = 0
    for t in tests:
        bad = []
        for j, want in enumerate(t.expected):
            g = got.get("output%d" % k)
            k += 1
            if g is None:
                bad.append("output %d missing" % j)
                continue
            if g.shape != want.shape:
                bad.append("output %d has shape %s, expected %s" % (j, list(g.shape), list(want.shape)))
                continue
            try:
                np.testing.assert_allclose(g, want, rtol=RTOL, atol=ATOL)
            except AssertionError:
                err = np.abs(g.astype(np.float64) - want)
                i = np.unravel_index(np.nanargmax(np.where(np.isnan(err), np.inf, err)), err.shape)
                bad.append("output %d: max |got - want| %.3g at %s (got %.6g, want %.6g)" % (
                    j, float(err[i]), list(map(int, i)), float(g[i]), float(want[i])))
        t.status, t.reason = ("fail", "; ".join(bad)) if bad else ("pass", "")
    if os.environ.get("DUALPIPE_KEEP_NODE_TESTS") is None:
        shutil.rmtree(d, ignore_errors=True)


def write_table(path, tests, elapsed, ops):
    rows = collections.OrderedDict()
    for t in sorted(tests, key=lambda t: (t.op, t.name)):
        rows.setdefault(t.op, []).append(t)
    counts = collections.Counter(t.status for t in tests)
    lines = [
        "# ONNX backend node tests",
        "",
        "Generated by `test/Tools/dualpipe-import/onnx_node_tests.py` (see",
        "[import.md](import.md)) on Debian's `libonnx-testdata` %s" % onnx.__version__,
        "(`/usr/share/libonnx-testdata/data/node`, %d tests):" % len(tests),
        "",
        "```sh",
        "/usr/bin/python3 test/Tools/dualpipe-import/onnx_node_tests.py /tmp/node-tests \\",
        "    --table=docs/onnx-node-tests.md \\",
        "    --write-passing=test/Tools/dualpipe-import/onnx-node-passing.txt",
        "```",
        "",
        "Each test's model is imported forward only (`--loss=none`), compiled",
        "(`dualpipe-compile`, forward skeleton, `--opt-level=0`), run by",
        "`dualpipe-run --data --dump-outputs` on `test_data_set_0`, and every",
        "output compared with ONNX's expected one as ONNX's runner does:",
        "`numpy.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-7)`.",
        "float32, int64 and int32 inputs are fed at run time; an integer input the",
        "importer needs known (a shape, axes, Trilu's k: dualpipe compiles static",
        "shapes) or an empty one, and every bool input, is written into the model",
        "as an initializer with the test's values. Integer and bool outputs get a",
        "Cast to float appended (the compiled step's outputs are f32) and are",
        "compared as float32.",
        "",
        "Totals: **%d pass**, %d fail, %d refused, %d skipped (%.0f s on this machine)." % (
            counts["pass"], counts["fail"], counts["refused"], counts["skipped"], elapsed),
        "",
        "- pass: the outputs agree; fail: it ran and an output differs;",
        "  refused: dualpipe-import / -compile / -run stopped with an error",
        "  (the message); skipped: an op without a lowering, an element type",
        "  the step does not carry (f16, f64, uint8, string, ...), a sequence or",
        "  optional value, or no input left to feed.",
        "- `test_X_expanded*` (the function body of X in primitive ops) count",
        "  under X, marked `(exp)` in the reasons.",
        "",
        "Ops with at least one test that was not skipped for a missing lowering:",
        "",
        "| op | tests | pass | fail | refused | skipped | not passing: reason |",
        "|---|---|---|---|---|---|---|",
    ]
    other = collections.Counter()
    for op, ts in rows.items():
        if all(t.status == "skipped" and t.reason.startswith("no lowering") for t in ts):
            other[op] = len(ts)
            continue
        c = collections.Counter(t.status for t in ts)
        why = []
        for t in ts:
            if t.status != "pass":
                why.append("`%s`%s: %s %s" % (t.name, " (exp)" if t.expanded else "", t.status,
                                              t.reason.replace("|", "\\|")))
        lines.append("| %s | %d | %d | %d | %d | %d | %s |" % (
            op, len(ts), c["pass"], c["fail"], c["refused"], c["skipped"], "<br>".join(why)))
    lines += ["", "Skipped for a missing lowering: %d tests of %d other ops (%s)." % (
        sum(other.values()), len(other), ", ".join(sorted(other))), ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("work")
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--tests", default="", help="comma-separated test names (default: all)")
    ap.add_argument("--expect")
    ap.add_argument("--table")
    ap.add_argument("--write-passing")
    ap.add_argument("-j", type=int, default=2)
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    start = time.time()
    if not os.path.isdir(a.data):
        sys.exit("onnx_node_tests.py: %s not found (Debian: apt-get install libonnx-testdata)" % a.data)
    os.makedirs(a.work, exist_ok=True)
    ops = supported_ops()
    names = sorted(n for n in os.listdir(a.data) if n.startswith("test_"))
    if a.tests:
        want = a.tests.split(",")
        names = [n for n in names if n in want]
    tests = [Test(n, os.path.join(a.data, n)) for n in names]
    attribute(tests)
    for t in tests:
        prepare(t, ops)
    todo = [t for t in tests if t.status is None]
    with concurrent.futures.ThreadPoolExecutor(a.j) as pool:
        list(pool.map(lambda t: import_one(t, a.work), todo))
    # An integer operand the importer needs known (a shape, axes, Trilu's
    # k: "the k ('k') must be known at import time"), or an empty one (no
    # axes): the test again with that input frozen as an initializer, until
    # it imports or fails otherwise.
    def known(t):
        frozen = set()
        while t.status == "refused":
            m = (re.search(r"\('([^']+)'\) must be known at import time", t.reason) or
                 re.search(r"graph input '([^']+)' has a dimension of size 0", t.reason))
            if (not m or m.group(1) not in t.feeds or m.group(1) in frozen or
                    t.feeds[m.group(1)].dtype.kind not in "iu"):
                return
            frozen.add(m.group(1))
            t.status, t.reason = None, ""
            prepare(t, ops, frozen)
            if t.status is None:
                import_one(t, a.work)

    with concurrent.futures.ThreadPoolExecutor(a.j) as pool:
        list(pool.map(known, todo))
    todo = [t for t in todo if t.status is None]
    batches = [todo[i:i + a.batch] for i in range(0, len(todo), a.batch)]
    with concurrent.futures.ThreadPoolExecutor(a.j) as pool:
        list(pool.map(lambda kb: compile_and_run(kb[1], a.work, str(kb[0])), enumerate(batches)))
    elapsed = time.time() - start

    counts = collections.Counter(t.status for t in tests)
    for t in tests:
        if a.verbose or t.status in ("fail", "refused"):
            print("%-7s %s%s" % (t.status, t.name, ": " + t.reason if t.reason else ""))
    print("node tests: %d pass, %d fail, %d refused, %d skipped (%d tests, %.0f s)" % (
        counts["pass"], counts["fail"], counts["refused"], counts["skipped"], len(tests), elapsed))
    passing = sorted(t.name for t in tests if t.status == "pass")
    if a.table:
        write_table(a.table, tests, elapsed, ops)
    if a.write_passing:
        with open(a.write_passing, "w") as f:
            f.write("# ONNX backend node tests (libonnx-testdata %s) that pass through\n"
                    "# dualpipe-import + dualpipe-compile + dualpipe-run; written by\n"
                    "# onnx_node_tests.py --write-passing, checked by onnx-node-tests.test.\n"
                    % onnx.__version__)
            f.write("\n".join(passing) + "\n")
    status = 0
    if a.expect:
        listed = [l.strip() for l in open(a.expect) if l.strip() and not l.startswith("#")]
        by = {t.name: t for t in tests}
        lost = [n for n in listed if n not in by or by[n].status != "pass"]
        new = sorted(set(passing) - set(listed))
        for n in lost:
            t = by.get(n)
            print("NO LONGER PASSING: %s: %s" % (n, "%s %s" % (t.status, t.reason) if t else "not found"))
        if new:
            print("newly passing (add them to %s): %s" % (os.path.basename(a.expect), " ".join(new)))
        print("expected passing: %d of %d still pass" % (len(listed) - len(lost), len(listed)))
        status = 1 if lost else 0
    sys.exit(status)


if __name__ == "__main__":
    main()
