#!/usr/bin/env python3
"""PyTorch reference for examples/charlm: the same GPT-style character model,
trained from tapegrad's initial weights on the same batches with the same
AdamW, schedule and clipping, printing the same lines.

    go run ./examples/charlm -init-npy /tmp/charlm-init -log-losses /tmp/go.txt [flags]
    python3 examples/charlm/reference.py /tmp/charlm-init --log-losses /tmp/torch.txt \
        [--time SECONDS] [--threads N] [--compare /tmp/go.txt]

The directory written by -init-npy holds everything the run needs, so that
nothing is reimplemented here: config.json (sizes, optimiser, schedule,
evaluation settings, the parameter names and which get weight decay), one
NAME.npy per parameter under its PyTorch state_dict name (nn.Linear and
in_proj weights as PyTorch's [out, in]), tokens.npy (the whole corpus as
ids, float32) and starts.npy (the window start positions of every step,
[steps, batch], from data.CharBatches). --time overrides config.json's
wall-clock limit (seconds, 0 none), --stop its stop step.

The model is torch.nn.MultiheadAttention (batch_first, with biases, a float
causal mask of -inf above the diagonal), nn.LayerNorm (eps 1e-5), exact
nn.GELU, nn.Embedding and nn.Linear, float32 throughout. AdamW is
torch.optim.AdamW with two parameter groups (weight decay on the rank-2
parameters only), the learning rate set before every step to
optim.CosineWithWarmup's value, and gradients clipped with
torch.nn.utils.clip_grad_norm_.

Threads: Debian's torch does its matrix products in OpenBLAS (install
libopenblas0-pthread, else the reference BLAS is about 20 times slower),
whose own threads use every core whatever --threads says. On a 2-core
machine --threads 2 adds two OpenMP threads to OpenBLAS's two and runs
about half as fast as the default --threads 1 (5,800-6,100 against
11,700-12,700 tokens/s here); OPENBLAS_NUM_THREADS=1 --threads 1 keeps it
to one core.

Written for Debian 12's python3-torch (1.13.1) and python3-numpy (1.24.2).
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, e, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(e)
        self.attn = nn.MultiheadAttention(e, heads, bias=True, batch_first=True)
        self.ln2 = nn.LayerNorm(e)
        self.mlp = nn.Sequential(nn.Linear(e, 4 * e), nn.GELU(), nn.Linear(4 * e, e))

    def forward(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, vocab, layers, heads, width, context):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab, width)
        self.pos_emb = nn.Embedding(context, width)
        self.blocks = nn.ModuleList([Block(width, heads) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab)
        self.masks = {}

    def forward(self, ids):
        t = ids.shape[1]
        mask = self.masks.get(t)
        if mask is None:
            mask = torch.triu(torch.full((t, t), float("-inf")), diagonal=1)
            self.masks[t] = mask
        x = self.tok_emb(ids) + self.pos_emb.weight[:t]
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.ln_f(x))


def cosine_with_warmup(base, warmup, total, step):
    """optim.CosineWithWarmup's rate for the step after step steps."""
    if step < warmup:
        return base * step / warmup
    p = (min(step, total) - warmup) / max(1, total - warmup)
    return base * max(0.0, 0.5 * (1 + math.cos(math.pi * 0.5 * 2 * p)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="the directory written by charlm -init-npy")
    ap.add_argument("--log-losses", help="write every step's training loss to this file")
    ap.add_argument("--time", type=float, help="stop training after this many seconds (default: config.json's)")
    ap.add_argument("--stop", type=int, help="stop after this step (default: config.json's)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch.set_num_threads, ATen's intra-op threads (default 1; see the module docstring)")
    ap.add_argument("--compare", help="a charlm -log-losses file: print how the losses differ from it")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    with open(os.path.join(args.dir, "config.json")) as f:
        c = json.load(f)
    stop = args.stop if args.stop is not None else (c["stop"] or c["steps"])
    stop = min(stop, c["steps"])
    limit = args.time if args.time is not None else c["time_s"]
    model = GPT(c["vocab"], c["layers"], c["heads"], c["width"], c["context"])
    sd = model.state_dict()
    names = [p["name"] for p in c["params"]]
    if sorted(names) != sorted(sd):
        sys.exit("reference.py: parameter names differ: tapegrad %s, torch %s" % (sorted(names), sorted(sd)))
    with torch.no_grad():
        for n in names:
            a = torch.from_numpy(np.load(os.path.join(args.dir, n + ".npy")))
            if tuple(a.shape) != tuple(sd[n].shape) or a.dtype != torch.float32:
                sys.exit("reference.py: %s: %s %s, the model has %s" % (n, a.dtype, tuple(a.shape), tuple(sd[n].shape)))
            sd[n].copy_(a)
    params = dict(model.named_parameters())
    decay = {p["name"]: p["decay"] for p in c["params"]}
    opt = torch.optim.AdamW(
        [{"params": [params[n] for n in names if decay[n]], "weight_decay": c["wd"]},
         {"params": [params[n] for n in names if not decay[n]], "weight_decay": 0.0}],
        lr=c["lr"], betas=(c["beta1"], c["beta2"]), eps=c["eps"])
    nparams = sum(p.numel() for p in model.parameters())

    tokens = torch.from_numpy(np.load(os.path.join(args.dir, "tokens.npy"))).long()
    starts = torch.from_numpy(np.load(os.path.join(args.dir, "starts.npy"))).long()
    t, b, v = c["context"], c["batch"], c["vocab"]
    val = tokens[c["train_len"]:]
    offsets = torch.arange(t)
    print("model: %d parameters; torch %s, %d threads" % (nparams, torch.__version__, torch.get_num_threads()), flush=True)

    def evaluate(windows):
        n = (len(val) - 1) // t
        if windows > 0:
            n = min(n, windows)
        total, count = 0.0, 0
        with torch.no_grad():
            for k in range(0, n, b):
                m = min(b, n - k)
                idx = (k + torch.arange(m))[:, None] * t + offsets[None, :]
                logits = model(val[idx])
                total += F.cross_entropy(logits.reshape(-1, v), val[idx + 1].reshape(-1), reduction="sum").item()
                count += m * t
        return total / count, n

    log = open(args.log_losses, "w") if args.log_losses else None
    start = time.perf_counter()
    train_time, tokens_done, seg_loss, seg_n = 0.0, 0, 0.0, 0
    losses = []
    step = 0
    while step < stop:
        t0 = time.perf_counter()
        idx = starts[step][:, None] + offsets[None, :]
        x, y = tokens[idx], tokens[idx + 1]
        lr = cosine_with_warmup(c["lr"], c["warmup"], c["steps"], step)
        for g in opt.param_groups:
            g["lr"] = lr
        loss = F.cross_entropy(model(x).reshape(-1, v), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if c["clip"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), c["clip"])
        opt.step()
        l = loss.item()
        train_time += time.perf_counter() - t0
        step += 1
        tokens_done += b * t
        losses.append(l)
        seg_loss, seg_n = seg_loss + l, seg_n + 1
        if log:
            log.write("%d %.8f\n" % (step, l))
        time_up = limit > 0 and time.perf_counter() - start >= limit
        if c["eval_every"] > 0 and step % c["eval_every"] == 0 and step < stop and not time_up:
            vl, _ = evaluate(c["eval_windows"])
            print("step %d val_loss %.4f  (train %.4f, lr %.3g, %ds, %.0f tokens/s)" % (
                step, vl, seg_loss / seg_n, cosine_with_warmup(c["lr"], c["warmup"], c["steps"], step),
                round(time.perf_counter() - start), tokens_done / train_time), flush=True)
            seg_loss, seg_n = 0.0, 0
        if time_up:
            break
    if log:
        log.close()
    t0 = time.perf_counter()
    final, windows = evaluate(c["val_windows"])
    eval_time = time.perf_counter() - t0
    if tokens_done:
        print("trained steps 1-%d in %.3fs: %.0f tokens/s (training steps only), %ds in all" % (
            step, train_time, tokens_done / train_time, round(time.perf_counter() - start)))
    print("validation: %d windows of %d characters (%d predictions), %.3fs" % (windows, t, windows * t, eval_time))
    if args.compare:
        go = {}
        with open(args.compare) as f:
            for line in f:
                s, l = line.split()
                go[int(s)] = float(l)
        common = [i for i in range(1, len(losses) + 1) if i in go]
        for k in sorted({min(k, len(common)) for k in (20, 100, 300, len(common))}):
            d = [abs(losses[i - 1] - go[i]) for i in common[:k]]
            if d:
                j = int(np.argmax(d))
                print("compare: first %d steps: max |torch - tapegrad| %.3g (step %d), mean %.3g" % (
                    len(d), d[j], common[j], sum(d) / len(d)))
    print("final: step %d val_loss %.4f" % (step, final))


if __name__ == "__main__":
    main()
