#!/usr/bin/env python3
"""Peak memory and time of attention forward+backward, for the three kinds, over sequence lengths.

    python3 python/examples/attention_memory.py --sizes 256 512 1024 2048 4096 --out docs/attention_memory.png

For each length N it builds q, k, v [batch, heads, N, head_dim] (requiring grad), then measures
out = attention(q, k, v, kind=...); out.sum().backward() with memgrad.memory.PeakMeter (exact
bytes allocated above what was live before: activations, saved tensors, gradients) and the
wall-clock time (best of --repeats). It prints a table and plots both on log-log axes: vanilla
keeps the [N, N] probabilities (memory ~ N^2), chunked and top-k keep O(N) per head.
"""
import argparse
import json
import os
import sys
import time

mg = None  # imported in main(), after --threads has set OMP_NUM_THREADS

KINDS = ("vanilla", "chunked", "topk")


def measure(kind, n, args):
    gen = mg.Generator(n)
    shape = (args.batch, args.heads, n, args.head_dim)
    q, k, v = (mg.randn(*shape, dtype=args.dtype, generator=gen, requires_grad=True) for _ in range(3))
    opts = dict(kind=kind, causal=args.causal, top_k=args.top_k)

    def step():
        for t in (q, k, v):
            t.grad = None
        out = mg.functional.attention(q, k, v, **opts)
        out.sum().backward()

    step()  # warm-up: fills the allocator's cache, pages memory in
    times = []
    peak = 0
    for _ in range(args.repeats):
        for t in (q, k, v):
            t.grad = None
        with mg.memory.PeakMeter() as meter:
            t0 = time.perf_counter()
            out = mg.functional.attention(q, k, v, **opts)
            out.sum().backward()
            times.append(time.perf_counter() - t0)
            del out
        peak = max(peak, meter.overhead)
    return peak, min(times)


def plot(results, args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_mem, ax_time) = plt.subplots(1, 2, figsize=(11, 4.3))
    styles = {"vanilla": ("tab:red", "o"), "chunked": ("tab:blue", "s"), "topk": ("tab:green", "^")}
    for kind in KINDS:
        rows = [r for r in results if r["kind"] == kind]
        if not rows:
            continue
        ns = [r["n"] for r in rows]
        color, marker = styles[kind]
        label = f"topk (k={args.top_k})" if kind == "topk" else kind
        ax_mem.plot(ns, [r["peak_bytes"] / 2**20 for r in rows], marker=marker, color=color, label=label)
        ax_time.plot(ns, [r["seconds"] * 1e3 for r in rows], marker=marker, color=color, label=label)
    ns = sorted({r["n"] for r in results})
    ref = [r for r in results if r["kind"] == "chunked"] or results
    base = min(r["peak_bytes"] for r in ref if r["n"] == ref[0]["n"]) / 2**20
    ax_mem.plot(ns, [base * (n / ns[0]) for n in ns], ":", color="gray", lw=1, label="∝ N")
    ax_mem.plot(ns, [base * (n / ns[0]) ** 2 for n in ns], "--", color="gray", lw=1, label="∝ N²")
    for ax, title, unit in ((ax_mem, "peak memory, forward + backward", "MiB"),
                            (ax_time, "time, forward + backward", "ms")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length N")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    threads = os.environ.get("OMP_NUM_THREADS", str(os.cpu_count()))
    fig.suptitle(f"memgrad attention: batch {args.batch}, {args.heads} heads, head dim {args.head_dim}, "
                 f"{args.dtype}{', causal' if args.causal else ''} (CPU, {threads} thread(s))", fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096])
    p.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--top-k", type=int, default=64)
    p.add_argument("--causal", action="store_true")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-vanilla-mib", type=float, default=4096,
                   help="skip vanilla where its [B, H, N, N] matrices would exceed this (estimate)")
    p.add_argument("--out", default="attention_memory.png", help="PNG path")
    p.add_argument("--json", help="also write the measurements here")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--threads", type=int, help="OpenMP threads (OMP_NUM_THREADS; default: every core). On a "
                   "machine shared with other work, 1 gives stable timings")
    args = p.parse_args(argv)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # read when the extension loads OpenMP
    global mg
    import memgrad as mg

    results = []
    print(f"{'N':>7} {'kind':>8} {'peak MiB':>10} {'ms':>9}")
    for n in args.sizes:
        for kind in args.kinds:
            scores = args.batch * args.heads * n * n * (4 if args.dtype == "float32" else 8)
            if kind == "vanilla" and 4 * scores / 2**20 > args.max_vanilla_mib:
                print(f"{n:>7} {kind:>8}   skipped (about {4 * scores / 2**20:.0f} MiB)")
                continue
            peak, seconds = measure(kind, n, args)
            results.append({"n": n, "kind": kind, "peak_bytes": peak, "seconds": seconds})
            print(f"{n:>7} {kind:>8} {peak / 2**20:>10.2f} {seconds * 1e3:>9.1f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": vars(args), "results": results}, f, indent=1)
    if not args.no_plot:
        plot(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
