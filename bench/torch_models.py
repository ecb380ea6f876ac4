#!/usr/bin/env python3
"""PyTorch eager equivalents of dualpipe-gen's models, for bench/bench.py's
torch section: one training step = M micro-batches, each loss scaled by
1/M and back-propagated (gradient accumulation), optimizer excluded, as the
compiled step does. Prints one JSON line with the step times (wall, and
the process's CPU time per step). Run it with OMP_NUM_THREADS=1 as well as
--threads=1: without the variable, torch 1.13's idle OpenMP workers spin and
a one-thread step is several times slower on a loaded machine.

    /usr/bin/python3 bench/torch_models.py mlp --layers=8 --width=256 --batch=32 --M=8
    /usr/bin/python3 bench/torch_models.py gpt --layers=4 --hidden=64 --heads=4 \
        --seq=32 --vocab=256 --batch=4 --M=8

The GPT follows tools/dualpipe-gen/dualpipe-gen.cpp (Gpt): token + position
embedding; per block pre-norm (layer norm, eps 1e-5) causal multi-head
attention with bias-free q/k/v (x @ W, W [in x out]), scores scaled by
1/sqrt(head dim), softmax, output projection with bias and residual; layer
norm, MLP hidden -> 4 hidden with bias and tanh-GELU, projection back with
bias and residual; final layer norm; bias-free LM head; cross-entropy
averaged over the batch x seq tokens.
"""
import argparse
import json
import math
import statistics
import time

import torch


def gelu(s):  # tanh approximation, as dualpipe-gen writes it
    return 0.5 * s * (1 + torch.tanh(0.7978845608028654 * (s + 0.044715 * s * s * s)))


def mlp(a):
    W = [torch.randn(a.width, a.width) * 0.05 for _ in range(a.layers)]
    b = [torch.zeros(a.width) for _ in range(a.layers)]
    params = W + b
    x = torch.randn(a.M, a.batch, a.width)
    y = torch.randn(a.M, a.batch, a.width)

    def loss_of(m):
        h = x[m]
        for l in range(a.layers):
            h = h @ W[l] + b[l]
            if l != a.layers - 1:
                h = gelu(h)
        return ((h - y[m]) ** 2).mean()
    return params, loss_of


def gpt(a):
    H, NH, S, V, B = a.hidden, a.heads, a.seq, a.vocab, a.batch
    D, F, T = H // NH, 4 * H, B * S
    g = torch.Generator().manual_seed(0)

    def p(*shape, std=0.02):
        return torch.randn(*shape, generator=g) * std
    wte, wpe = p(V, H), p(S, H)
    blocks = []
    for _ in range(a.layers):
        blocks.append(dict(
            ln1w=torch.ones(H), ln1b=torch.zeros(H),
            wq=p(H, H), wk=p(H, H), wv=p(H, H), wo=p(H, H), bo=torch.zeros(H),
            ln2w=torch.ones(H), ln2b=torch.zeros(H),
            w1=p(H, F), b1=torch.zeros(F), w2=p(F, H), b2=torch.zeros(H)))
    lnfw, lnfb, head = torch.ones(H), torch.zeros(H), p(H, V)
    params = [wte, wpe, lnfw, lnfb, head] + [t for blk in blocks for t in blk.values()]
    tokens = torch.randint(0, V, (a.M, B, S), generator=g)
    targets = torch.randint(0, V, (a.M, B, S), generator=g)
    causal = torch.triu(torch.ones(S, S, dtype=torch.bool), diagonal=1)
    scale = 1.0 / math.sqrt(D)

    def ln(x, w, b):
        return torch.nn.functional.layer_norm(x, (H,), w, b, 1e-5)

    def loss_of(m):
        x = (wte[tokens[m]] + wpe).reshape(T, H)
        for k in blocks:
            n = ln(x, k["ln1w"], k["ln1b"])
            q = (n @ k["wq"]).reshape(B, S, NH, D).transpose(1, 2)
            kk = (n @ k["wk"]).reshape(B, S, NH, D).transpose(1, 2)
            v = (n @ k["wv"]).reshape(B, S, NH, D).transpose(1, 2)
            sc = (q @ kk.transpose(-1, -2)) * scale
            sc = sc.masked_fill(causal, float("-inf"))
            o = (torch.softmax(sc, dim=-1) @ v).transpose(1, 2).reshape(T, H)
            x = o @ k["wo"] + k["bo"] + x
            n2 = ln(x, k["ln2w"], k["ln2b"])
            x = gelu(n2 @ k["w1"] + k["b1"]) @ k["w2"] + k["b2"] + x
        logits = ln(x, lnfw, lnfb) @ head
        return torch.nn.functional.cross_entropy(logits, targets[m].reshape(T))
    return params, loss_of


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", choices=["mlp", "gpt"])
    for k, d in (("layers", 4), ("width", 256), ("batch", 32), ("hidden", 64),
                 ("heads", 4), ("seq", 32), ("vocab", 256), ("M", 8), ("steps", 20),
                 ("threads", 1)):
        ap.add_argument("--" + k, type=int, default=d)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    params, loss_of = (mlp if a.model == "mlp" else gpt)(a)
    for t in params:
        t.requires_grad_(True)

    def step():
        for t in params:
            t.grad = None
        total = 0.0
        for m in range(a.M):
            loss = loss_of(m) / a.M
            loss.backward()
            total += loss.item()
        return total
    times, cpu, losses = [], [], []
    for _ in range(a.steps + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        losses.append(step())
        times.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                      "step_ms": times, "median_ms": statistics.median(times[1:]),
                      "min_ms": min(times[1:]), "cpu_ms": cpu,
                      "cpu_median_ms": statistics.median(cpu[1:]), "loss0": losses[0]}))


if __name__ == "__main__":
    main()
