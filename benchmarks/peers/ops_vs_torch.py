#!/usr/bin/env python3
"""memgrad's ops against PyTorch's on random shapes (a peer check, not a test: it needs PyTorch,
kept out of memgrad's environment).

Each round draws shapes of 0-4 dims with sizes 0-5 (empty ones included), pairs that broadcast,
float64 values, and runs elementwise ops, reductions, softmax, shape ops, index ops, matmul in each
form, linear, layer_norm, cross_entropy, embedding and scaled_dot_product_attention in both
libraries, on contiguous inputs and on transposed views: the same error-or-not, equal shapes,
values and input gradients to 1e-6 relative.

memgrad's documented differences (docs/reliability.md, "NaN and inf") are not counted: a mean over
an empty dim is an error (PyTorch: NaN), a softmax row of only -inf is 0 (NaN), a mean
cross-entropy with no target left is 0 (NaN).

    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install torch numpy
    PYTHONPATH=build/python /tmp/peers/bin/python benchmarks/peers/ops_vs_torch.py [--rounds 300 --seed 0]

Exit status 1 when a case differs (the first ones are printed)."""
import argparse
import random
import sys

import numpy as np
import torch

import memgrad as mg

F, TF = mg.nn.functional, torch.nn.functional


class Run:
    def __init__(self, rng):
        self.rng, self.cases, self.failures = rng, 0, []

    def leaf(self, a, lib, grad):
        """a as a tensor of lib, half the time a transposed view of a contiguous copy."""
        if a.ndim >= 2 and random.random() < 0.5:
            t = lib.tensor(np.ascontiguousarray(np.swapaxes(a, -1, -2))).transpose(-1, -2)
        else:
            t = lib.tensor(a)
        if grad and a.dtype == np.float64:
            t = t.detach()
            t.requires_grad_(True)
        return t

    def check(self, name, fm, ft, *arrays, grad=True, documented=None):
        self.cases += 1
        state = random.getstate()
        xs_m = [self.leaf(a, mg, grad) if isinstance(a, np.ndarray) else a for a in arrays]
        random.setstate(state)  # the same view choices for torch
        xs_t = [self.leaf(a, torch, grad) if isinstance(a, np.ndarray) else a for a in arrays]
        shapes = [getattr(a, "shape", a) for a in arrays]
        try:
            rt, et = ft(*xs_t), None
        except (RuntimeError, ValueError, IndexError, TypeError) as e:
            rt, et = None, e
        if documented and documented(*arrays):
            return
        try:
            rm, em = fm(*xs_m), None
        except (RuntimeError, ValueError, IndexError, TypeError) as e:
            rm, em = None, e
        if em is not None or et is not None:
            if (em is None) != (et is None):
                self.failures.append(f"{name} {shapes}: memgrad {em or 'ok'} / torch {et or 'ok'}")
            return
        a, b = rm.detach().numpy(), rt.detach().numpy()
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-6, atol=1e-9, equal_nan=True):
            self.failures.append(f"{name} {shapes}: values differ (shapes {a.shape}, {b.shape})")
            return
        if grad and rm.requires_grad and a.size:
            g = self.rng.standard_normal(a.shape)
            rm.backward(mg.tensor(g))
            rt.backward(torch.tensor(g))
            for m, t in zip(xs_m, xs_t):
                if isinstance(m, mg.Tensor) and m.requires_grad:
                    gm = m.grad.numpy() if m.grad is not None else np.zeros(m.shape)
                    gt = t.grad.numpy() if t.grad is not None else np.zeros(tuple(t.shape))
                    if not np.allclose(gm, gt, rtol=1e-6, atol=1e-9, equal_nan=True):
                        self.failures.append(f"{name} {shapes}: gradients differ")
                        return


def shape(nd=None, sizes=(0, 1, 2, 3, 5)):
    return tuple(random.choice(sizes) for _ in range(random.randint(0, 4) if nd is None else nd))


def broadcast_pair():
    s = shape()
    t = [1 if random.random() < 0.3 else n for n in s][random.randint(0, len(s)):]
    return (s, tuple(t)) if random.random() < 0.5 else (tuple(t), s)


def one_round(run, rng):
    r = rng.standard_normal
    a, b = map(r, broadcast_pair())
    for name, fm, ft in [("add", mg.add, torch.add), ("sub", mg.sub, torch.sub), ("mul", mg.mul, torch.mul),
                         ("div", mg.div, torch.div), ("maximum", mg.maximum, torch.maximum),
                         ("minimum", mg.minimum, torch.minimum), ("where", lambda x, y: mg.where(x > y, x, y),
                                                                  lambda x, y: torch.where(x > y, x, y))]:
        run.check(name, fm, ft, a, b)
    a = r(shape())
    for name in ["exp", "tanh", "sigmoid", "relu", "neg", "abs"]:
        run.check(name, getattr(mg, name), getattr(torch, name), a)
    run.check("gelu", mg.gelu, TF.gelu, a)
    run.check("log", lambda x: (x.abs() + 0.1).log(), lambda x: (x.abs() + 0.1).log(), a)
    if a.ndim == 0:
        return
    d, kd = random.randint(-a.ndim, a.ndim - 1), random.random() < 0.5
    empty_dim = lambda x: x.shape[d] == 0  # noqa: E731
    run.check("sum", lambda x: x.sum(d, keepdim=kd), lambda x: x.sum(d, keepdim=kd), a)
    run.check("mean", lambda x: x.mean(d, keepdim=kd), lambda x: x.mean(d, keepdim=kd), a, documented=empty_dim)
    run.check("amax", lambda x: x.amax(d, keepdim=kd), lambda x: x.amax(d, keepdim=kd), a)
    run.check("softmax", lambda x: x.softmax(d), lambda x: x.softmax(d), a)
    run.check("log_softmax", lambda x: x.log_softmax(d), lambda x: x.log_softmax(d), a)
    run.check("unsqueeze", lambda x: x.unsqueeze(d), lambda x: x.unsqueeze(d), a)
    run.check("squeeze", lambda x: x.squeeze(d), lambda x: x.squeeze(d), a)
    run.check("cat", lambda x: mg.cat([x, x * 2.0], d), lambda x: torch.cat([x, x * 2.0], d), a)
    run.check("stack", lambda x: mg.stack([x, x], d), lambda x: torch.stack([x, x], d), a)
    perm = list(range(a.ndim))
    random.shuffle(perm)
    run.check("permute", lambda x: x.permute(*perm) * 1.0, lambda x: x.permute(*perm) * 1.0, a)
    if a.shape[d] > 0:
        k = random.randint(-a.shape[d], a.shape[d] - 1)
        run.check("select", lambda x: x.select(d, k), lambda x: x.select(d, k), a)
        run.check("narrow", lambda x: x.narrow(d, k, 1), lambda x: x.narrow(d, k, 1), a)
        idx = rng.integers(0, a.shape[d], size=random.randint(0, 4))
        run.check("index_select", lambda x: mg.index_select(x, d, mg.tensor(idx)),
                  lambda x: torch.index_select(x, d, torch.tensor(idx)), a)
        gidx = rng.integers(0, a.shape[d], size=tuple(n if i != d % a.ndim else 2 for i, n in enumerate(a.shape)))
        run.check("gather", lambda x: mg.gather(x, d, mg.tensor(gidx)), lambda x: torch.gather(x, d, torch.tensor(gidx)), a)
    mask = rng.random(a.shape) > 0.5
    run.check("masked_fill", lambda x: mg.masked_fill(x, mg.tensor(mask), 2.5),
              lambda x: torch.masked_fill(x, torch.tensor(mask), 2.5), a)
    # matmul in each form, batch dims broadcast
    m, k, n = (random.randint(0, 4) for _ in range(3))
    ba = shape(random.randint(0, 2), (1, 2, 3))
    bb = ba[random.randint(0, len(ba)):]
    run.check("matmul", mg.matmul, torch.matmul, r(ba + (m, k)), r(bb + (k, n)))
    run.check("matmul vector right", mg.matmul, torch.matmul, r(ba + (m, k)), r((k,)))
    run.check("matmul vector left", mg.matmul, torch.matmul, r((k,)), r(bb + (k, n)))
    # nn ops
    fin, fout = random.choice([0, 1, 4]), random.choice([0, 1, 3])
    run.check("linear", F.linear, TF.linear, r(ba + (fin,)), r((fout, fin)), r((fout,)))
    width = random.choice([1, 2, 5])
    run.check("layer_norm", lambda x, w, bias: F.layer_norm(x, w, bias, 1e-5),
              lambda x, w, bias: TF.layer_norm(x, [width], w, bias, 1e-5), r(ba + (width,)), r((width,)), r((width,)))
    rows, classes = random.choice([0, 1, 4]), random.choice([1, 3])
    target = rng.integers(0, classes, size=rows)
    if rows and random.random() < 0.5:
        target[0] = -100
    no_target = lambda x: not (target != -100).any()  # noqa: E731
    run.check("cross_entropy", lambda x: F.cross_entropy(x, mg.tensor(target)),
              lambda x: TF.cross_entropy(x, torch.tensor(target)), r((rows, classes)), documented=no_target)
    ids = rng.integers(0, 5, size=shape(random.randint(1, 2), (0, 1, 3)))
    run.check("embedding", lambda w: F.embedding(w, mg.tensor(ids)), lambda w: TF.embedding(torch.tensor(ids), w), r((5, 3)))
    B, H, Nq, Nk, D = random.choice([1, 2]), random.choice([1, 2]), random.choice([0, 1, 3]), random.choice([1, 4]), random.choice([1, 3])
    causal = random.random() < 0.5
    run.check("scaled_dot_product_attention", lambda q, k_, v: F.scaled_dot_product_attention(q, k_, v, is_causal=causal),
              lambda q, k_, v: TF.scaled_dot_product_attention(q, k_, v, is_causal=causal),
              r((B, H, Nq, D)), r((B, H, Nk, D)), r((B, H, Nk, D)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    random.seed(args.seed)
    run = Run(rng)
    for _ in range(args.rounds):
        one_round(run, rng)
    print(f"ops vs torch {torch.__version__}: {run.cases - len(run.failures)} of {run.cases} cases agree")
    for f in run.failures[:20]:
        print("  " + f)
    sys.exit(1 if run.failures else 0)


if __name__ == "__main__":
    main()
