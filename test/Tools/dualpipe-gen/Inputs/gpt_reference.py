"""An independent GPT forward and cross-entropy in plain Python, to check
the model dualpipe-gen writes.

  gpt_reference.py driver MODEL.mlir DRIVER.mlir EXPECTED.txt
      Writes DRIVER.mlir: the generated @gpt and @loss (annotations
      stripped) plus a @main that calls them on fixed tokens, weights and
      targets and prints the logits and the loss; EXPECTED.txt gets the same
      numbers computed here.
  gpt_reference.py check EXPECTED.txt RUNNER_OUTPUT.txt
      Compares the two and prints the largest absolute difference.
"""
import math
import re
import sys


def values(shape, seed):
    n = 1
    for d in shape:
        n *= d
    return [0.5 * math.sin(0.7 * i + 1.3 * seed) for i in range(n)]


def nest(flat, shape):
    if len(shape) == 1:
        return flat
    step = len(flat) // shape[0]
    return [nest(flat[i * step:(i + 1) * step], shape[1:])
            for i in range(shape[0])]


def dense(flat, shape, fmt):
    def rec(v):
        if isinstance(v, list):
            return "[" + ", ".join(rec(x) for x in v) + "]"
        return fmt(v)
    return "dense<" + rec(nest(flat, shape)) + ">"


def parse_args(text):
    sig = text[text.index("func.func @gpt("):text.index("attributes {dualpipe.model}")]
    args = re.findall(r"(%\w+): tensor<([0-9x]+)x(f32|i64)> \{dualpipe\.(input|param) = \"([^\"]+)\"[^}]*\}", sig)
    return [(n, [int(d) for d in dims.split("x")], t, role, key)
            for n, dims, t, role, key in args]


def matmul(a, b):
    bt = list(zip(*b))
    return [[sum(x * y for x, y in zip(row, col)) for col in bt] for row in a]


def layer_norm(x, g, b):
    out = []
    for row in x:
        h = len(row)
        mean = sum(row) / h
        var = sum(v * v for v in row) / h - mean * mean
        rs = 1.0 / math.sqrt(var + 1e-5)
        out.append([(v - mean) * rs * g[i] + b[i] for i, v in enumerate(row)])
    return out


def gelu(s):
    return 0.5 * s * (1.0 + math.tanh(0.7978845608028654 * (s + 0.044715 * s ** 3)))


def forward(p, tokens, B, S, H, NH, V, layers):
    D = H // NH
    x = [[p["wte.weight"][tokens[b][s]][h] + p["wpe.weight"][s][h]
          for h in range(H)] for b in range(B) for s in range(S)]
    scale = 1.0 / math.sqrt(D)
    for l in range(layers):
        q = "h.%d." % l
        n1 = layer_norm(x, p[q + "ln_1.weight"], p[q + "ln_1.bias"])
        Q = matmul(n1, p[q + "attn.q.weight"])
        K = matmul(n1, p[q + "attn.k.weight"])
        Vv = matmul(n1, p[q + "attn.v.weight"])
        o = [[0.0] * H for _ in range(B * S)]
        for b in range(B):
            for n in range(NH):
                for i in range(S):
                    z = [scale * sum(Q[b * S + i][n * D + d] * K[b * S + j][n * D + d]
                                     for d in range(D)) for j in range(i + 1)]
                    m = max(z)
                    e = [math.exp(v - m) for v in z]
                    tot = sum(e)
                    for d in range(D):
                        o[b * S + i][n * D + d] = sum(
                            e[j] / tot * Vv[b * S + j][n * D + d] for j in range(i + 1))
        a = matmul(o, p[q + "attn.proj.weight"])
        x1 = [[a[t][h] + p[q + "attn.proj.bias"][h] + x[t][h] for h in range(H)]
              for t in range(B * S)]
        n2 = layer_norm(x1, p[q + "ln_2.weight"], p[q + "ln_2.bias"])
        f = matmul(n2, p[q + "mlp.fc.weight"])
        hdn = [[gelu(v + p[q + "mlp.fc.bias"][c]) for c, v in enumerate(row)] for row in f]
        m2 = matmul(hdn, p[q + "mlp.proj.weight"])
        x = [[m2[t][h] + p[q + "mlp.proj.bias"][h] + x1[t][h] for h in range(H)]
             for t in range(B * S)]
    xf = layer_norm(x, p["ln_f.weight"], p["ln_f.bias"])
    return matmul(xf, p["lm_head.weight"])


def driver(model_path, out_path, expected_path):
    text = open(model_path).read()
    args = parse_args(text)
    header = re.search(r"gpt: (\d+) blocks, hidden (\d+), (\d+) heads, seq (\d+), vocab (\d+), batch (\d+)", text)
    layers, H, NH, S, V, B = (int(g) for g in header.groups())
    tokens = [[(7 * b + 3 * s + 1) % V for s in range(S)] for b in range(B)]
    targets = [[(5 * b + 2 * s + 4) % V for s in range(S)] for b in range(B)]
    params, consts, call_args, types = {}, [], [], []
    for k, (name, shape, t, role, key) in enumerate(args):
        if role == "input":
            flat = [v for row in tokens for v in row]
            consts.append("    %%a%d = arith.constant %s : tensor<%sxi64>"
                          % (k, dense(flat, shape, str), "x".join(map(str, shape))))
        else:
            flat = values(shape, k)
            params[key] = nest(flat, shape)
            consts.append("    %%a%d = arith.constant %s : tensor<%sxf32>"
                          % (k, dense(flat, shape, lambda v: "%.9e" % v),
                             "x".join(map(str, shape))))
        call_args.append("%%a%d" % k)
        types.append("tensor<%sx%s>" % ("x".join(map(str, shape)), t))
    logits = forward(params, tokens, B, S, H, NH, V, layers)
    loss = 0.0
    for b in range(B):
        for s in range(S):
            row = logits[b * S + s]
            m = max(row)
            loss += m + math.log(sum(math.exp(v - m) for v in row)) - row[targets[b][s]]
    loss /= B * S

    body = re.sub(r" \{dualpipe\.\w+ = \"[^\"]*\"[^}]*\}", "", text)
    body = body.replace(" attributes {dualpipe.model}", "").replace(" attributes {dualpipe.loss}", "")
    body = body[:body.rstrip().rindex("}")]  # reopen the module
    lt = "tensor<%dx%dx%dxf32>" % (B, S, V)
    flat_targets = [v for row in targets for v in row]
    main = ["  func.func private @printMemrefF32(memref<*xf32>)",
            "  func.func @main() {"] + consts + [
        "    %%logits = func.call @gpt(%s) : (%s) -> %s" % (", ".join(call_args), ", ".join(types), lt),
        "    %%targets = arith.constant %s : tensor<%dx%dxi64>" % (dense(flat_targets, [B, S], str), B, S),
        "    %%loss = func.call @loss(%%logits, %%targets) : (%s, tensor<%dx%dxi64>) -> tensor<f32>" % (lt, B, S),
        "    %%lu = tensor.cast %%logits : %s to tensor<*xf32>" % lt,
        "    %lm = bufferization.to_buffer %lu : tensor<*xf32> to memref<*xf32>",
        "    func.call @printMemrefF32(%lm) : (memref<*xf32>) -> ()",
        "    %su = tensor.cast %loss : tensor<f32> to tensor<*xf32>",
        "    %sm = bufferization.to_buffer %su : tensor<*xf32> to memref<*xf32>",
        "    func.call @printMemrefF32(%sm) : (memref<*xf32>) -> ()",
        "    return", "  }", "}"]
    open(out_path, "w").write(body + "\n".join(main) + "\n")
    with open(expected_path, "w") as f:
        f.write(" ".join("%.9g" % v for row in logits for v in row) + "\n")
        f.write("%.9g\n" % loss)


def numbers_after_data(text):
    blocks = text.split("data =")[1:]
    return [[float(v) for v in re.findall(r"-?\d+\.?\d*(?:e[-+]?\d+)?|nan|inf", blk.split("Unranked")[0])]
            for blk in blocks]


def check(expected_path, output_path):
    exp = [[float(v) for v in line.split()] for line in open(expected_path)]
    got = numbers_after_data(open(output_path).read())
    if len(got) != 2 or len(got[0]) != len(exp[0]) or len(got[1]) != 1:
        print("unexpected runner output:", [len(g) for g in got])
        sys.exit(1)
    err_logits = max(abs(a - b) for a, b in zip(got[0], exp[0]))
    scale = max(abs(v) for v in exp[0])
    err_loss = abs(got[1][0] - exp[1][0])
    print("logits: %d values, max abs error %.3g (largest |logit| %.3g)" % (len(exp[0]), err_logits, scale))
    print("loss: %.6f vs %.6f, abs error %.3g" % (got[1][0], exp[1][0], err_loss))
    ok = err_logits <= 1e-4 * max(1.0, scale) and err_loss <= 1e-4 * max(1.0, abs(exp[1][0]))
    print("generated GPT matches the Python reference" if ok else "MISMATCH")


if __name__ == "__main__":
    if sys.argv[1] == "driver":
        driver(*sys.argv[2:5])
    else:
        check(*sys.argv[2:4])
