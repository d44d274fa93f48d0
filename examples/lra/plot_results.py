#!/usr/bin/env python3
"""Figures from the results.json that `lra train` / `lra compare` write, or the eval.json of `lra eval`
(examples/lra_main.cpp).

    python3 examples/lra/plot_results.py results/listops-demo/results.json [--out-dir DIR] [--prefix NAME]
    python3 examples/lra/plot_results.py results/listops-demo-vanilla/eval.json

Writes PNGs next to the JSON (or into --out-dir):
  <prefix>curves.png            training loss, training-batch and validation accuracy per attention kind,
                                with the majority-class rate for reference
  <prefix>memory_vs_length.png  measured peak memory of a training step against sequence length per kind
                                (the sweep of `compare`), the analytic estimate dashed
  <prefix>time_vs_length.png    time per training step against sequence length per kind
  <prefix>summary.png           the comparison table as bars: test accuracy, time per step, peak memory
from an eval.json:
  <prefix>eval.png              test accuracy against k (log2 axis) of a trained model evaluated with other
                                attention kinds: topk attention against its k, one line per feed-forward
                                setting; a second panel against the feed-forward's k when a kind was evaluated
                                with several; a kind with one setting as a horizontal line; the model as trained
                                a wide gray band, the majority-class rate dotted. One row per trained checkpoint.

Needs matplotlib (pip install matplotlib).
"""
import argparse
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"vanilla": "#d62728", "chunked": "#1f77b4", "topk": "#2ca02c"}
# vanilla and chunked compute the same function: their curves can coincide, so each kind gets its
# own width and dash pattern and the wider one stays visible underneath.
STYLES = {"vanilla": dict(lw=3.2, ls="-"), "chunked": dict(lw=1.6, ls="--"), "topk": dict(lw=1.2, ls="-")}
MIB = 1024.0 * 1024.0


def color(kind):
    return COLORS.get(kind, "#7f7f7f")


def style(kind):
    return STYLES.get(kind, dict(lw=1.2, ls="-"))


def log_axes(ax, ticks):
    """Log-log axes with plain numbers on the sequence-length ticks (no minor labels)."""
    ax.set(xscale="log", yscale="log")
    ax.set_xticks(ticks or [1])
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: "{:g}".format(v))
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)


def is_number(v):
    return isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v))


def title_of(res):
    return "{} ({} preset), batch {}, sequences up to {} tokens".format(res["task"], res["preset"], res["batch"],
                                                                       res["max_len"])


def plot_curves(res, path):
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 4.5))
    for k in res["kinds"]:
        steps = [p["step"] for p in k["curve"]]
        st = style(k["kind"])
        ax_loss.plot(steps, [p["loss"] for p in k["curve"]], color=color(k["kind"]), label=k["kind"], **st)
        ax_acc.plot(steps, [p["train_acc"] for p in k["curve"]], color=color(k["kind"]), lw=0.8, alpha=0.4)
        val = [(p["step"], p["val_acc"]) for p in k["curve"] if is_number(p.get("val_acc"))]
        if val:
            ax_acc.plot(*zip(*val), color=color(k["kind"]), marker="o", ms=4 + st["lw"], lw=st["lw"], ls=st["ls"],
                        label="{} validation (test {:.3f})".format(k["kind"], k["test_acc"] or float("nan")))
    if is_number(res.get("majority_rate")):
        ax_acc.axhline(res["majority_rate"], color="black", ls=":", lw=1,
                       label="majority class {:.3f}".format(res["majority_rate"]))
    ax_loss.set(xlabel="step", ylabel="training loss (mean since previous point)", title="loss")
    ax_acc.set(xlabel="step", ylabel="accuracy", title="accuracy (thin: training batches)")
    ax_loss.legend()
    ax_acc.legend(fontsize=8)
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    fig.suptitle(title_of(res))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def sweep_by_kind(res):
    kinds = {}
    for p in res.get("sweep", []):
        kinds.setdefault(p["kind"], []).append(p)
    for pts in kinds.values():
        pts.sort(key=lambda p: p["seq_len"])
    return kinds


def plot_memory(res, path):
    fig, ax = plt.subplots(figsize=(7, 5))
    for kind, pts in sweep_by_kind(res).items():
        run = [p for p in pts if p["peak_bytes"] > 0]
        if run:
            ax.plot([p["seq_len"] for p in run], [p["peak_bytes"] / MIB for p in run], marker="o", ms=7,
                    color=color(kind), label="{} measured".format(kind))
        ax.plot([p["seq_len"] for p in pts], [p["predicted_bytes"] / MIB for p in pts], ls=":", marker="x",
                ms=9, color="black", alpha=0.7, label="estimate" if kind == next(iter(sweep_by_kind(res))) else None)
        for p in pts:
            if p["peak_bytes"] == 0:
                ax.annotate("not run:\nwould not fit", (p["seq_len"], p["predicted_bytes"] / MIB), fontsize=7,
                            color=color(kind))
    log_axes(ax, sorted({p["seq_len"] for p in res.get("sweep", [])}))
    ax.set(xlabel="sequence length (tokens)", ylabel="peak memory of a training step (MiB)",
           title="peak memory of a training step vs length, batch {}".format(res["batch"]))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_time(res, path):
    fig, ax = plt.subplots(figsize=(7, 5))
    for kind, pts in sweep_by_kind(res).items():
        run = [p for p in pts if p["peak_bytes"] > 0]
        ax.plot([p["seq_len"] for p in run], [p["sec_per_step"] for p in run], marker="o", color=color(kind),
                label=kind)
    log_axes(ax, sorted({p["seq_len"] for p in res.get("sweep", [])}))
    ax.set(xlabel="sequence length (tokens)", ylabel="seconds per training step",
           title="time per training step vs length, batch {}".format(res["batch"]))
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_summary(res, path):
    kinds = res["kinds"]
    names = [k["kind"] for k in kinds]
    cols = [color(n) for n in names]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    panels = [
        ("test accuracy", [k["test_acc"] or 0 for k in kinds], "{:.3f}"),
        ("seconds per step", [k["sec_per_step"] for k in kinds], "{:.3f}"),
        ("peak memory of a step (MiB)", [k["peak_bytes"] / MIB for k in kinds], "{:.1f}"),
    ]
    for ax, (label, values, fmt) in zip(axes, panels):
        bars = ax.bar(names, values, color=cols)
        for b, v in zip(bars, values):
            ax.annotate(fmt.format(v), (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=9)
        ax.set_title(label)
        ax.grid(alpha=0.3, axis="y")
    if is_number(res.get("majority_rate")):
        axes[0].axhline(res["majority_rate"], color="black", ls=":", lw=1, label="majority class")
        axes[0].legend(fontsize=8)
    axes[2].scatter(names, [k["predicted_at_peak_len"] / MIB for k in kinds], marker="_", s=600, color="black",
                    label="estimate", zorder=3)
    axes[2].legend(fontsize=8)
    fig.suptitle(title_of(res))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


MARKERS = ["o", "s", "^", "D", "v", "P", "X"]
DASHES = ["-", "--", "-.", ":"]


def eval_lines(rows, source):
    """The lines of one trained checkpoint's rows: (axis, label, kind, variant, points). axis is "attention"
    (topk against its k), "ff" (a kind against its feed-forward top-k) or None (a kind evaluated with one setting:
    one point, drawn as a horizontal line); a point is (x, accuracy, tick label)."""
    order = list(COLORS)
    lines = []
    for kind in sorted({r["kind"] for r in rows}, key=lambda k: order.index(k) if k in order else len(order)):
        mine = [r for r in rows if r["kind"] == kind]
        ks = {r["top_k"] for r in mine}
        ffs = sorted({r["ff_top_k"] for r in mine})
        if len(ks) > 1:  # topk attention against its k, one line per feed-forward setting
            for i, ff in enumerate(ffs):
                pts = sorted((r["top_k"], r["test_acc"], "all" if r["top_k_all"] else str(r["top_k"]))
                             for r in mine if r["ff_top_k"] == ff)
                label = "{} attention, ff {}".format(kind, "top-k {}".format(ff) if ff else "dense")
                lines.append(("attention", label, kind, i, pts))
        elif len(ffs) > 1:  # against the feed-forward's k; dense (0) keeps every hidden unit
            pts = sorted((r["ff_top_k"] or source["ff_hidden"], r["test_acc"],
                          str(r["ff_top_k"]) if r["ff_top_k"] else "all") for r in mine)
            k = next(iter(ks))
            lines.append(("ff", "{} attention{}".format(kind, " k={}".format(k) if k else ""), kind, 0, pts))
        else:
            r = mine[0]
            k = "" if r["top_k"] is None else " k={}".format("all" if r["top_k_all"] else r["top_k"])
            ff = "top-k {}".format(r["ff_top_k"]) if r["ff_top_k"] else "dense"
            lines.append((None, "{} attention{}, ff {}".format(kind, k, ff), kind, 0, [(None, r["test_acc"], "")]))
    return lines


def plot_eval_panel(ax, res, src, lines, axis):
    ticks = {}
    for where, label, kind, variant, pts in lines:
        if where is None:
            # vanilla and chunked compute the same function: the wider line stays visible underneath
            ax.axhline(pts[0][1], color=color(kind), ls="--", lw=style(kind)["lw"],
                       label="{}: {:.3f}".format(label, pts[0][1]))
        elif where == axis:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], color=color(kind), label=label,
                    marker=MARKERS[variant % len(MARKERS)], ls=DASHES[variant % len(DASHES)],
                    lw=style(kind)["lw"])
            ticks.update({p[0]: p[2] for p in pts})
    if is_number(src.get("trained_test_acc")):
        ax.axhline(src["trained_test_acc"], color="#555555", lw=7, alpha=0.2,
                   label="as trained ({}): {:.3f}".format(src["trained_kind"], src["trained_test_acc"]))
    if is_number(res.get("majority_rate")):
        ax.axhline(res["majority_rate"], color="black", ls=":", lw=1,
                   label="majority class {:.3f}".format(res["majority_rate"]))
    if ticks:
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(ticks))
        ax.set_xticklabels([ticks[x] for x in sorted(ticks)])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    xlabel = {"attention": "k: keys per query of topk attention (all = every key, as vanilla)",
              "ff": "k: hidden units kept per token in the feed-forward layers (all = dense)"}[axis]
    ax.set(xlabel=xlabel, ylabel="test accuracy", ylim=(0, 1),
           title="trained with {} (step {}), evaluated without retraining".format(src["trained_kind"], src["step"]))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)


def plot_eval(res, path):
    """One row of panels per trained checkpoint: accuracy against topk attention's k, and against the
    feed-forward's k when some kind was evaluated with several feed-forward top-k values."""
    sources = res["checkpoints"]
    panels = []
    for src in sources:
        rows = [r for r in res["rows"] if r["trained_kind"] == src["trained_kind"] and is_number(r.get("test_acc"))]
        lines = eval_lines(rows, src)
        axes_used = [a for a in ("attention", "ff") if any(line[0] == a for line in lines)] or ["attention"]
        panels.append((src, lines, axes_used))
    cols = max(len(p[2]) for p in panels)
    fig, axes = plt.subplots(len(panels), cols, figsize=(7.5 * cols, 5 * len(panels)), squeeze=False)
    for row, (src, lines, axes_used) in zip(axes, panels):
        for ax, axis in zip(row, axes_used):
            plot_eval_panel(ax, res, src, lines, axis)
        for ax in row[len(axes_used):]:
            ax.set_visible(False)
    fig.suptitle("{} ({} preset), {} test examples".format(res["task"], res["preset"], res["test_examples"]))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="results.json written by lra train / lra compare, or eval.json of lra eval")
    ap.add_argument("--out-dir", help="where to write the PNGs (default: the JSON's folder)")
    ap.add_argument("--prefix", default="", help="prefix of the PNG names")
    args = ap.parse_args(argv)
    with open(args.results) as f:
        res = json.load(f)
    out = args.out_dir or os.path.dirname(os.path.abspath(args.results))
    os.makedirs(out, exist_ok=True)
    written = []

    def target(name):
        p = os.path.join(out, args.prefix + name)
        written.append(p)
        return p

    if res.get("mode") == "eval":
        plot_eval(res, target("eval.png"))
    if res.get("kinds"):
        plot_curves(res, target("curves.png"))
        plot_summary(res, target("summary.png"))
    if res.get("sweep"):
        plot_memory(res, target("memory_vs_length.png"))
        plot_time(res, target("time_vs_length.png"))
    for p in written:
        print("wrote", p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
