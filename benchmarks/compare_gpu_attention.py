#!/usr/bin/env python3
"""Joins bench_attention --device cuda's JSON with attention_torch.py's into one markdown table
(time, TFLOP/s and peak bytes per N, pass and implementation) and checks the GPU targets:
memgrad chunked fwd+bwd no slower than PyTorch SDPA (float32) at N >= 4096 with peak memory no
higher, and topk fwd+bwd faster than chunked at N >= 8192.

    python3 benchmarks/compare_gpu_attention.py MEMGRAD.json TORCH.json [--out table.md]
"""
import argparse
import json


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("memgrad_json")
    ap.add_argument("torch_json")
    ap.add_argument("--out", help="also write the table (markdown) here")
    a = ap.parse_args()
    mg = json.load(open(a.memgrad_json))
    th = json.load(open(a.torch_json))
    rows = {}
    for r in mg["results"]:
        rows[(r["n"], r["pass"], "memgrad " + r["kind"])] = (r["seconds"], r["gflops"] / 1e3, r["overhead_bytes"])
    for r in th["results"]:
        label = "torch " + r["impl"] + (f" ({r['sdpa_backend']})" if "sdpa_backend" in r else "")
        rows[(r["n"], r["pass"], label)] = (r["seconds"], r["tflops"], r["overhead_bytes"])
    lines = [f"device: {th.get('device', '?')}; memgrad: `{mg['command']}`; torch {th.get('torch', '?')}: `{th['command']}`",
             "", "| N | pass | implementation | median ms | TFLOP/s | peak overhead MiB |", "|---|---|---|---|---|---|"]
    for key in sorted(rows):
        n, p, impl = key
        s, tf, b = rows[key]
        lines.append(f"| {n} | {p} | {impl} | {s * 1e3:.3f} | {tf:.2f} | {b / 2**20:.1f} |")
    lines.append("")
    checks = []
    for n in sorted({k[0] for k in rows}):
        c = rows.get((n, "fwd+bwd", "memgrad chunked"))
        t = next((v for k, v in rows.items() if k[0] == n and k[1] == "fwd+bwd" and k[2].startswith("torch sdpa")), None)
        tk = rows.get((n, "fwd+bwd", "memgrad topk"))
        if n >= 4096 and c and t:
            checks.append(f"N={n}: chunked fwd+bwd {c[0] * 1e3:.2f} ms vs SDPA {t[0] * 1e3:.2f} ms -> "
                          f"{'met' if c[0] <= t[0] else 'NOT met'}; peak {c[2] / 2**20:.1f} vs {t[2] / 2**20:.1f} MiB -> "
                          f"{'met' if c[2] <= t[2] else 'NOT met'}")
        if n >= 8192 and c and tk:
            checks.append(f"N={n}: topk fwd+bwd {tk[0] * 1e3:.2f} ms vs chunked {c[0] * 1e3:.2f} ms -> "
                          f"{'met' if tk[0] < c[0] else 'NOT met'}")
    lines += ["targets:"] + ["- " + c for c in checks]
    text = "\n".join(lines)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
