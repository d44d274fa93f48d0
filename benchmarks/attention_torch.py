#!/usr/bin/env python3
"""PyTorch's attention on the GPU, measured the way bench_attention --device cuda measures memgrad's:
the same shapes (float32, [B, H, N, D]), CUDA events around each call after warm-up, the median of
many, and the peak bytes the call allocates above its inputs, output and (fwd+bwd) input gradients.

Two implementations: torch.nn.functional.scaled_dot_product_attention ("sdpa", which picks its own
kernel: in float32 the memory-efficient one where it applies) and eager attention
(softmax(q k^T * scale) v, "eager", the O(N^2)-memory baseline). Needs PyTorch with CUDA; run on the
GPU machine (scripts/gpu_check.sh does):

    python3 benchmarks/attention_torch.py --sizes 1024 2048 4096 --out results/attention_torch.json
"""
import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time

import torch
import torch.nn.functional as F


def eager(q, k, v):
    s = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(q.shape[-1]))
    return torch.matmul(torch.softmax(s, dim=-1), v)


def sdpa(q, k, v):
    return F.scaled_dot_product_attention(q, k, v)


def measure(fn, shape, backward, warmup, repeats, budget_s):
    gen = torch.Generator(device="cuda").manual_seed(0)
    q, k, v, w = (torch.randn(shape, device="cuda", dtype=torch.float32, generator=gen) for _ in range(4))
    if backward:
        for t in (q, k, v):
            t.requires_grad_(True)
    nbytes = q.numel() * 4

    def once():
        if backward:
            out = fn(q, k, v)
            out.backward(w)
            for t in (q, k, v):
                t.grad = None
        else:
            with torch.no_grad():
                fn(q, k, v)

    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    if backward:  # measure with gradients kept, as memgrad's figure is taken
        out = fn(q, k, v)
        out.backward(w)
        peak = torch.cuda.max_memory_allocated() - base - nbytes * 4
        del out
        for t in (q, k, v):
            t.grad = None
    else:
        with torch.no_grad():
            out = fn(q, k, v)
        peak = torch.cuda.max_memory_allocated() - base - nbytes
        del out
    for _ in range(warmup):
        once()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times, spent = [], 0.0
    for r in range(repeats):
        if r > 0 and spent > budget_s:
            break
        start.record()
        once()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) * 1e-3)
        spent += times[-1]
    return statistics.median(times), peak, len(times)


def sdpa_backend(shape):
    """Which fused kernel SDPA picks for float32 at this shape (by elimination)."""
    q = torch.randn(shape, device="cuda", dtype=torch.float32)
    from torch.nn.attention import SDPBackend, sdpa_kernel
    for name, b in (("flash", SDPBackend.FLASH_ATTENTION), ("efficient", SDPBackend.EFFICIENT_ATTENTION),
                    ("cudnn", SDPBackend.CUDNN_ATTENTION), ("math", SDPBackend.MATH)):
        try:
            with sdpa_kernel(b):
                F.scaled_dot_product_attention(q, q, q)
            return name
        except RuntimeError:
            continue
    return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096, 8192, 16384, 32768])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--eager-max", type=int, default=16384, help="largest N for eager (O(N^2) memory)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--budget", type=float, default=5.0, help="seconds after which a measurement stops repeating")
    ap.add_argument("--out", default="benchmarks/results/attention_torch.json")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("error: PyTorch sees no GPU")
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 products stay float32, as memgrad's
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.cuda.get_device_name()
    print(f"device: {dev}; torch {torch.__version__}; B={a.batch} H={a.heads} D={a.head_dim} float32, "
          f"CUDA events, median of up to {a.repeats} after {a.warmup} warm-up calls")
    print(f"{'N':>6} {'impl':<6} {'pass':<8} {'median s':>10} {'TFLOP/s':>8} {'peak MiB':>10}")
    results = []
    for n in a.sizes:
        shape = (a.batch, a.heads, n, a.head_dim)
        for name, fn in (("sdpa", sdpa), ("eager", eager)):
            if name == "eager" and n > a.eager_max:
                continue
            for backward in (False, True):
                try:
                    sec, peak, samples = measure(fn, shape, backward, a.warmup, a.repeats, a.budget)
                except torch.OutOfMemoryError:
                    print(f"{n:>6} {name:<6} {'fwd+bwd' if backward else 'fwd':<8}  out of memory")
                    torch.cuda.empty_cache()
                    continue
                flops = (12.0 if backward else 4.0) * n * n * a.head_dim * a.batch * a.heads
                row = {"n": n, "impl": name, "pass": "fwd+bwd" if backward else "fwd", "seconds": sec,
                       "tflops": flops / sec / 1e12, "overhead_bytes": peak, "samples": samples}
                if name == "sdpa":
                    row["sdpa_backend"] = sdpa_backend(shape)
                results.append(row)
                print(f"{n:>6} {name:<6} {row['pass']:<8} {sec:>10.5f} {row['tflops']:>8.2f} {peak / 2**20:>10.1f}",
                      flush=True)
    doc = {"benchmark": "attention_torch", "command": " ".join(sys.argv), "device": dev, "torch": torch.__version__,
           "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "config": {"B": a.batch, "H": a.heads, "D": a.head_dim, "dtype": "float32", "tf32": False,
                      "timer": "cuda_events", "statistic": "median"},
           "results": results}
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(a.out)), suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=2)
    os.replace(tmp, a.out)  # atomic: a reader never sees half a file
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
