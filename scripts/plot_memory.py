#!/usr/bin/env python3
"""Memory timelines of memgrad traces (format "memgrad.memory_trace", version 1) as PNG.

    python3 scripts/plot_memory.py TRACE.json [TRACE2.json ...] -o out.png [--titles a,b,c] [--device cpu]

One panel per trace, side by side on one y scale: live bytes stacked by category over the event
sequence, the phases (forward / backward / optimizer) as shaded bands, the peak marked with its op.
Needs only json, numpy and matplotlib (Debian's python3-matplotlib is enough) and never imports
memgrad. Drawing uses the Agg canvas directly, without pyplot, so loading this file (the notebook
does, with importlib) leaves the caller's matplotlib backend alone. The format:
docs/memory_trace.md.
"""
import argparse
import json
import os
import sys
import tempfile
from types import SimpleNamespace

try:
    import numpy as np
except ImportError:
    raise ImportError("plot_memory.py needs numpy and matplotlib (Debian: apt-get install "
                      "python3-matplotlib, which brings python3-numpy)") from None

FORMAT = "memgrad.memory_trace"
VERSION = 1
COLUMNS = ("t", "kind", "device", "bytes", "category", "from", "op", "block")
# One colour per category, the same in every figure; categories a later format adds take greys.
CATEGORY_COLORS = {
    "parameter": "#4c72b0", "gradient": "#dd8452", "optimizer_state": "#8172b3",
    "saved": "#55a868", "attention_workspace": "#c44e52", "temporary": "#937860",
    "user": "#da8bc3",
}
SPARE_COLORS = ("#8c8c8c", "#b0b0b0", "#606060", "#cfcfcf")
PHASE_COLORS = {"forward": "#e3ecf7", "backward": "#fbe9dc", "optimizer": "#ece6f5"}
HEADROOM = 1.35  # y axis top = this x the highest peak: room for the peak and phase labels


# ---- reading and checking ------------------------------------------------------------------------

def load(path):
    """Reads and checks a trace file; see validate(). Every problem is a ValueError naming the file."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ValueError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        trace = json.loads(raw)
    except (ValueError, RecursionError) as e:  # JSONDecodeError, bad UTF-8, absurd nesting
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    return validate(trace, path)


def validate(trace, source="<trace>"):
    """Checks a parsed trace and returns a copy with the event columns as 1-D numpy arrays (int64,
    t float64) and `source` under "_source". Beyond types, lengths and index ranges it replays each
    device's events: live bytes never go negative and they reach the file's "end", "peak" and
    "peak_event" (a global event index). Raises ValueError "SOURCE: what is wrong"."""
    def fail(what):
        raise ValueError(f"{source}: {what}")
    if not isinstance(trace, dict):
        fail("not a JSON object")
    if trace.get("format") != FORMAT:
        fail(f"format is {trace.get('format')!r}, expected {FORMAT!r}")
    version = trace.get("version")
    if isinstance(version, bool) or version != VERSION:
        fail(f"version {version!r} is not supported (this script reads version {VERSION})")
    out = dict(trace, _source=source)
    for key in ("categories", "kinds", "phases"):
        names = trace.get(key)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            fail(f"'{key}' must be a list of strings")
    missing = {"alloc", "free", "retag"} - set(trace["kinds"])
    if missing:
        fail(f"'kinds' lacks {sorted(missing)}")
    _check_devices(trace.get("devices"), len(trace["categories"]), fail)
    _check_ops(trace.get("ops"), fail)
    out["events"] = _event_columns(trace.get("events"), fail)
    _check_ranges(out, fail)
    for d in range(len(trace["devices"])):
        _check_replay(out, d, fail)
    return out


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _check_devices(devices, n_cat, fail):
    if not isinstance(devices, list) or not devices:
        fail("'devices' must be a non-empty list")
    for i, d in enumerate(devices):
        where = f"devices[{i}]"
        if not isinstance(d, dict) or not isinstance(d.get("name"), str):
            fail(f"{where} must be an object with a string 'name'")
        for key in ("start", "end"):
            v = d.get(key)
            if not isinstance(v, list) or len(v) != n_cat or not all(_is_int(b) and b >= 0 for b in v):
                fail(f"{where}.{key} must list {n_cat} byte counts >= 0, one per category")
        if not _is_int(d.get("peak")) or d["peak"] < 0:
            fail(f"{where}.peak must be an integer >= 0")
        if not _is_int(d.get("peak_event")) or d["peak_event"] < -1:
            fail(f"{where}.peak_event must be an integer >= -1")
        for key in ("peak_op", "peak_module", "peak_phase"):
            if not isinstance(d.get(key), str):
                fail(f"{where}.{key} must be a string")
    names = [d["name"] for d in devices]
    if len(set(names)) != len(names):
        fail(f"device names repeat: {names}")


def _check_ops(ops, fail):
    if not isinstance(ops, list):
        fail("'ops' must be a list")
    for i, op in enumerate(ops):
        if not isinstance(op, dict) or not all(isinstance(op.get(k), str) for k in ("name", "phase", "module")):
            fail(f"ops[{i}] must be an object with string 'name', 'phase' and 'module'")


def _event_columns(events, fail):
    """The event columns as numpy arrays, checked for type and equal length."""
    if not isinstance(events, dict):
        fail("'events' must be an object of columns")
    cols = {}
    for name in COLUMNS:
        col = events.get(name)
        if not isinstance(col, list):
            fail(f"events.{name} is missing or not a list")
        try:
            arr = np.array(col) if col else np.zeros(0, np.int64)
        except (ValueError, TypeError, OverflowError):
            arr = None  # ragged or mixed content
        kinds = "iuf" if name == "t" else "iu"
        if arr is None or arr.ndim != 1 or arr.dtype.kind not in kinds or \
                (name == "t" and not np.isfinite(arr).all()):
            fail(f"events.{name} must be a list of {'finite numbers' if name == 't' else 'integers'}")
        cols[name] = arr.astype(np.float64 if name == "t" else np.int64)
        if len(arr) != len(cols["t"]):
            fail(f"events.{name} has {len(arr)} entries but events.t has {len(cols['t'])}")
    return cols


def _check_ranges(trace, fail):
    ev, kinds = trace["events"], trace["kinds"]
    n_cat, n_dev, n_ops = len(trace["categories"]), len(trace["devices"]), len(trace["ops"])
    known = [kinds.index(k) for k in ("alloc", "free", "retag")]
    retag = ev["kind"] == kinds.index("retag")
    in_cat = lambda a: (a >= 0) & (a < n_cat)  # noqa: E731
    checks = (
        ("kind", np.isin(ev["kind"], known), "the index of alloc, free or retag in 'kinds'"),
        ("device", (ev["device"] >= 0) & (ev["device"] < n_dev), f"an index into 'devices' (0..{n_dev - 1})"),
        ("bytes", ev["bytes"] > 0, "> 0"),
        ("category", in_cat(ev["category"]), f"an index into 'categories' (0..{n_cat - 1})"),
        ("from", np.where(retag, in_cat(ev["from"]), ev["from"] == -1),
         "a category index for a retag, -1 otherwise"),
        ("op", (ev["op"] >= -1) & (ev["op"] < n_ops), f"-1 or an index into 'ops' (0..{n_ops - 1})"),
    )
    for name, ok, what in checks:
        bad = np.flatnonzero(~ok)
        if bad.size:
            fail(f"events.{name}[{bad[0]}] = {ev[name][bad[0]]}: must be {what}")


def _replay(trace, d):
    """Live bytes of device d per category, at the start and after each of its events:
    ([C, n + 1] int64, the n global indices of its events)."""
    ev, kinds = trace["events"], trace["kinds"]
    idx = np.flatnonzero(ev["device"] == d)
    delta = np.zeros((len(idx) + 1, len(trace["categories"])), np.int64)  # [n + 1, C]
    delta[0] = trace["devices"][d]["start"]
    kind, size = ev["kind"][idx], ev["bytes"][idx]
    rows = np.arange(1, len(idx) + 1)
    delta[rows, ev["category"][idx]] += np.where(kind == kinds.index("free"), -size, size)
    r = kind == kinds.index("retag")
    delta[rows[r], ev["from"][idx][r]] -= size[r]  # one entry per row: plain indexing is exact
    return np.cumsum(delta, axis=0).T, idx


def _check_replay(trace, d, fail):
    dev = trace["devices"][d]
    live, idx = _replay(trace, d)
    where = f"device {dev['name']!r}"
    neg = np.argwhere(live < 0)
    if neg.size:
        c, p = neg[0]
        after = "at the start" if p == 0 else f"after event {idx[p - 1]}"
        fail(f"{where}: live bytes of {trace['categories'][c]} are negative {after}")
    if live[:, -1].tolist() != dev["end"]:
        fail(f"{where}: the events end at {live[:, -1].tolist()} bytes per category, 'end' says {dev['end']}")
    total = live.sum(axis=0)
    pe = dev["peak_event"]
    at = 0 if pe == -1 else (int(np.searchsorted(idx, pe)) + 1 if pe in idx else None)
    if total.max() != dev["peak"] or at is None or total[at] != dev["peak"]:
        fail(f"{where}: the events peak at {total.max()} bytes (event {_event_at(idx, total.argmax())}), "
             f"'peak' says {dev['peak']} at event {pe}")


def _event_at(idx, point):
    return -1 if point == 0 else int(idx[point - 1])


# ---- the timeline ----------------------------------------------------------------------------------

def _as_trace(trace):
    """A checked trace from a path, a loaded trace or a parsed-but-unchecked dict."""
    if isinstance(trace, dict):
        return trace if "_source" in trace else validate(trace)
    return load(trace)


def timeline(trace, device="cpu"):
    """The memory timeline of one device. Points: 0 is the start, point i >= 1 is after that
    device's i-th event. Returns numpy arrays over points — "x" (0..n), "event" (global event
    index, -1 for the start), "live" [C, n + 1] bytes per category (the rows to stack, in the order
    of "categories"), "total", "op" (ops index, -1 none), "phase" (the op's phase, "other" outside
    ops; the start takes its first event's) — and "categories", "peak" (bytes), "peak_index" (the
    first point at the peak), "device"."""
    trace = _as_trace(trace)
    names = [d["name"] for d in trace["devices"]]
    if device not in names:
        raise ValueError(f"{trace['_source']}: no device {device!r} (the trace has {', '.join(names)})")
    live, idx = _replay(trace, names.index(device))
    total = live.sum(axis=0)
    op = np.concatenate(([-1], trace["events"]["op"][idx]))
    phase_of_op = np.array([o["phase"] for o in trace["ops"]] + ["other"])  # op -1 -> "other"
    phase = phase_of_op[op]
    if len(phase) > 1:
        phase[0] = phase[1]
    return {"x": np.arange(len(total)), "event": np.concatenate(([-1], idx)), "live": live,
            "total": total, "op": op, "phase": phase, "categories": list(trace["categories"]),
            "peak": int(total.max()), "peak_index": int(total.argmax()), "device": device}


def format_bytes(n):
    """4096 -> "4.0 KiB"; 12.3 * 2**20 -> "12.3 MiB"."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def peak_label(trace, tl):
    """"peak 12.3 MiB — backward of attention (encoder.layers.0.attn)" for timeline tl of trace."""
    i, op = tl["peak_index"], tl["op"][tl["peak_index"]]
    if i == 0:
        where = "at the start"
    elif op < 0:
        where = "outside any op"
    else:
        o = trace["ops"][op]
        where = o["name"] + (f" ({o['module']})" if o["module"] else "")
    return f"peak {format_bytes(tl['peak'])} — {where}"


# ---- drawing ---------------------------------------------------------------------------------------

def _mpl():
    """The parts of matplotlib used here, imported on first use (load and timeline need none)."""
    try:
        from matplotlib import ticker
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch
    except ImportError:
        raise ImportError("plot_memory.py needs matplotlib (Debian: apt-get install python3-matplotlib; "
                          "else pip install matplotlib)") from None
    return SimpleNamespace(Figure=Figure, FigureCanvasAgg=FigureCanvasAgg, Patch=Patch, ticker=ticker)


def category_color(categories, c):
    """The fixed colour of category index c."""
    name = categories[c]
    return CATEGORY_COLORS.get(name, SPARE_COLORS[c % len(SPARE_COLORS)])


def legend_handles(categories, used):
    """Legend patches of the categories whose index is in `used`, in category order."""
    return [_mpl().Patch(color=category_color(categories, c), label=categories[c].replace("_", " "))
            for c in sorted(used)]


def _axis_unit(ymax):
    return ("MiB", 2**20) if ymax >= 2**20 else ("KiB", 2**10)


def _phase_runs(phase):
    """(phase, x0, x1) for each run of equal phases; the event of point i spans x in [i - 1, i].
    A run of "other" (events outside any op) between two runs of one phase joins them, so that a
    tensor made between two forward ops does not split the forward band."""
    p = phase[1:]
    if p.size == 0:
        return []
    cut = np.flatnonzero(p[1:] != p[:-1]) + 1
    runs = [[str(p[s]), int(s), int(e)] for s, e in zip(np.r_[0, cut], np.r_[cut, p.size])]
    merged = []
    for i, run in enumerate(runs):
        if merged and run[0] == "other" and i + 1 < len(runs) and runs[i + 1][0] == merged[-1][0]:
            merged[-1][2] = run[2]
        elif merged and run[0] == merged[-1][0]:
            merged[-1][2] = run[2]
        else:
            merged.append(run)
    return [tuple(r) for r in merged]


def _draw_phases(ax, tl):
    """Shaded bands, boundary lines and (where the band is wide enough) labels for the phases."""
    width = max(len(tl["x"]) - 1, 1)
    top = ax.get_xaxis_transform()  # x in data, y in axes fraction
    for name, x0, x1 in _phase_runs(tl["phase"]):
        if name in PHASE_COLORS:
            ax.axvspan(x0, x1, color=PHASE_COLORS[name], lw=0, zorder=0)
        if x0 > 0:
            ax.axvline(x0, color="#999999", lw=0.6, ls="--", zorder=1)
        if name != "other" and x1 - x0 >= 0.08 * width:
            ax.text((x0 + x1) / 2, 0.97, name, transform=top, ha="center", va="top",
                    fontsize="small", color="#555555")


def _draw_peak(ax, trace, tl, scale):
    i = tl["peak_index"]
    x, y = tl["x"][i], tl["total"][i] / scale
    label = peak_label(trace, tl)
    if len(label) > 40 and " (" in label:  # the module on a second line: narrow panels
        label = label.replace(" (", "\n(", 1)
    ha = "left" if x <= tl["x"][-1] / 2 else "right"  # the text runs towards the wider side
    ax.plot([x], [y], "o", color="black", ms=5, zorder=5, clip_on=False)
    ax.annotate(label, (x, y), xytext=(0, 7), textcoords="offset points",
                ha=ha, va="bottom", fontsize="small", zorder=6)


def plot_timeline(ax, trace, device="cpu", ymax=None, title=None, legend=True):
    """Draws one trace's timeline on the matplotlib Axes ax: live memory stacked by category
    (fixed colours) over the event sequence, phase bands, the peak dotted and labelled with its op.
    trace: a path or a loaded trace. ymax (bytes, at least the trace's peak) sets the y scale, for
    panels that share one; title defaults to the trace's label, else its file name; legend=False
    leaves the legend to the caller. Returns the timeline (see timeline())."""
    mpl = _mpl()
    trace = _as_trace(trace)
    tl = timeline(trace, device)
    top = max(tl["peak"], ymax or 0, 1)
    unit, scale = _axis_unit(top)
    _draw_phases(ax, tl)
    colors = [category_color(tl["categories"], c) for c in range(len(tl["categories"]))]
    x, live = (tl["x"], tl["live"]) if len(tl["x"]) > 1 else ([0, 1], tl["live"].repeat(2, axis=1))
    ax.stackplot(x, live / scale, colors=colors, lw=0, zorder=2)  # no events: the start, held flat
    _draw_peak(ax, trace, tl, scale)
    ax.set_xlim(0, max(tl["x"][-1], 1))
    ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(nbins=6, integer=True))
    ax.xaxis.set_major_formatter(mpl.ticker.EngFormatter(sep=""))  # 200000 -> 200k
    ax.set_ylim(0, top / scale * HEADROOM)
    ax.set_xlabel("event (allocations, frees, retags in order)")
    ax.set_ylabel(f"live memory ({unit})")
    ax.set_title(title if title is not None else default_title(trace))
    if legend:
        used = np.flatnonzero(tl["live"].any(axis=1))
        ax.legend(handles=legend_handles(tl["categories"], used), loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    return tl


def default_title(trace):
    return trace.get("label") or os.path.basename(trace["_source"])


def plot_side_by_side(traces, out_png, titles=None, device="cpu", panel_size=(6.0, 4.0), dpi=100):
    """One PNG with one panel per trace (paths or loaded traces), all on the y scale of the highest
    peak, and one legend below them: the categories any panel uses. The image is
    panel_size[0] * len(traces) by panel_size[1] inches at dpi. Written atomically; returns the
    matplotlib Figure."""
    traces = [_as_trace(t) for t in traces]
    if not traces:
        raise ValueError("plot_side_by_side: no traces")
    if titles is not None and len(titles) != len(traces):
        raise ValueError(f"plot_side_by_side: {len(titles)} titles for {len(traces)} traces")
    mpl = _mpl()
    w, h = panel_size[0] * len(traces), panel_size[1]
    fig = mpl.Figure(figsize=(w, h), dpi=dpi)
    mpl.FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(traces), sharey=True, squeeze=False)[0]
    tls = [timeline(t, device) for t in traces]
    ymax = max(tl["peak"] for tl in tls)
    for i, (ax, trace) in enumerate(zip(axes, traces)):
        plot_timeline(ax, trace, device, ymax=ymax, title=None if titles is None else titles[i], legend=False)
        if i:
            ax.set_ylabel("")
    used = set().union(*(np.flatnonzero(tl["live"].any(axis=1)).tolist() for tl in tls))
    handles = legend_handles(tls[0]["categories"], used)
    ncol = max(1, min(len(handles), int(w // 1.7)))
    rows = -(-len(handles) // ncol) if handles else 0
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=ncol, fontsize="small", frameon=False)
    fig.subplots_adjust(left=0.75 / w, right=1 - 0.25 / w, top=1 - 0.4 / h,
                        bottom=(0.65 + 0.22 * rows) / h, wspace=0.08)
    save_png(fig, out_png)
    return fig


def save_png(fig, out_png):
    """Writes fig as PNG to a temporary file beside out_png, then renames it over out_png: a reader
    never sees half a file. OSError "OUT: cannot write (...)" on failure."""
    out_png = os.fspath(out_png)
    folder = os.path.dirname(os.path.abspath(out_png))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".plot_memory.", suffix=".png")
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format="png")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual mode of a new file
        os.replace(tmp, out_png)
    except OSError as e:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise OSError(f"{out_png}: cannot write ({e.strerror or e})") from None


# ---- command line ----------------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(
        prog="plot_memory.py",
        description="Draw memgrad memory traces (JSON from memory::Trace::write_json or "
                    "memgrad.memory.trace().save_json) side by side, on one y scale, as a PNG.")
    p.add_argument("traces", nargs="+", metavar="TRACE.json")
    p.add_argument("-o", "--output", required=True, metavar="OUT.png")
    p.add_argument("--titles", help="comma-separated panel titles, one per trace (default: the labels)")
    p.add_argument("--device", default="cpu", help="device to draw (default: cpu)")
    args = p.parse_args(argv)
    titles = None if args.titles is None else args.titles.split(",")
    if titles is not None and len(titles) != len(args.traces):
        p.error(f"--titles gives {len(titles)} titles for {len(args.traces)} traces")
    try:
        traces = [load(path) for path in args.traces]
        plot_side_by_side(traces, args.output, titles=titles, device=args.device)
    except (ValueError, OSError) as e:
        print(f"plot_memory.py: error: {e}", file=sys.stderr)
        return 2
    except ImportError as e:
        print(f"plot_memory.py: error: {e}", file=sys.stderr)
        return 1
    print(f"plot_memory.py: wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
