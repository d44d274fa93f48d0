#!/usr/bin/env python3
"""Tensor indexing against PyTorch's, on random index expressions (a peer check, not a test: it
needs PyTorch, kept out of memgrad's environment).

Each case draws a float64 tensor of 1-4 dims (sizes 0-4) and an index of ints, slices (steps 1-3),
None, ..., int index tensors of 0-2 dims (negative entries included) and boolean masks over one or
two dims, then compares:
  - t[idx]: the same error-or-not, and equal shapes and values;
  - the gradient of t[idx] with a random upstream gradient;
  - t[idx] = value for indices without tensors (writes through views), value broadcast from the
    selected shape's trailing dims.

Run with a Python that has torch and numpy, memgrad's build on PYTHONPATH (same Python version):

    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install torch numpy
    PYTHONPATH=build/python /tmp/peers/bin/python benchmarks/peers/indexing_vs_torch.py [--cases 3000 --seed 0]

Exit status 1 when a case differs (the first ones are printed)."""
import argparse
import random
import sys

import numpy as np
import torch

import memgrad as mg


def draw_index(shape, rng):
    parts, dim, ellipsis = [], 0, False
    for _ in range(random.randint(1, len(shape) + 1)):
        r = random.random()
        if r < 0.1:
            parts.append(None)
            continue
        if r < 0.15 and not ellipsis:
            parts.append(Ellipsis)
            ellipsis, dim = True, len(shape)
            continue
        if dim >= len(shape):
            break
        n = shape[dim]
        r = random.random()
        if r < 0.3 and n > 0:
            parts.append(random.randint(-n, n - 1))
        elif r < 0.55:
            bound = lambda: random.choice([None, random.randint(-n - 2, n + 2)])  # noqa: E731
            parts.append(slice(bound(), bound(), random.choice([None, 1, 2, 3])))
        elif r < 0.7:
            parts.append(rng.random(shape[dim:dim + random.choice([1, 2])]) > 0.5)
            dim += parts[-1].ndim - 1
        else:
            size = tuple(random.choice([1, 2, 3]) for _ in range(random.choice([0, 1, 2])))
            parts.append(rng.integers(-n, n, size=size) if n > 0 else np.zeros(size, dtype=np.int64))
        dim += 1
    return tuple(parts)


def convert(idx, lib):
    return tuple(lib.tensor(x) if isinstance(x, np.ndarray) else x for x in idx)


def check(a, idx, rng):
    """None when memgrad agrees with torch, else what differs."""
    try:
        want = torch.tensor(a)[convert(idx, torch)]
    except (IndexError, RuntimeError, ValueError):
        want = None
    try:
        got = mg.tensor(a)[convert(idx, mg)]
    except (IndexError, RuntimeError, ValueError) as e:
        return None if want is None else f"memgrad raised {type(e).__name__}: {e}"
    if want is None:
        return f"torch raised, memgrad gave shape {tuple(got.shape)}"
    if tuple(got.shape) != tuple(want.shape) or not np.array_equal(got.numpy(), want.numpy()):
        return f"values: memgrad shape {tuple(got.shape)}, torch {tuple(want.shape)}"
    if got.numel():
        g = rng.standard_normal(tuple(got.shape))
        x, xt = mg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        x[convert(idx, mg)].backward(mg.tensor(g))
        xt[convert(idx, torch)].backward(torch.tensor(g))
        if not np.array_equal(x.grad.numpy(), xt.grad.numpy()):
            return "gradients differ"
    if not any(isinstance(p, np.ndarray) for p in idx):
        shape = tuple(want.shape)
        value = rng.standard_normal(shape[random.randint(0, len(shape)):])
        t, tt = mg.tensor(a.copy()), torch.tensor(a.copy())
        t[idx] = mg.tensor(value)
        tt[idx] = torch.tensor(value)
        if not np.array_equal(t.numpy(), tt.numpy()):
            return "assignment differs"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    random.seed(args.seed)
    failures = []
    for _ in range(args.cases):
        shape = tuple(random.choice([0, 1, 2, 3, 4]) for _ in range(random.randint(1, 4)))
        a = rng.standard_normal(shape)
        idx = draw_index(shape, rng)
        why = check(a, idx, rng)
        if why:
            failures.append(f"shape {shape}, index {idx!r}: {why}")
    print(f"indexing vs torch {torch.__version__}: {args.cases - len(failures)} of {args.cases} cases agree")
    for f in failures[:20]:
        print("  " + f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
