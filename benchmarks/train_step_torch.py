"""PyTorch's side of bench_train_step (benchmarks/train_step.cpp): one training step of the same
transformer classifier, timed the same way. bench_train_step runs it (--torch-python) so that the
memgrad / PyTorch ratio comes from one run; it reads the last line printed, one JSON object.

The model has memgrad's shapes and ops (nn/transformer.h, nn/heads.h), not its initialisation:
token embedding + learned positions -> pre-LN layers (LayerNorm -> one qkv Linear -> SDPA ->
out Linear, residual; LayerNorm -> Linear -> exact GELU -> Linear, residual) -> final LayerNorm ->
mean over tokens -> Linear -> GELU -> Linear -> cross_entropy; AdamW (lr 1e-3, weight decay 0.01).

Memory: the first step's process RSS increase, VmHWM after the step minus VmRSS before it, with
VmHWM reset through /proc/self/clear_refs (Linux), as memgrad's rss_increase. Needs only torch.

--serve (how bench_train_step runs it, benchmarks/torch_worker.h): after the first step, print its
line, then time one step per "step" line read from stdin and print one line each, until EOF; so
that the two libraries' steps alternate. Without it: --steps timed steps, then one line.
"""

import argparse
import json
import re
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Layer(nn.Module):
    def __init__(self, dim, heads, ff):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.fc1, self.fc2 = nn.Linear(dim, ff), nn.Linear(ff, dim)

    def forward(self, x):  # [B, L, dim]
        B, L, dim = x.shape
        qkv = self.qkv(self.ln1(x)).view(B, L, 3, self.heads, dim // self.heads)  # [B, L, 3, H, Dh]
        q, k, v = (qkv.select(2, i).transpose(1, 2) for i in range(3))  # [B, H, L, Dh]
        a = F.scaled_dot_product_attention(q, k, v)  # [B, H, L, Dh]
        x = x + self.out(a.transpose(1, 2).reshape(B, L, dim))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class Classifier(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.emb = nn.Embedding(a.vocab, a.dim)
        self.pos = nn.Parameter(torch.randn(a.size, a.dim) * 0.02)
        self.layers = nn.ModuleList(Layer(a.dim, a.heads, a.ff) for _ in range(a.layers))
        self.norm = nn.LayerNorm(a.dim)
        self.fc1, self.fc2 = nn.Linear(a.dim, a.dim), nn.Linear(a.dim, a.classes)

    def forward(self, tokens):  # int64 [B, L] -> [B, classes]
        x = self.emb(tokens) + self.pos[: tokens.shape[1]]
        for layer in self.layers:
            x = layer(x)
        pooled = self.norm(x).mean(dim=1)  # [B, dim]
        return self.fc2(F.gelu(self.fc1(pooled)))


def status_bytes(key):
    with open("/proc/self/status") as f:
        return 1024 * int(re.search(key + r":\s+(\d+)", f.read()).group(1))


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in [("size", 1024), ("batch", 8), ("dim", 128), ("heads", 4), ("layers", 2), ("ff", 256),
                          ("vocab", 256), ("classes", 10), ("steps", 5), ("threads", 2)]:
        p.add_argument("--" + name, type=int, default=default)
    p.add_argument("--budget", type=float, default=60.0, help="stop timing once the steps took this long")
    p.add_argument("--serve", action="store_true", help="time one step per 'step' line on stdin (see above)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Classifier(a)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, a.vocab, (a.batch, a.size), generator=g)
    labels = torch.randint(0, a.classes, (a.batch,), generator=g)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(tokens), labels)
        loss.backward()
        opt.step()
        return loss.item()

    def timed_step():
        t0, c0 = time.perf_counter(), time.process_time()
        loss = step()
        return time.perf_counter() - t0, time.process_time() - c0, loss

    rss_ok = reset_peak_rss()
    before = status_bytes("VmRSS")
    loss = step()  # the first step: memory, and the warm-up
    rss_increase = status_bytes("VmHWM") - before if rss_ok else -1
    if a.serve:
        print(json.dumps({"torch_version": torch.__version__, "threads": torch.get_num_threads(),
                          "rss_increase_bytes": rss_increase, "loss": loss}), flush=True)
        for line in sys.stdin:
            if line.strip() != "step":
                continue
            s, c, loss = timed_step()
            print(json.dumps({"seconds": s, "cpu_seconds": c, "loss": loss}), flush=True)
        return
    times, cpu, spent = [], [], 0.0
    for s in range(a.steps):
        if s > 0 and spent >= a.budget:
            break
        wall, c, loss = timed_step()
        times.append(wall)
        cpu.append(c)
        spent += wall
    print(json.dumps({"torch_version": torch.__version__, "threads": torch.get_num_threads(),
                      "seconds": statistics.median(times), "cpu_seconds": statistics.median(cpu),
                      "samples": len(times), "rss_increase_bytes": rss_increase, "loss": loss}))


if __name__ == "__main__":
    main()
