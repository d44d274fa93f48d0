"""scripts/plot_memory.py: loading and checking traces, the timeline against an independent replay,
the PNG, the shared y scale and the command line's errors. Synthetic traces only (no memgrad)."""
import copy
import importlib.util
import json
import os
import random
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "plot_memory.py"
_spec = importlib.util.spec_from_file_location("plot_memory", SCRIPT)
pm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pm)

CATS = ["parameter", "gradient", "optimizer_state", "saved", "attention_workspace", "temporary", "user"]
KINDS = ["alloc", "free", "retag"]
MiB = 2**20


def make_ops(rng):
    """Forward ops, their backward in reverse, an optimizer step: (name, phase, module) dicts."""
    mods = [f"encoder.layers.{i}.{m}" for i in range(2) for m in ("attn", "ff.fc1", "ff.fc2")]
    names = [rng.choice(["attention", "linear", "gelu", "softmax"]) for _ in mods]
    ops = [dict(name=n, phase="forward", module=m) for n, m in zip(names, mods)]
    ops += [dict(name=f"backward of {n}", phase="backward", module=m) for n, m in reversed(list(zip(names, mods)))]
    ops.append(dict(name="adam step", phase="optimizer", module=""))
    for i, op in enumerate(ops):
        op["begin"], op["end"] = i * 1e-3, i * 1e-3 + 5e-4
    return ops


def make_trace(seed, n_events=300, devices=("cpu", "cuda:0")):
    """A random but consistent trace and, computed here independently of the script, each device's
    totals after every point (start first), end, peak and peak_event."""
    rng = random.Random(seed)
    ops = make_ops(rng)
    live = {d: {} for d in range(len(devices))}     # device -> block -> [category, bytes]
    start = [[0] * len(CATS) for _ in devices]
    block = 0
    for d in live:                                   # blocks alive before recording began
        for _ in range(rng.randint(1, 4)):
            c, b = rng.randrange(len(CATS)), rng.randint(1, 50_000)
            live[d][block] = [c, b]
            start[d][c] += b
            block += 1
    cols = {k: [] for k in pm.COLUMNS}
    for i in range(n_events):
        d = rng.randrange(len(devices))
        op = -1 if rng.random() < 0.1 else min(i * len(ops) // n_events, len(ops) - 1)
        blocks = live[d]
        kind = 0 if len(blocks) < 2 or rng.random() < 0.45 else rng.choice([1, 1, 2])
        frm = -1
        if kind == 0:
            blk, c, b = block, rng.randrange(len(CATS)), rng.randint(1, 200_000)
            blocks[blk] = [c, b]
            block += 1
        else:
            blk = rng.choice(sorted(blocks))
            c, b = blocks[blk]
            if kind == 1:
                del blocks[blk]
            else:
                frm, c = c, rng.choice([x for x in range(len(CATS)) if x != c])
                blocks[blk][0] = c
        for k, v in zip(pm.COLUMNS, (i * 1e-5, kind, d, b, c, frm, op, blk)):
            cols[k].append(v)
    expected = replay_by_hand(cols, start, len(devices))
    devs = [dict(name=name, start=start[d], end=expected[d]["end"], peak=expected[d]["peak"],
                 peak_event=expected[d]["peak_event"], peak_op="", peak_module="", peak_phase="")
            for d, name in enumerate(devices)]
    trace = dict(format="memgrad.memory_trace", version=1, label=f"seed {seed}", categories=CATS,
                 kinds=KINDS, phases=["forward", "backward", "optimizer", "other"], devices=devs,
                 ops=ops, events=cols)
    return trace, expected


def replay_by_hand(cols, start, n_dev):
    """Per device: live bytes per category event by event, in plain Python."""
    out = []
    for d in range(n_dev):
        cur, totals, events = list(start[d]), [sum(start[d])], [-1]
        for i, dev in enumerate(cols["device"]):
            if dev != d:
                continue
            kind, b, c = cols["kind"][i], cols["bytes"][i], cols["category"][i]
            cur[c] += -b if kind == 1 else b
            if kind == 2:
                cur[cols["from"][i]] -= b
            totals.append(sum(cur))
            events.append(i)
        peak = max(totals)
        out.append(dict(end=cur, totals=totals, events=events, peak=peak,
                        peak_event=events[totals.index(peak)]))
    return out


def write(tmp_path, trace, name="trace.json"):
    path = tmp_path / name
    path.write_text(json.dumps(trace))
    return path


def png_size(path):
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("seed", range(5))
def test_timeline_matches_an_independent_replay(tmp_path, seed):
    trace, expected = make_trace(seed)
    loaded = pm.load(write(tmp_path, trace))
    for d, name in enumerate(["cpu", "cuda:0"]):
        tl = pm.timeline(loaded, device=name)
        exp = expected[d]
        assert tl["live"].shape == (len(CATS), len(exp["totals"]))
        assert tl["live"][:, -1].tolist() == exp["end"]
        assert tl["total"].tolist() == exp["totals"]
        assert tl["x"].tolist() == list(range(len(exp["totals"])))
        assert tl["event"].tolist() == exp["events"]
        assert tl["peak"] == exp["peak"] and tl["peak"] > 0
        assert tl["event"][tl["peak_index"]] == exp["peak_event"]
        assert (tl["live"] >= 0).all()


def test_timeline_phases_follow_the_ops(tmp_path):
    trace, _ = make_trace(7, devices=("cpu",))
    tl = pm.timeline(pm.load(write(tmp_path, trace)))
    ops = trace["events"]["op"]
    want = [trace["ops"][ops[i]]["phase"] if ops[i] >= 0 else "other" for i in tl["event"][1:]]
    assert tl["phase"][1:].tolist() == want
    assert tl["phase"][0] == tl["phase"][1]
    assert {"forward", "backward", "optimizer"} <= set(want)


def known_trace():
    """One device; the peak (4 MiB saved + 8.3 MiB temporary) is in the backward of attention."""
    ops = [dict(name="linear", phase="forward", module="encoder.layers.0.ff.fc1", begin=0.0, end=1.0),
           dict(name="backward of attention", phase="backward", module="encoder.layers.0.attn",
                begin=1.0, end=2.0),
           dict(name="adam step", phase="optimizer", module="", begin=2.0, end=3.0)]
    big = int(8.3 * MiB)
    ev = dict(t=[0.1, 1.1, 1.2, 1.3, 2.1], kind=[0, 0, 1, 1, 0], device=[0] * 5,
              bytes=[4 * MiB, big, big, 4 * MiB, 1000], category=[3, 5, 5, 3, 2], **{"from": [-1] * 5},
              op=[0, 1, 1, 1, 2], block=[1, 2, 2, 1, 3])
    end = [0] * 7
    end[2] = 1000
    dev = dict(name="cpu", start=[0] * 7, end=end, peak=4 * MiB + big, peak_event=1,
               peak_op="backward of attention", peak_module="encoder.layers.0.attn", peak_phase="backward")
    return dict(format="memgrad.memory_trace", version=1, label="vanilla", categories=CATS, kinds=KINDS,
                phases=["forward", "backward", "optimizer", "other"], devices=[dev], ops=ops, events=ev)


def test_peak_label_names_the_op_and_module():
    trace = pm.validate(known_trace())
    tl = pm.timeline(trace)
    assert tl["peak_index"] == 2
    assert pm.peak_label(trace, tl) == "peak 12.3 MiB — backward of attention (encoder.layers.0.attn)"
    assert pm.format_bytes(1000) == "1000 B" and pm.format_bytes(4096) == "4.0 KiB"


def test_plot_timeline_draws_label_phases_and_legend():
    pytest.importorskip("matplotlib")
    ax = pm._mpl().Figure().subplots()
    pm.plot_timeline(ax, known_trace())
    texts = [t.get_text().replace("\n", " ") for t in ax.texts]  # a long label takes two lines
    assert "peak 12.3 MiB — backward of attention (encoder.layers.0.attn)" in texts
    assert {"forward", "backward", "optimizer"} <= set(texts)
    assert ax.get_ylabel() == "live memory (MiB)" and ax.get_title() == "vanilla"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["optimizer state", "saved", "temporary"]  # the categories it uses, in order


def test_a_trace_without_events_shows_its_start(tmp_path):
    pytest.importorskip("matplotlib")
    trace = known_trace()
    trace["events"] = {k: [] for k in pm.COLUMNS}
    held = [5000, 0, 0, 0, 0, 0, 300]
    trace["devices"][0].update(start=held, end=held, peak=5300, peak_event=-1)
    tl = pm.timeline(trace)
    assert tl["x"].tolist() == [0] and tl["total"].tolist() == [5300] and tl["peak_index"] == 0
    assert pm.peak_label(pm.validate(trace), tl) == "peak 5.2 KiB — at the start"
    fig = pm.plot_side_by_side([trace], tmp_path / "empty.png")
    assert fig.axes[0].get_ylabel() == "live memory (KiB)" and png_size(tmp_path / "empty.png") == (600, 400)


def test_phase_bands_bridge_events_outside_ops():
    phase = np.array(["forward", "forward", "other", "forward", "backward", "other", "optimizer", "other"])
    assert pm._phase_runs(phase) == [("forward", 0, 3), ("backward", 3, 4), ("other", 4, 5),
                                     ("optimizer", 5, 6), ("other", 6, 7)]
    assert pm._phase_runs(phase[:1]) == []


def test_png_is_written_with_the_expected_size(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.image
    paths = [write(tmp_path, make_trace(s)[0], f"t{s}.json") for s in range(3)]
    out = tmp_path / "out.png"
    assert pm.main([*map(str, paths), "-o", str(out), "--titles", "vanilla,chunked,topk"]) == 0
    assert png_size(out) == (1800, 400)
    assert matplotlib.image.imread(str(out)).shape[:2] == (400, 1800)  # the whole file decodes
    assert sorted(os.listdir(tmp_path)) == ["out.png", "t0.json", "t1.json", "t2.json"]  # no temp left
    pm.main([str(paths[0]), "-o", str(out)])  # replaces the file: one panel
    assert png_size(out) == (600, 400)


def test_side_by_side_uses_one_y_scale(tmp_path):
    pytest.importorskip("matplotlib")
    small, _ = make_trace(1, devices=("cpu",))
    big, _ = make_trace(2, n_events=600, devices=("cpu",))
    peaks = [pm.timeline(small)["peak"], pm.timeline(big)["peak"]]
    assert peaks[0] != peaks[1]
    fig = pm.plot_side_by_side([small, big], tmp_path / "two.png", titles=["small", "big"])
    unit = pm._axis_unit(max(peaks))[1]
    tops = [ax.get_ylim()[1] for ax in fig.axes]
    assert len(tops) == 2 and tops[0] == tops[1] == pytest.approx(max(peaks) / unit * pm.HEADROOM)
    assert [ax.get_title() for ax in fig.axes] == ["small", "big"]
    assert len(fig.legends) == 1 and all(ax.get_legend() is None for ax in fig.axes)


def corruptions():
    """(name, change to a valid trace, words the error must contain)."""
    def set_(path, value):
        def f(t):
            obj = t
            for k in path[:-1]:
                obj = obj[k]
            obj[path[-1]] = value
        return f
    return [
        ("format", set_(["format"], "chrome"), "format"),
        ("version", set_(["version"], 2), "version 2"),
        ("short column", lambda t: t["events"]["bytes"].pop(), "events.bytes has"),
        ("float column", lambda t: t["events"]["kind"].__setitem__(3, 0.5), "events.kind"),
        ("zero bytes", set_(["events", "bytes", 5], 0), "events.bytes[5]"),
        ("category", set_(["events", "category", 4], 7), "events.category[4]"),
        ("device", set_(["events", "device", 2], 9), "events.device[2]"),
        ("op", set_(["events", "op", 1], 999), "events.op[1]"),
        ("no events", lambda t: t.pop("events"), "'events'"),
        ("start length", set_(["devices", 0, "start"], [0, 0]), "devices[0].start"),
        ("end", lambda t: t["devices"][0]["end"].__setitem__(0, t["devices"][0]["end"][0] + 1), "'end' says"),
        ("peak", lambda t: t["devices"][0].__setitem__("peak", t["devices"][0]["peak"] + 1), "'peak' says"),
    ]


@pytest.mark.parametrize("name,corrupt,words", corruptions(), ids=[c[0] for c in corruptions()])
def test_bad_files_raise_value_error_naming_the_file(tmp_path, capsys, name, corrupt, words):
    trace, _ = make_trace(3, n_events=50)
    corrupt(trace)
    path = write(tmp_path, trace, "bad.json")
    with pytest.raises(ValueError, match="bad.json") as err:
        pm.load(path)
    assert words in str(err.value)
    assert pm.main([str(path), "-o", str(tmp_path / "out.png")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "bad.json" in lines[0] and words in lines[0]
    assert not (tmp_path / "out.png").exists()


def test_negative_live_bytes_are_an_error(tmp_path):
    trace = known_trace()
    trace["events"]["kind"][3] = 0  # the 4 MiB "saved" block now never freed: end no longer matches...
    trace["events"]["kind"][2] = 2  # ...and a retag from a category holding nothing goes negative
    trace["events"]["from"][2] = 0
    with pytest.raises(ValueError, match="live bytes of parameter are negative after event 2"):
        pm.validate(trace, "neg.json")


def test_command_line_errors_exit_2_with_one_line(tmp_path):
    good = write(tmp_path, make_trace(4)[0], "good.json")
    (tmp_path / "broken.json").write_text('{"format": ')
    cases = [([str(tmp_path / "missing.json")], "missing.json"),
             ([str(good), str(tmp_path / "broken.json")], "broken.json: not valid JSON"),
             ([str(good), "--device", "cuda:1"], "no device 'cuda:1'"),
             ([str(good), "-o", str(tmp_path / "no" / "dir.png")], "dir.png: cannot write")]
    for args, words in cases:
        if "-o" not in args:
            args = args + ["-o", str(tmp_path / "out.png")]
        r = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and words in lines[0], (args, r.stderr)
    assert sorted(os.listdir(tmp_path)) == ["broken.json", "good.json"]


def test_loaded_traces_are_not_modified(tmp_path):
    trace, _ = make_trace(5)
    before = copy.deepcopy(trace)
    checked = pm.validate(trace)
    pm.timeline(checked)
    assert trace == before and isinstance(checked["events"]["bytes"], np.ndarray)
