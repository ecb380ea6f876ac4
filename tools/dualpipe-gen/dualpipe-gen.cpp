//===- dualpipe-gen.cpp - synthetic models in the input contract ---------===//
//
// Writes an MLP or a GPT-style transformer for one micro-batch as MLIR text
// in the input contract of docs/architecture.md: a `dualpipe.model`
// function on static tensors in linalg, arith, math and tensor ops, named
// inputs and parameters, and a `dualpipe.loss` function. Plain C++: no MLIR
// needed to build it; the lit tests parse its output with dualpipe-opt.
//
//   dualpipe-gen mlp --layers=4 --width=64 --batch=8 --activation=gelu
//   dualpipe-gen gpt --layers=2 --hidden=64 --heads=4 --seq=16 --vocab=1000
//
//===----------------------------------------------------------------------===//
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

const char *kUsage = R"(usage: dualpipe-gen <mlp|gpt> [options] [-o FILE]

Writes a model for one micro-batch in the dualpipe input contract.

mlp options:
  --layers=N       linear layers (default 4)
  --width=N        hidden width (default 64)
  --input=N        input features (default: width)
  --output=N       output features (default: width)
  --batch=N        rows per micro-batch (default 8)
  --activation=A   gelu, relu, tanh or none (default gelu; none after the
                   last layer)
  loss: mean squared error against the label "y" [batch x output]

gpt options:
  --layers=N       transformer blocks (default 2)
  --hidden=N       model width (default 64)
  --heads=N        attention heads, dividing hidden (default 4)
  --seq=N          sequence length (default 16)
  --vocab=N        vocabulary size (default 1000)
  --batch=N        sequences per micro-batch (default 2)
  --ffn=N          MLP width (default 4 x hidden)
  --flat=1         every block's ops inline in the model (default 0: one
                   function @block, called once per block with that
                   block's parameters h.<l>.*, so that the compiler
                   compiles it once)
  model: token and position embedding, per block pre-norm causal attention
  (softmax) and a GELU MLP with residuals, final layer norm and an untied LM
  head; output logits [batch x seq x vocab].
  loss: cross-entropy of the logits against the integer labels "targets"
  [batch x seq] (i64 class indices), averaged over tokens.
  "tokens" and "targets" carry dualpipe.int_range = array<i64: 0, vocab>:
  dualpipe-run draws synthetic ids from that range when --data is not given.

common:
  --boundary-every=K  put a dualpipe.stage_boundary after every K layers
                      (blocks), not after the last (default 0: none)
  -o FILE             write to FILE instead of standard output
)";

[[noreturn]] void fail(const std::string &msg) {
  std::cerr << "dualpipe-gen: error: " << msg << "\n";
  std::exit(1);
}

/// --name=value options with integer or string values.
struct Options {
  std::map<std::string, std::string> values;
  std::set<std::string> used;

  int64_t integer(const std::string &name, int64_t def, int64_t min = 1) {
    used.insert(name);
    auto it = values.find(name);
    if (it == values.end())
      return def;
    char *end = nullptr;
    long long v = std::strtoll(it->second.c_str(), &end, 10);
    if (it->second.empty() || *end)
      fail("--" + name + " needs an integer, got '" + it->second + "'");
    if (v < min)
      fail("--" + name + " must be at least " + std::to_string(min) +
           ", got " + it->second);
    return v;
  }
  std::string text(const std::string &name, const std::string &def) {
    used.insert(name);
    auto it = values.find(name);
    return it == values.end() ? def : it->second;
  }
  void checkAllUsed(const std::string &model) {
    for (auto &[k, v] : values)
      if (!used.count(k))
        fail("unknown option --" + k + " for " + model +
             " (see dualpipe-gen --help)");
  }
};

std::string shape(const std::vector<int64_t> &dims, const char *elt = "f32") {
  std::string s = "tensor<";
  for (int64_t d : dims)
    s += std::to_string(d) + "x";
  return s + elt + ">";
}

/// Emits SSA statements with fresh names.
class Emitter {
public:
  std::ostringstream body;
  int next = 0;

  std::string fresh(const std::string &hint) {
    return "%" + hint + std::to_string(next++);
  }
  void line(const std::string &s) { body << "    " << s << "\n"; }

  /// tensor.empty + linalg.fill with zero (or `value`).
  std::string filled(const std::vector<int64_t> &dims,
                     const std::string &value = "%zero") {
    std::string e = fresh("e"), f = fresh("f");
    line(e + " = tensor.empty() : " + shape(dims));
    line(f + " = linalg.fill ins(" + value + " : f32) outs(" + e + " : " +
         shape(dims) + ") -> " + shape(dims));
    return f;
  }
  std::string empty(const std::vector<int64_t> &dims) {
    std::string e = fresh("e");
    line(e + " = tensor.empty() : " + shape(dims));
    return e;
  }
  /// C[m x n] = A[m x k] B[k x n].
  std::string matmul(const std::string &a, const std::string &b, int64_t m,
                     int64_t k, int64_t n) {
    std::string c = filled({m, n}), r = fresh("mm");
    line(r + " = linalg.matmul ins(" + a + ", " + b + " : " + shape({m, k}) +
         ", " + shape({k, n}) + ") outs(" + c + " : " + shape({m, n}) +
         ") -> " + shape({m, n}));
    return r;
  }
  /// A linalg.generic with the given maps, iterators, ins and one or more
  /// outs; `bodyText` uses the block arguments %a0.. (ins then outs).
  std::vector<std::string>
  generic(const std::vector<std::string> &maps,
          const std::vector<std::string> &iterators,
          const std::vector<std::pair<std::string, std::string>> &ins,
          const std::vector<std::pair<std::string, std::string>> &outs,
          const std::vector<std::string> &argTypes,
          const std::string &bodyText, const std::string &hint = "g") {
    std::vector<std::string> results;
    std::string lhs;
    for (size_t i = 0; i < outs.size(); ++i) {
      results.push_back(fresh(hint));
      lhs += (i ? ", " : "") + results.back();
    }
    std::ostringstream s;
    s << lhs << " = linalg.generic {indexing_maps = [";
    for (size_t i = 0; i < maps.size(); ++i)
      s << (i ? ", " : "") << maps[i];
    s << "], iterator_types = [";
    for (size_t i = 0; i < iterators.size(); ++i)
      s << (i ? ", " : "") << '"' << iterators[i] << '"';
    s << "]}";
    auto list = [&](const char *kw,
                    const std::vector<std::pair<std::string, std::string>> &v) {
      if (v.empty())
        return;
      s << " " << kw << "(";
      for (size_t i = 0; i < v.size(); ++i)
        s << (i ? ", " : "") << v[i].first;
      s << " : ";
      for (size_t i = 0; i < v.size(); ++i)
        s << (i ? ", " : "") << v[i].second;
      s << ")";
    };
    list("ins", ins);
    list("outs", outs);
    s << " {\n    ^bb0(";
    for (size_t i = 0; i < argTypes.size(); ++i)
      s << (i ? ", " : "") << "%a" << i << ": " << argTypes[i];
    s << "):\n" << bodyText << "    } -> ";
    if (outs.size() > 1)
      s << "(";
    for (size_t i = 0; i < outs.size(); ++i)
      s << (i ? ", " : "") << outs[i].second;
    if (outs.size() > 1)
      s << ")";
    line(s.str());
    return results;
  }
};

/// GELU, tanh approximation, of %s into %t (body lines).
std::string geluBody(const std::string &in, const std::string &out) {
  return "      %gx2 = arith.mulf " + in + ", " + in + " : f32\n"
         "      %gx3 = arith.mulf %gx2, " + in + " : f32\n"
         "      %gu = arith.mulf %c0_044715, %gx3 : f32\n"
         "      %gv = arith.addf " + in + ", %gu : f32\n"
         "      %gw = arith.mulf %c0_79788, %gv : f32\n"
         "      %gth = math.tanh %gw : f32\n"
         "      %gp = arith.addf %one, %gth : f32\n"
         "      %gq = arith.mulf %half, " + in + " : f32\n"
         "      " + out + " = arith.mulf %gq, %gp : f32\n";
}

const char *kConstants =
    "    %zero = arith.constant 0.0 : f32\n"
    "    %one = arith.constant 1.0 : f32\n"
    "    %half = arith.constant 0.5 : f32\n"
    "    %c0_044715 = arith.constant 0.044715 : f32\n"
    "    %c0_79788 = arith.constant 0.7978845608028654 : f32\n";

struct Arg {
  std::string name, type, attr, key;
  std::string extra = {}; ///< More attributes, e.g. "dualpipe.int_range = ...".
};

/// The range of an integer argument's values, [0, n): dualpipe-run draws
/// synthetic token ids and class indices from it.
std::string intRange(int64_t n) {
  return "dualpipe.int_range = array<i64: 0, " + std::to_string(n) + ">";
}

std::string signature(const std::string &fn, const std::vector<Arg> &args) {
  std::string s = "  func.func @" + fn + "(";
  for (size_t i = 0; i < args.size(); ++i)
    s += std::string(i ? ",\n      " : "") + args[i].name + ": " +
         args[i].type +
         (args[i].attr.empty()
              ? ""
              : " {" + args[i].attr + " = \"" + args[i].key + "\"" +
                    (args[i].extra.empty() ? "" : ", " + args[i].extra) +
                    "}");
  return s + ")";
}

//===----------------------------------------------------------------------===//
// MLP
//===----------------------------------------------------------------------===//

std::string mlp(Options &o) {
  int64_t layers = o.integer("layers", 4), width = o.integer("width", 64);
  int64_t in = o.integer("input", width), out = o.integer("output", width);
  int64_t batch = o.integer("batch", 8);
  int64_t every = o.integer("boundary-every", 0, 0);
  std::string act = o.text("activation", "gelu");
  if (act != "gelu" && act != "relu" && act != "tanh" && act != "none")
    fail("--activation must be gelu, relu, tanh or none, got '" + act + "'");
  o.checkAllUsed("mlp");

  std::vector<Arg> args{{"%x", shape({batch, in}), "dualpipe.input", "x"}};
  Emitter e;
  std::string h = "%x";
  for (int64_t l = 0; l < layers; ++l) {
    int64_t k = l == 0 ? in : width, n = l == layers - 1 ? out : width;
    std::string w = "%w" + std::to_string(l), b = "%b" + std::to_string(l);
    args.push_back({w, shape({k, n}), "dualpipe.param",
                    "fc" + std::to_string(l) + ".weight"});
    args.push_back({b, shape({n}), "dualpipe.param",
                    "fc" + std::to_string(l) + ".bias"});
    std::string m = e.matmul(h, w, batch, k, n);
    std::string body = "      %s = arith.addf %a0, %a1 : f32\n";
    std::string a = l == layers - 1 ? "none" : act;
    if (a == "gelu")
      body += geluBody("%s", "%t");
    else if (a == "relu")
      body += "      %t = arith.maximumf %s, %zero : f32\n";
    else if (a == "tanh")
      body += "      %t = math.tanh %s : f32\n";
    else
      body += "      %t = arith.addf %s, %zero : f32\n";
    body += "      linalg.yield %t : f32\n";
    h = e.generic({"#id2", "#row2", "#id2"}, {"parallel", "parallel"},
                  {{m, shape({batch, n})}, {b, shape({n})}},
                  {{e.empty({batch, n}), shape({batch, n})}},
                  {"f32", "f32", "f32"}, body, "h")[0];
    if (every > 0 && (l + 1) % every == 0 && l + 1 < layers) {
      std::string c = e.fresh("cut");
      e.line(c + " = dualpipe.stage_boundary " + h + " : " +
             shape({batch, n}));
      h = c;
    }
  }

  std::ostringstream s;
  s << "// dualpipe-gen mlp: " << layers << " layers, " << in << " -> "
    << width << " -> " << out << ", batch " << batch << ", " << act << "\n";
  s << "#id2 = affine_map<(d0, d1) -> (d0, d1)>\n"
       "#row2 = affine_map<(d0, d1) -> (d1)>\n"
       "#all2 = affine_map<(d0, d1) -> ()>\n"
       "#scalar = affine_map<() -> ()>\n"
       "module {\n";
  s << signature("mlp", args) << " -> " << shape({batch, out})
    << " attributes {dualpipe.model} {\n"
    << kConstants << e.body.str() << "    return " << h << " : "
    << shape({batch, out}) << "\n  }\n";
  // Mean squared error.
  std::string t = shape({batch, out});
  s << "  func.func @loss(%y: " << t << ", %label: " << t
    << " {dualpipe.label = \"y\"}) -> tensor<f32> attributes {dualpipe.loss} "
       "{\n"
       "    %zero = arith.constant 0.0 : f32\n"
       "    %n = arith.constant "
    << batch * out
    << ".0 : f32\n"
       "    %e = tensor.empty() : tensor<f32>\n"
       "    %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<f32>) -> "
       "tensor<f32>\n"
       "    %sum = linalg.generic {indexing_maps = [#id2, #id2, #all2], "
       "iterator_types = [\"reduction\", \"reduction\"]} ins(%y, %label : "
    << t << ", " << t
    << ") outs(%acc : tensor<f32>) {\n"
       "    ^bb0(%a: f32, %b: f32, %o: f32):\n"
       "      %d = arith.subf %a, %b : f32\n"
       "      %sq = arith.mulf %d, %d : f32\n"
       "      %r = arith.addf %o, %sq : f32\n"
       "      linalg.yield %r : f32\n"
       "    } -> tensor<f32>\n"
       "    %mean = linalg.generic {indexing_maps = [#scalar, #scalar], "
       "iterator_types = []} ins(%sum : tensor<f32>) outs(%e : tensor<f32>) "
       "{\n"
       "    ^bb0(%s: f32, %o: f32):\n"
       "      %q = arith.divf %s, %n : f32\n"
       "      linalg.yield %q : f32\n"
       "    } -> tensor<f32>\n"
       "    return %mean : tensor<f32>\n"
       "  }\n}\n";
  return s.str();
}

//===----------------------------------------------------------------------===//
// GPT
//===----------------------------------------------------------------------===//

struct Gpt {
  int64_t B, S, H, NH, D, F, V, T;
  Emitter e;
  std::vector<Arg> args;
  /// While the block function is written: its parameters become its
  /// arguments (key: the name below "h.<l>."), not the model's.
  bool inBlock = false;
  std::vector<Arg> blockParams;

  std::string param(const std::string &key, std::vector<int64_t> dims) {
    if (inBlock) {
      std::string name = "%bp" + std::to_string(blockParams.size());
      blockParams.push_back({name, shape(dims), "", key});
      return name;
    }
    std::string name = "%p" + std::to_string(args.size());
    args.push_back({name, shape(dims), "dualpipe.param", key});
    return name;
  }

  /// Layer norm over the last dim of x [T x H].
  std::string layerNorm(const std::string &x, const std::string &prefix) {
    std::string g = param(prefix + ".weight", {H}),
                b = param(prefix + ".bias", {H});
    std::string s1 = e.filled({T}), s2 = e.filled({T});
    auto sums = e.generic(
        {"#id2", "#col2", "#col2"}, {"parallel", "reduction"},
        {{x, shape({T, H})}}, {{s1, shape({T})}, {s2, shape({T})}},
        {"f32", "f32", "f32"},
        "      %sq = arith.mulf %a0, %a0 : f32\n"
        "      %r1 = arith.addf %a1, %a0 : f32\n"
        "      %r2 = arith.addf %a2, %sq : f32\n"
        "      linalg.yield %r1, %r2 : f32, f32\n",
        "ln");
    return e.generic(
        {"#id2", "#col2", "#col2", "#row2", "#row2", "#id2"},
        {"parallel", "parallel"},
        {{x, shape({T, H})},
         {sums[0], shape({T})},
         {sums[1], shape({T})},
         {g, shape({H})},
         {b, shape({H})}},
        {{e.empty({T, H}), shape({T, H})}},
        {"f32", "f32", "f32", "f32", "f32", "f32"},
        "      %mean = arith.divf %a1, %width : f32\n"
        "      %ex2 = arith.divf %a2, %width : f32\n"
        "      %m2 = arith.mulf %mean, %mean : f32\n"
        "      %var = arith.subf %ex2, %m2 : f32\n"
        "      %ve = arith.addf %var, %eps : f32\n"
        "      %sd = math.sqrt %ve : f32\n"
        "      %rs = arith.divf %one, %sd : f32\n"
        "      %xc = arith.subf %a0, %mean : f32\n"
        "      %xn = arith.mulf %xc, %rs : f32\n"
        "      %xg = arith.mulf %xn, %a3 : f32\n"
        "      %y = arith.addf %xg, %a4 : f32\n"
        "      linalg.yield %y : f32\n",
        "ln")[0];
  }

  /// x[T x n] + bias[n] (+ residual[T x n]), then GELU when asked.
  std::string biasAdd(const std::string &x, const std::string &bias, int64_t n,
                      const std::string &residual, bool gelu) {
    std::vector<std::pair<std::string, std::string>> ins{
        {x, shape({T, n})}, {bias, shape({n})}};
    std::vector<std::string> maps{"#id2", "#row2"};
    std::vector<std::string> types{"f32", "f32"};
    std::string body = "      %s = arith.addf %a0, %a1 : f32\n";
    if (!residual.empty()) {
      ins.push_back({residual, shape({T, n})});
      maps.push_back("#id2");
      types.push_back("f32");
      body += "      %s2 = arith.addf %s, %a2 : f32\n";
    } else {
      body += "      %s2 = arith.addf %s, %zero : f32\n";
    }
    if (gelu)
      body += geluBody("%s2", "%t") + "      linalg.yield %t : f32\n";
    else
      body += "      linalg.yield %s2 : f32\n";
    maps.push_back("#id2");
    types.push_back("f32");
    return e.generic(maps, {"parallel", "parallel"}, ins,
                     {{e.empty({T, n}), shape({T, n})}}, types, body,
                     "ba")[0];
  }

  std::string attention(const std::string &x, const std::string &prefix) {
    std::string wq = param(prefix + ".q.weight", {H, H}),
                wk = param(prefix + ".k.weight", {H, H}),
                wv = param(prefix + ".v.weight", {H, H});
    std::vector<int64_t> heads{B, S, NH, D}, scores{B, NH, S, S};
    auto split = [&](const std::string &m) {
      std::string r = e.fresh("hd");
      e.line(r + " = tensor.expand_shape " + m +
             " [[0, 1], [2, 3]] output_shape [" + std::to_string(B) + ", " +
             std::to_string(S) + ", " + std::to_string(NH) + ", " +
             std::to_string(D) + "] : " + shape({T, H}) + " into " +
             shape(heads));
      return r;
    };
    std::string q = split(e.matmul(x, wq, T, H, H));
    std::string k = split(e.matmul(x, wk, T, H, H));
    std::string v = split(e.matmul(x, wv, T, H, H));
    // scores[b, n, i, j] = sum_d q[b, i, n, d] k[b, j, n, d]
    std::string sc = e.generic(
        {"#q5", "#k5", "#s5"},
        {"parallel", "parallel", "parallel", "parallel", "reduction"},
        {{q, shape(heads)}, {k, shape(heads)}},
        {{e.filled(scores), shape(scores)}}, {"f32", "f32", "f32"},
        "      %p = arith.mulf %a0, %a1 : f32\n"
        "      %r = arith.addf %a2, %p : f32\n"
        "      linalg.yield %r : f32\n",
        "sc")[0];
    // Causal softmax over j of scale * scores.
    std::string mask = "      %i = linalg.index 2 : index\n"
                       "      %j = linalg.index 3 : index\n"
                       "      %future = arith.cmpi ugt, %j, %i : index\n"
                       "      %z = arith.mulf %a0, %scale : f32\n";
    std::vector<int64_t> rows{B, NH, S};
    std::string mx = e.generic(
        {"#id4", "#red4"},
        {"parallel", "parallel", "parallel", "reduction"},
        {{sc, shape(scores)}}, {{e.filled(rows, "%ninf"), shape(rows)}},
        {"f32", "f32"},
        mask + "      %c = arith.select %future, %ninf, %z : f32\n"
               "      %r = arith.maximumf %a1, %c : f32\n"
               "      linalg.yield %r : f32\n",
        "mx")[0];
    std::string sum = e.generic(
        {"#id4", "#red4", "#red4"},
        {"parallel", "parallel", "parallel", "reduction"},
        {{sc, shape(scores)}, {mx, shape(rows)}},
        {{e.filled(rows), shape(rows)}}, {"f32", "f32", "f32"},
        mask + "      %d = arith.subf %z, %a1 : f32\n"
               "      %ex = math.exp %d : f32\n"
               "      %c = arith.select %future, %zero, %ex : f32\n"
               "      %r = arith.addf %a2, %c : f32\n"
               "      linalg.yield %r : f32\n",
        "sm")[0];
    std::string prob = e.generic(
        {"#id4", "#red4", "#red4", "#id4"},
        {"parallel", "parallel", "parallel", "parallel"},
        {{sc, shape(scores)}, {mx, shape(rows)}, {sum, shape(rows)}},
        {{e.empty(scores), shape(scores)}}, {"f32", "f32", "f32", "f32"},
        mask + "      %d = arith.subf %z, %a1 : f32\n"
               "      %ex = math.exp %d : f32\n"
               "      %pr = arith.divf %ex, %a2 : f32\n"
               "      %c = arith.select %future, %zero, %pr : f32\n"
               "      linalg.yield %c : f32\n",
        "pr")[0];
    // o[b, i, n, d] = sum_j p[b, n, i, j] v[b, j, n, d]
    std::string o = e.generic(
        {"#p5", "#v5", "#o5"},
        {"parallel", "parallel", "parallel", "parallel", "reduction"},
        {{prob, shape(scores)}, {v, shape(heads)}},
        {{e.filled(heads), shape(heads)}}, {"f32", "f32", "f32"},
        "      %p = arith.mulf %a0, %a1 : f32\n"
        "      %r = arith.addf %a2, %p : f32\n"
        "      linalg.yield %r : f32\n",
        "at")[0];
    std::string flat = e.fresh("at");
    e.line(flat + " = tensor.collapse_shape " + o + " [[0, 1], [2, 3]] : " +
           shape(heads) + " into " + shape({T, H}));
    return flat;
  }

  /// One transformer block on x [T x H]; parameter names start with `p`
  /// ("h.<l>." in the flat model, "" in the block function).
  std::string block(const std::string &x, const std::string &p) {
    std::string a = attention(layerNorm(x, p + "ln_1"), p + "attn");
    std::string wo = param(p + "attn.proj.weight", {H, H}),
                bo = param(p + "attn.proj.bias", {H});
    std::string x1 = biasAdd(e.matmul(a, wo, T, H, H), bo, H, x, false);
    std::string n2 = layerNorm(x1, p + "ln_2");
    std::string w1 = param(p + "mlp.fc.weight", {H, F}),
                b1 = param(p + "mlp.fc.bias", {F});
    std::string hdn = biasAdd(e.matmul(n2, w1, T, H, F), b1, F, "", true);
    std::string w2 = param(p + "mlp.proj.weight", {F, H}),
                b2 = param(p + "mlp.proj.bias", {H});
    return biasAdd(e.matmul(hdn, w2, T, F, H), b2, H, x1, false);
  }

  /// The constants every function of the model uses.
  std::string constants(const std::string &scale) const {
    return std::string(kConstants) +
           "    %ninf = arith.constant 0xFF800000 : f32\n"
           "    %eps = arith.constant 1.0e-05 : f32\n"
           "    %width = arith.constant " +
           std::to_string(H) + ".0 : f32\n    %scale = arith.constant " +
           scale + " : f32\n";
  }

  /// The block as a function of its input and its parameters:
  /// `func.func private @block(%bx, %bp0, ...) -> tensor<T x H>`.
  std::string blockFunction(const std::string &scale) {
    Emitter outer = std::move(e);
    e = Emitter();
    inBlock = true;
    std::string y = block("%bx", "");
    inBlock = false;
    std::vector<Arg> fnArgs{{"%bx", shape({T, H}), "", ""}};
    fnArgs.insert(fnArgs.end(), blockParams.begin(), blockParams.end());
    std::string text = signature("block", fnArgs);
    text.replace(text.find("func.func @"), 11, "func.func private @");
    text += " -> " + shape({T, H}) + " {\n" + constants(scale) +
            e.body.str() + "    return " + y + " : " + shape({T, H}) +
            "\n  }\n";
    e = std::move(outer);
    return text;
  }

  /// Block `l` in the model: a call of @block with the layer's parameters.
  std::string callBlock(const std::string &x, int64_t l) {
    std::string operands = x, types = shape({T, H});
    for (const Arg &bp : blockParams) {
      operands += ", " + param("h." + std::to_string(l) + "." + bp.key, {});
      args.back().type = bp.type;
      types += ", " + bp.type;
    }
    std::string r = e.fresh("blk");
    e.line(r + " = func.call @block(" + operands + ") : (" + types + ") -> " +
           shape({T, H}));
    return r;
  }
};

/// The token and position embeddings of the GPT model: the gather
/// x[b, s, h] = wte[tokens[b, s], h] + wpe[s, h], collapsed to [T x H].
std::string embedding(Gpt &g) {
  int64_t B = g.B, S = g.S, H = g.H, V = g.V, T = g.T;
  Emitter &e = g.e;
  g.args.push_back({"%tokens", shape({B, S}, "i64"), "dualpipe.input",
                    "tokens", intRange(V)});
  std::string wte = g.param("wte.weight", {V, H});
  std::string wpe = g.param("wpe.weight", {S, H});
  std::string emb = e.generic(
      {"#tok3", "#pos3", "#id3"}, {"parallel", "parallel", "parallel"},
      {{"%tokens", shape({B, S}, "i64")}, {wpe, shape({S, H})}},
      {{e.empty({B, S, H}), shape({B, S, H})}}, {"i64", "f32", "f32"},
      "      %row = arith.index_cast %a0 : i64 to index\n"
      "      %col = linalg.index 2 : index\n"
      "      %w = tensor.extract " + wte + "[%row, %col] : " +
          shape({V, H}) + "\n"
      "      %s = arith.addf %w, %a1 : f32\n"
      "      linalg.yield %s : f32\n",
      "emb")[0];
  std::string x = e.fresh("x");
  e.line(x + " = tensor.collapse_shape " + emb + " [[0, 1], [2]] : " +
         shape({B, S, H}) + " into " + shape({T, H}));
  return x;
}

/// The affine maps the GPT model and its loss use, and the module's start.
const char kGptMaps[] =
    "#id2 = affine_map<(d0, d1) -> (d0, d1)>\n"
    "#row2 = affine_map<(d0, d1) -> (d1)>\n"
    "#col2 = affine_map<(d0, d1) -> (d0)>\n"
    "#tok3 = affine_map<(d0, d1, d2) -> (d0, d1)>\n"
    "#pos3 = affine_map<(d0, d1, d2) -> (d1, d2)>\n"
    "#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>\n"
    "#red3 = affine_map<(d0, d1, d2) -> (d0, d1)>\n"
    "#all2 = affine_map<(d0, d1) -> ()>\n"
    "#scalar = affine_map<() -> ()>\n"
    "#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>\n"
    "#red4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>\n"
    "#q5 = affine_map<(b, n, i, j, d) -> (b, i, n, d)>\n"
    "#k5 = affine_map<(b, n, i, j, d) -> (b, j, n, d)>\n"
    "#s5 = affine_map<(b, n, i, j, d) -> (b, n, i, j)>\n"
    "#p5 = affine_map<(b, i, n, d, j) -> (b, n, i, j)>\n"
    "#v5 = affine_map<(b, i, n, d, j) -> (b, j, n, d)>\n"
    "#o5 = affine_map<(b, i, n, d, j) -> (b, i, n, d)>\n"
    "module {\n";

/// The loss function: cross-entropy, the mean over tokens of
/// logsumexp(logits) - logits[target].
std::string crossEntropyLoss(int64_t B, int64_t S, int64_t V, int64_t T) {
  std::ostringstream s;
  std::string lt = shape({B, S, V}), rt = shape({B, S}),
              tt = shape({B, S}, "i64");
  s << "  func.func @loss(%logits: " << lt << ", %targets: " << tt
    << " {dualpipe.label = \"targets\", " << intRange(V)
    << "}) -> tensor<f32> attributes "
       "{dualpipe.loss} {\n"
       "    %zero = arith.constant 0.0 : f32\n"
       "    %ninf = arith.constant 0xFF800000 : f32\n"
       "    %n = arith.constant "
    << T
    << ".0 : f32\n"
       "    %e = tensor.empty() : "
    << rt
    << "\n"
       "    %m0 = linalg.fill ins(%ninf : f32) outs(%e : "
    << rt << ") -> " << rt
    << "\n"
       "    %max = linalg.generic {indexing_maps = [#id3, #red3], "
       "iterator_types = [\"parallel\", \"parallel\", \"reduction\"]} "
       "ins(%logits : "
    << lt << ") outs(%m0 : " << rt
    << ") {\n"
       "    ^bb0(%a: f32, %o: f32):\n"
       "      %r = arith.maximumf %o, %a : f32\n"
       "      linalg.yield %r : f32\n"
       "    } -> "
    << rt
    << "\n"
       "    %s0 = linalg.fill ins(%zero : f32) outs(%e : "
    << rt << ") -> " << rt
    << "\n"
       "    %sum = linalg.generic {indexing_maps = [#id3, #red3, #red3], "
       "iterator_types = [\"parallel\", \"parallel\", \"reduction\"]} "
       "ins(%logits, %max : "
    << lt << ", " << rt << ") outs(%s0 : " << rt
    << ") {\n"
       "    ^bb0(%a: f32, %m: f32, %o: f32):\n"
       "      %d = arith.subf %a, %m : f32\n"
       "      %x = math.exp %d : f32\n"
       "      %r = arith.addf %o, %x : f32\n"
       "      linalg.yield %r : f32\n"
       "    } -> "
    << rt
    << "\n"
       "    %se = tensor.empty() : tensor<f32>\n"
       "    %acc = linalg.fill ins(%zero : f32) outs(%se : tensor<f32>) -> "
       "tensor<f32>\n"
       "    %nll = linalg.generic {indexing_maps = [#id2, #id2, #id2, #all2], "
       "iterator_types = [\"reduction\", \"reduction\"]} ins(%max, %sum, "
       "%targets : "
    << rt << ", " << rt << ", " << tt
    << ") outs(%acc : tensor<f32>) {\n"
       "    ^bb0(%m: f32, %s: f32, %t: i64, %o: f32):\n"
       "      %b = linalg.index 0 : index\n"
       "      %q = linalg.index 1 : index\n"
       "      %c = arith.index_cast %t : i64 to index\n"
       "      %picked = tensor.extract %logits[%b, %q, %c] : "
    << lt
    << "\n"
       "      %ls = math.log %s : f32\n"
       "      %lse = arith.addf %ls, %m : f32\n"
       "      %l = arith.subf %lse, %picked : f32\n"
       "      %r = arith.addf %o, %l : f32\n"
       "      linalg.yield %r : f32\n"
       "    } -> tensor<f32>\n"
       "    %mean = linalg.generic {indexing_maps = [#scalar, #scalar], "
       "iterator_types = []} ins(%nll : tensor<f32>) outs(%se : tensor<f32>) "
       "{\n"
       "    ^bb0(%a: f32, %o: f32):\n"
       "      %q = arith.divf %a, %n : f32\n"
       "      linalg.yield %q : f32\n"
       "    } -> tensor<f32>\n"
       "    return %mean : tensor<f32>\n"
       "  }\n}\n";
  return s.str();
}

std::string gpt(Options &o) {
  Gpt g;
  int64_t layers = o.integer("layers", 2);
  g.H = o.integer("hidden", 64);
  g.NH = o.integer("heads", 4);
  g.S = o.integer("seq", 16);
  g.V = o.integer("vocab", 1000);
  g.B = o.integer("batch", 2);
  g.F = o.integer("ffn", 4 * g.H);
  int64_t every = o.integer("boundary-every", 0, 0);
  bool flat = o.integer("flat", 0, 0) != 0;
  o.checkAllUsed("gpt");
  if (g.H % g.NH)
    fail("--heads=" + std::to_string(g.NH) + " must divide --hidden=" +
         std::to_string(g.H));
  g.D = g.H / g.NH;
  g.T = g.B * g.S;
  int64_t B = g.B, S = g.S, H = g.H, V = g.V, T = g.T;
  Emitter &e = g.e;

  std::string x = embedding(g);
  char scaleText[32];
  std::snprintf(scaleText, sizeof scaleText, "%.9e", 1.0 / std::sqrt(double(g.D)));
  std::string blockText = flat ? "" : g.blockFunction(scaleText);
  for (int64_t l = 0; l < layers; ++l) {
    x = flat ? g.block(x, "h." + std::to_string(l) + ".") : g.callBlock(x, l);
    if (every > 0 && (l + 1) % every == 0 && l + 1 < layers) {
      std::string c = e.fresh("cut");
      e.line(c + " = dualpipe.stage_boundary " + x + " : " + shape({T, H}));
      x = c;
    }
  }
  std::string xf = g.layerNorm(x, "ln_f");
  std::string head = g.param("lm_head.weight", {H, V});
  std::string logits2 = e.matmul(xf, head, T, H, V);
  std::string logits = e.fresh("logits");
  e.line(logits + " = tensor.expand_shape " + logits2 +
         " [[0, 1], [2]] output_shape [" + std::to_string(B) + ", " +
         std::to_string(S) + ", " + std::to_string(V) + "] : " +
         shape({T, V}) + " into " + shape({B, S, V}));

  std::ostringstream s;
  s << "// dualpipe-gen gpt: " << layers << " blocks, hidden " << H << ", "
    << g.NH << " heads, seq " << S << ", vocab " << V << ", batch " << B
    << ", ffn " << g.F << "\n";
  s << kGptMaps;
  s << blockText;
  s << signature("gpt", g.args) << " -> " << shape({B, S, V})
    << " attributes {dualpipe.model} {\n"
    << g.constants(scaleText) << e.body.str() << "    return " << logits << " : " << shape({B, S, V})
    << "\n  }\n";

  s << crossEntropyLoss(B, S, V, T);
  return s.str();
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return 1;
  }
  std::string model = argv[1];
  if (model == "--help" || model == "-h") {
    std::cout << kUsage;
    return 0;
  }
  Options opts;
  std::string outFile;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-o") {
      if (i + 1 >= argc)
        fail("-o needs a file name");
      outFile = argv[++i];
      continue;
    }
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (a.rfind("--", 0) != 0 || a.find('=') == std::string::npos)
      fail("expected --name=value, got '" + a + "' (see dualpipe-gen --help)");
    size_t eq = a.find('=');
    opts.values[a.substr(2, eq - 2)] = a.substr(eq + 1);
  }
  std::string text;
  if (model == "mlp")
    text = mlp(opts);
  else if (model == "gpt")
    text = gpt(opts);
  else
    fail("unknown model '" + model + "'; use mlp or gpt");
  if (outFile.empty()) {
    std::cout << text;
    return 0;
  }
  std::ofstream out(outFile);
  if (!out)
    fail("cannot write " + outFile);
  out << text;
  return out ? 0 : 1;
}
