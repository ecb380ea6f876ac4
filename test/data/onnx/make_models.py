#!/usr/bin/env python3
"""Writes the small ONNX models of test/Tools/dualpipe-import (a few KB each).

    /usr/bin/python3 test/data/onnx/make_models.py [OUT_DIR] [--gpt]

mlp.onnx   an ordinary torch nn.Module (Linear, GELU, Tanh, SiLU-like gate,
           Linear), exported by torch.onnx.export at opset 17 in eval mode,
           batch 4 x 8 features -> 4 classes; its weights come from
           torch.manual_seed(0).
ops.onnx   a module for the FileCheck test: MatMul on 3-D input, Transpose,
           Reshape, Flatten, Sub, Div, Pow, Sqrt, Softmax, LayerNorm.
slices.onnx  Slice and Split on activations (Slices below: steps, negative
           and clamped bounds, two axes, torch.split, torch.chunk), batch
           4 x 8 -> 4 classes; weights from torch.manual_seed(3).
gpt.onnx   (only with --gpt: 31 KB, so the tests export it when they run) a
           nanoGPT-style GPT (2 blocks, width 8, 2 heads, 8 tokens, vocab
           16): Gather embeddings, Split, Reshape/Transpose heads, a causal
           mask from a float tril buffer (Slice, Equal, Where), Softmax,
           LayerNormalization, exact GELU (Erf); batch 2 x 8 tokens.
unsupported.onnx  one CumSum node (no lowering), written with onnx.helper.
splits17.onnx, splits18.onnx  Split without sizes (opset 17) and with
           num_outputs (opset 18), a two-axis strided Slice (onnx.helper).
negstep.onnx      a Slice with step -1 (imported as a gather; onnx.helper).
split_uneven.onnx  a Split of 6 in 4 equal parts, which dualpipe-import
           refuses (onnx.helper).
dynamic.onnx      one Relu on an input [batch, 3] with a symbolic batch.
flatten_neg.onnx, ln_stats.onnx, pow_int.onnx, dropout_train0.onnx,
           empty_dim.onnx  the
           importer bugs ONNX's node tests found (write_fixes below).
Encoder, Mixer  (exported by train_vs_torch.py when it runs, not written
           here) nn.TransformerEncoderLayer with a classification head, and
           an MLP-Mixer; with layers=12 / blocks=12 and
           export_modules_as_functions={nn.TransformerEncoderLayer} /
           {MixerBlock} the 12-block models of functions-encoder-mixer.test.

Needs PyTorch (Debian: python3-torch) and, for unsupported.onnx, python3-onnx.
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class MLP(nn.Module):
    def __init__(self, inp=8, hidden=16, classes=4):
        super().__init__()
        self.fc1 = nn.Linear(inp, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x):
        h = F.gelu(self.fc1(x))
        h = torch.tanh(self.fc2(h)) + h
        h = h * torch.sigmoid(h)
        return self.head(F.relu(h))


class Ops(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(6, 6)
        self.norm = nn.LayerNorm(6)

    def forward(self, x):  # x: [2, 3, 6]
        h = self.proj(x)                      # MatMul + Add on 3-D input
        h = h.transpose(1, 2).reshape(2, 18)  # Transpose, Reshape
        h = (h - h.mean(dim=1, keepdim=True)) / torch.sqrt(h.pow(2).mean(dim=1, keepdim=True) + 1.0)
        h = h.reshape(2, 3, 6)
        h = self.norm(h)
        return torch.softmax(torch.flatten(h, 1), dim=-1)


class Slices(nn.Module):
    """ONNX Slice and Split on the inner dimension of activations: a step-2
    slice, negative starts and ends, ends past the dimension (clamped), a
    two-axis slice with a step, torch.split with sizes and torch.chunk."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 12)
        self.fc2 = nn.Linear(25, 4)

    def forward(self, x):  # x: [4, 8]
        h = torch.tanh(self.fc1(x))           # [4, 12]
        a = h[:, 1:7:2]                       # Slice step 2: [4, 3]
        b, c, d = torch.split(h, [5, 4, 3], dim=-1)  # Split with sizes
        e, f = torch.chunk(h, 2, dim=-1)      # Split in equal parts: [4, 6]
        g = h[:, -4:-1]                       # negative start and end: [4, 3]
        k = h[:, 9:100]                       # end clamped to 12: [4, 3]
        m = h.reshape(4, 3, 4)[:, 1:, ::2]    # two axes, one strided: [4, 2, 2]
        z = torch.cat([a * d, c, g + k, e * f, b, m.reshape(4, 4)], dim=-1)
        return self.fc2(z)                    # [4, 25] -> [4, 4]


class CausalSelfAttention(nn.Module):
    """nanoGPT's attention (karpathy/nanoGPT model.py, without flash and
    dropout): one c_attn projection split into q, k, v, heads by view and
    transpose, a causal mask from a tril buffer, softmax, c_proj."""

    def __init__(self, n_embd, n_head, block_size):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.n_head, self.n_embd = n_head, n_embd
        self.register_buffer("bias", torch.tril(torch.ones(block_size, block_size))
                             .view(1, 1, block_size, block_size))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class Block(nn.Module):
    def __init__(self, n_embd, n_head, block_size):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, block_size)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(),
                                 nn.Linear(4 * n_embd, n_embd))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """nanoGPT-style: token and learned position embeddings, pre-norm
    blocks, final LayerNorm, an untied lm_head (tied weights would be one
    parameter in two stages, which the partitioner refuses)."""

    def __init__(self, vocab=16, block_size=8, n_layer=2, n_head=2, n_embd=8):
        super().__init__()
        self.wte = nn.Embedding(vocab, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.h = nn.ModuleList([Block(n_embd, n_head, block_size) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab, bias=False)
        # torch 1.13's exporter merges initializers of equal values into one
        # (every fresh LayerNorm's ones and zeros would become one tied
        # parameter): move the LayerNorms off their initial values.
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.LayerNorm):
                    m.weight.add_(0.1 * torch.randn(m.weight.shape))
                    m.bias.add_(0.1 * torch.randn(m.bias.shape))

    def forward(self, idx):
        b, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


class Flip(nn.Module):
    """torch.flip on activations (exported as a Slice with step -1) and a
    reversed strided slice (torch.flip then ::2), batch 4 x 8 -> 4 classes."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 12)
        self.fc2 = nn.Linear(18, 4)

    def forward(self, x):  # x: [4, 8]
        h = torch.tanh(self.fc1(x))               # [4, 12]
        f = torch.flip(h, [1]) * h                # Slice step -1
        g = torch.flip(h, [0, 1])[:, ::2]         # two reversed axes, then step 2
        return self.fc2(torch.cat([f, g], dim=-1))

class BatchBroadcast(nn.Module):
    """torch.matmul with batch dimensions that broadcast: activations
    [2, 1, 3, 6] times a parameter [4, 6, 5] (-> [2, 4, 3, 5]) and a rank-2
    parameter times activations [2, 4, 3, 5] (-> [2, 4, 7, 5]), then a
    head; batch 2 x 3 x 8 -> 4 classes."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 6)
        self.w = nn.Parameter(0.3 * torch.randn(4, 6, 5))
        self.left = nn.Parameter(0.3 * torch.randn(7, 3))
        self.head = nn.Linear(4 * 7 * 5, 4)

    def forward(self, x):  # x: [2, 3, 8]
        h = torch.tanh(self.fc(x)).unsqueeze(1)   # [2, 1, 3, 6]
        h = torch.matmul(h, self.w)               # [2, 4, 3, 5]
        h = torch.matmul(self.left, h)            # [2, 4, 7, 5]
        return self.head(h.reshape(2, -1))

def perturb(model, seed, scale=0.1):
    """Moves every parameter off its initial value (torch 1.13's exporter
    merges initializers of equal values into one: fresh LayerNorms, and
    the deep copies nn.TransformerEncoder makes of its layer, would become
    tied parameters)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen))


class Encoder(nn.Module):
    """A text classifier on nn.TransformerEncoderLayer (post-norm, ReLU,
    batch_first, nn.MultiheadAttention inside, dropout 0): token embeddings
    plus a learned position table, 2 layers, mean over tokens, a linear
    head. Batch 2 x 6 tokens (vocab 16) -> 4 classes."""

    def __init__(self, vocab=16, d=8, nhead=2, ff=16, layers=2, classes=4, tokens=6):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(0.1 * torch.randn(tokens, d))
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(d, nhead, ff, dropout=0.0, batch_first=True),
            layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, classes)
        perturb(self, 11)

    def forward(self, x):
        h = self.encoder(self.emb(x) + self.pos)
        return self.head(h.mean(dim=1))


class MixerBlock(nn.Module):
    """MLP-Mixer's block: a token-mixing MLP across patches (on the
    transposed activations) and a channel-mixing MLP, pre-norm, residual."""

    def __init__(self, patches, channels, token_hidden, channel_hidden):
        super().__init__()
        self.norm1 = nn.LayerNorm(channels)
        # The token MLP's output bias would be one constant per patch over
        # all channels, which every following LayerNorm (over channels)
        # removes: its gradient is exactly 0 (PyTorch's is 1e-17 noise), so
        # no relative comparison applies. Without it every gradient is
        # nonzero.
        self.token_mlp = nn.Sequential(nn.Linear(patches, token_hidden), nn.GELU(),
                                       nn.Linear(token_hidden, patches, bias=False))
        self.norm2 = nn.LayerNorm(channels)
        self.channel_mlp = nn.Sequential(nn.Linear(channels, channel_hidden), nn.GELU(),
                                         nn.Linear(channel_hidden, channels))

    def forward(self, x):  # x: [B, patches, channels]
        x = x + self.token_mlp(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channel_mlp(self.norm2(x))


class Mixer(nn.Module):
    """MLP-Mixer (Tolstikhin et al. 2021) on 8x8 one-channel images: 4x4
    patches cut by reshape/permute, a linear stem, 2 Mixer blocks, a final
    LayerNorm, mean over patches, a linear head. Batch 2 -> 4 classes."""

    def __init__(self, image=8, patch=4, channels=8, blocks=2, classes=4):
        super().__init__()
        self.patch = patch
        patches = (image // patch) ** 2
        self.stem = nn.Linear(patch * patch, channels)
        self.blocks = nn.Sequential(*[MixerBlock(patches, channels, 8, 16)
                                      for _ in range(blocks)])
        self.norm = nn.LayerNorm(channels)
        self.head = nn.Linear(channels, classes)
        perturb(self, 12)

    def forward(self, img):  # img: [B, H, W]
        B, H, W = img.shape
        p = self.patch
        x = img.reshape(B, H // p, p, W // p, p).permute(0, 1, 3, 2, 4)
        x = x.reshape(B, (H // p) * (W // p), p * p)
        x = self.blocks(self.stem(x))
        return self.head(self.norm(x).mean(dim=1))


def export(model, args, path, names, functions=False):
    """functions: torch.onnx.export's export_modules_as_functions (True, or
    a set of module classes written as ONNX local functions)."""
    model.eval()
    torch.onnx.export(model, args, path, opset_version=17, input_names=names,
                      output_names=["out"], do_constant_folding=False,
                      export_modules_as_functions=functions)


def write_gpt(path):
    torch.manual_seed(2)
    export(GPT(), (torch.randint(0, 16, (2, 8)),), path, ["idx"])


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    out = args[0] if args else os.path.dirname(os.path.abspath(__file__))
    torch.manual_seed(0)
    export(MLP(), (torch.randn(4, 8),), os.path.join(out, "mlp.onnx"), ["x"])
    torch.manual_seed(1)
    export(Ops(), (torch.randn(2, 3, 6),), os.path.join(out, "ops.onnx"), ["x"])
    torch.manual_seed(3)
    export(Slices(), (torch.randn(4, 8),), os.path.join(out, "slices.onnx"), ["x"])
    if "--gpt" in sys.argv:
        write_gpt(os.path.join(out, "gpt.onnx"))
    try:
        import onnx
        from onnx import TensorProto, helper
    except ImportError:
        print("python3-onnx missing: unsupported.onnx not written")
        return
    node = helper.make_node("CumSum", ["x", "axis"], ["out"], name="the_cumsum")
    axis = helper.make_tensor("axis", TensorProto.INT64, [], [1])
    graph = helper.make_graph(
        [node], "unsupported",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [2, 3])],
        [axis])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, os.path.join(out, "unsupported.onnx"))
    # A dynamic batch dimension, as torch.onnx.export(dynamic_axes=...) writes.
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["out"], name="relu")], "dynamic",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, os.path.join(out, "dynamic.onnx"))
    # Split into equal parts without sizes (opset 17: the parts must divide
    # the dimension), and a Slice on two axes with steps, a negative start
    # and end and an INT64_MAX end: x[1::2, -5:-1:3] of a [4, 6] input.
    def ints(name, values):
        return helper.make_tensor(name, TensorProto.INT64, [len(values)], values)

    def save(nodes, name, shape, outputs, inits, opset):
        graph = helper.make_graph(
            nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
            [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
            inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        onnx.save(model, os.path.join(out, name + ".onnx"))

    save([helper.make_node("Split", ["x"], ["p0", "p1"], name="halves", axis=1),
          helper.make_node("Slice", ["x", "starts", "ends", "axes", "steps"], ["s"],
                           name="strided")],
         "splits17", [4, 6], ["p0", "p1", "s"],
         [ints("starts", [1, -5]), ints("ends", [2**63 - 1, -1]), ints("axes", [0, -1]),
          ints("steps", [2, 3])], 17)
    # Opset 18's Split num_outputs: 7 in 3 parts is 3, 3 and 1.
    save([helper.make_node("Split", ["x"], ["p0", "p1", "p2"], name="thirds", axis=-1,
                           num_outputs=3)],
         "splits18", [2, 7], ["p0", "p1", "p2"], [], 18)
    # A negative step (torch.flip exports this; a gather), and 6 in 4 equal
    # parts (refused).
    save([helper.make_node("Slice", ["x", "starts", "ends", "axes", "steps"], ["s"],
                           name="the_flip")],
         "negstep", [4, 6], ["s"],
         [ints("starts", [-1]), ints("ends", [-2**63]), ints("axes", [1]),
          ints("steps", [-1])], 17)
    save([helper.make_node("Split", ["x"], ["p0", "p1", "p2", "p3"], name="the_split",
                           axis=1)],
         "split_uneven", [4, 6], ["p0", "p1", "p2", "p3"], [], 17)
    write_fixes(out)
    write_functions(out)


def write_fixes(out):
    """Models of the importer bugs ONNX's node tests found (onnx.helper):
    flatten_neg.onnx  Flatten axis=-1 of [2, 3, 4] (is [6, 4]);
    ln_stats.onnx     LayerNormalization axis=1 of [2, 3, 4] with its Mean and
                      InvStdDev outputs ([2, 1, 1] each);
    pow_int.onnx      Pow of a float [2, 3] by an int64 exponent [3];
    dropout_train0.onnx  Dropout in training mode with ratio 0 (the identity);
    empty_dim.onnx    a Relu on an input [0, 3] (refused: empty tensors)."""
    import onnx
    from onnx import TensorProto, helper

    def save(nodes, name, inputs, outputs, inits):
        graph = helper.make_graph(
            nodes, name,
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
            [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
            inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        onnx.save(model, os.path.join(out, name + ".onnx"))

    save([helper.make_node("Flatten", ["x"], ["y"], name="flat", axis=-1)],
         "flatten_neg", [("x", [2, 3, 4])], ["y"], [])
    save([helper.make_node("LayerNormalization", ["x", "w", "b"], ["y", "mean", "inv"],
                           name="ln", axis=1, epsilon=1e-2)],
         "ln_stats", [("x", [2, 3, 4]), ("w", [3, 4]), ("b", [3, 4])],
         ["y", "mean", "inv"], [])
    save([helper.make_node("Pow", ["x", "e"], ["y"], name="pow")],
         "pow_int", [("x", [2, 3])], ["y"],
         [helper.make_tensor("e", TensorProto.INT64, [3], [1, 2, 3])])
    save([helper.make_node("Dropout", ["x", "ratio", "training"], ["y"], name="drop")],
         "dropout_train0", [("x", [2, 3])], ["y"],
         [helper.make_tensor("ratio", TensorProto.FLOAT, [], [0.0]),
          helper.make_tensor("training", TensorProto.BOOL, [], [True])])
    save([helper.make_node("Relu", ["x"], ["y"], name="relu")],
         "empty_dim", [("x", [0, 3])], ["y"], [])


def write_functions(out):
    """ONNX local functions written by onnx.helper (domain 'local'):
    fn_attrs.onnx        Head(x, w; ax) = Soft(MatMul(x, w); axis=ax), Soft a
                         Softmax whose axis is the function attribute 'ax'
                         (ref_attr_name, passed on from Head to Soft), called
                         three times: ax=-1, -1, 1;
    fn_unsupported.onnx  a function whose body has a CumSum;
    fn_recursive.onnx    a function that calls itself."""
    import onnx
    from onnx import TensorProto, helper

    def save(name, nodes, functions, inputs, inits=()):
        graph = helper.make_graph(
            nodes, name,
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
            [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)],
            list(inits))
        model = helper.make_model(graph, functions=functions,
                                  opset_imports=[helper.make_opsetid("", 17),
                                                 helper.make_opsetid("local", 1)])
        onnx.save(model, os.path.join(out, name + ".onnx"))

    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]
    softmax = helper.make_node("Softmax", ["a"], ["b"])
    ax = helper.AttributeProto(name="axis", ref_attr_name="ax",
                               type=helper.AttributeProto.INT)
    softmax.attribute.append(ax)
    soft = helper.make_function("local", "Soft", ["a"], ["b"], [softmax], opsets, ["ax"])
    call_soft = helper.make_node("Soft", ["m"], ["y"], domain="local")
    call_soft.attribute.append(helper.AttributeProto(
        name="ax", ref_attr_name="ax", type=helper.AttributeProto.INT))
    head = helper.make_function(
        "local", "Head", ["x", "w"], ["y"],
        [helper.make_node("MatMul", ["x", "w"], ["m"]), call_soft], opsets, ["ax"])
    w = [helper.make_tensor("w%d" % k, TensorProto.FLOAT, [4, 4],
                            [0.1 * ((k + 3 * i) % 7 - 3) for i in range(16)])
         for k in range(3)]
    save("fn_attrs",
         [helper.make_node("Head", ["x", "w0"], ["h0"], domain="local", name="head0", ax=-1),
          helper.make_node("Head", ["h0", "w1"], ["h1"], domain="local", name="head1", ax=-1),
          helper.make_node("Head", ["h1", "w2"], ["h2"], domain="local", name="head2", ax=1)],
         [soft, head], [("x", [2, 3, 4])], w)
    cum = helper.make_function(
        "local", "Cum", ["a"], ["b"],
        [helper.make_node("Constant", [], ["axis"], value=helper.make_tensor(
            "axis", TensorProto.INT64, [], [0])),
         helper.make_node("CumSum", ["a", "axis"], ["b"], name="the_cumsum")], opsets)
    save("fn_unsupported",
         [helper.make_node("Cum", ["x"], ["y"], domain="local", name="call_cum")],
         [cum], [("x", [2, 3])])
    loop = helper.make_function(
        "local", "Again", ["a"], ["b"],
        [helper.make_node("Again", ["a"], ["b"], domain="local", name="inner")], opsets)
    save("fn_recursive",
         [helper.make_node("Again", ["x"], ["y"], domain="local", name="outer")],
         [loop], [("x", [2, 3])])


if __name__ == "__main__":
    main()
