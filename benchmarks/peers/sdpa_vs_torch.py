#!/usr/bin/env python3
"""memgrad.nn.functional.scaled_dot_product_attention against PyTorch's, value for value (a peer
check, not a test: it needs PyTorch, kept out of memgrad's environment).

Each case runs both on the same float64 inputs, forward and backward (q, k, v and a float mask's
gradients), and prints the largest difference, in memgrad's chunked kind (or --kind). Rows that
are fully masked are compared as the one documented difference: memgrad 0, PyTorch NaN.

Run with a Python that has torch and numpy, memgrad's build on PYTHONPATH (same Python version):

    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install torch numpy
    PYTHONPATH=build/python /tmp/peers/bin/python benchmarks/peers/sdpa_vs_torch.py [--kind chunked]

Exit status 1 when a difference exceeds --tol (default 1e-10)."""
import argparse
import sys

import numpy as np
import torch
import torch.nn.functional as TF

import memgrad as mg


def cases(rng):
    """(name, q, k, v, keywords) with numpy float64 inputs."""
    r = rng.standard_normal
    yield "plain 4-d", r((2, 3, 7, 8)), r((2, 3, 9, 8)), r((2, 3, 9, 5)), {}
    yield "3-d", r((3, 7, 8)), r((3, 9, 8)), r((3, 9, 8)), {}
    yield "5-d", r((2, 2, 3, 6, 4)), r((2, 2, 3, 5, 4)), r((2, 2, 3, 5, 4)), {}
    yield "is_causal L<S", r((2, 3, 5, 8)), r((2, 3, 9, 8)), r((2, 3, 9, 8)), dict(is_causal=True)
    yield "is_causal L>S", r((2, 3, 9, 8)), r((2, 3, 5, 8)), r((2, 3, 5, 8)), dict(is_causal=True)
    yield "scale", r((2, 3, 7, 8)), r((2, 3, 7, 8)), r((2, 3, 7, 8)), dict(scale=0.3)
    yield "bool mask", r((2, 3, 6, 8)), r((2, 3, 9, 8)), r((2, 3, 9, 8)), dict(attn_mask=rng.random((2, 1, 6, 9)) > 0.3)
    yield "float mask", r((2, 3, 6, 8)), r((2, 3, 9, 8)), r((2, 3, 9, 8)), dict(attn_mask=r((1, 3, 6, 9)))
    yield "enable_gqa 6/2", r((2, 6, 7, 8)), r((2, 2, 9, 8)), r((2, 2, 9, 8)), dict(enable_gqa=True)
    yield "enable_gqa causal", r((2, 4, 7, 8)), r((2, 1, 7, 8)), r((2, 1, 7, 8)), dict(enable_gqa=True, is_causal=True)
    mask = rng.random((5, 7)) > 0.3
    mask[2] = False
    yield "fully masked row", r((1, 2, 5, 4)), r((1, 2, 7, 4)), r((1, 2, 7, 4)), dict(attn_mask=mask)


def run_torch(q, k, v, dO, kw):
    t = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    kw = dict(kw)
    m = kw.get("attn_mask")
    if m is not None:
        kw["attn_mask"] = torch.tensor(m, requires_grad=m.dtype != bool)
    out = TF.scaled_dot_product_attention(*t, **kw)
    (out * torch.tensor(dO)).nansum().backward()
    grads = [x.grad.numpy() for x in t]
    if m is not None and m.dtype != bool:
        grads.append(kw["attn_mask"].grad.numpy())
    return out.detach().numpy(), grads


def run_memgrad(q, k, v, dO, kw, kind):
    t = [mg.tensor(a, requires_grad=True) for a in (q, k, v)]
    kw = dict(kw)
    m = kw.get("attn_mask")
    if m is not None and m.dtype != bool:
        kw["attn_mask"] = mg.tensor(m, requires_grad=True)
    out = mg.nn.functional.scaled_dot_product_attention(*t, kind=kind, **kw)
    (out * mg.tensor(dO)).sum().backward()
    grads = [x.grad.numpy() for x in t]
    if m is not None and m.dtype != bool:
        grads.append(kw["attn_mask"].grad.numpy())
    return out.detach().numpy(), grads


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kind", default="chunked", choices=["chunked", "vanilla", "topk"])
    ap.add_argument("--tol", type=float, default=1e-10)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    worst_all = 0.0
    print(f"torch {torch.__version__}; float64; largest |memgrad - torch| over out and gradients")
    print(f"{'case':<20} {'kind':<8} {'out':>10} {'grads':>10}  note")
    for name, q, k, v, kw in cases(rng):
        dO = rng.standard_normal(q.shape[:-1] + (v.shape[-1],))
        kind = args.kind
        mo, mgr = run_memgrad(q, k, v, dO, kw, kind)
        to, tgr = run_torch(q, k, v, dO, kw)
        note = ""
        nan_rows = np.isnan(to).any(-1)
        if nan_rows.any():  # the documented difference: memgrad gives 0 where torch gives NaN
            assert np.all(mo[nan_rows] == 0), f"{name}: memgrad's fully masked rows are not 0"
            note = f"{int(nan_rows.sum())} fully masked rows: memgrad 0, torch NaN (documented)"
            to = np.where(nan_rows[..., None], 0, to)
            tgr = [np.nan_to_num(g) for g in tgr]
        d_out = float(np.abs(mo - to).max())
        d_grad = max(float(np.abs(a - b).max()) for a, b in zip(mgr, tgr))
        worst_all = max(worst_all, d_out, d_grad)
        print(f"{name:<20} {kind:<8} {d_out:>10.2e} {d_grad:>10.2e}  {note}")
    print(f"largest difference {worst_all:.2e} (tolerance {args.tol:.0e})")
    return 0 if worst_all <= args.tol else 1


if __name__ == "__main__":
    sys.exit(main())
