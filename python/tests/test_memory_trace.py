"""memgrad.memory.trace (core/memory_trace.h): categories, attribution to Python modules and
phases, exactness against the allocator, the files, and errors."""
import importlib.util
import json
import pathlib

import numpy as np
import pytest

import memgrad
from memgrad import nn

ROOT = pathlib.Path(__file__).resolve().parents[2]


def plot_memory():
    spec = importlib.util.spec_from_file_location("plot_memory", ROOT / "scripts" / "plot_memory.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc2(memgrad.nn.functional.gelu(self.fc1(x)))


def step(model, opt, x):
    with memgrad.memory.phase("forward"):
        loss = model(x).sum()
    loss.backward()
    opt.step()
    return loss


def test_one_step_categories_modules_phases_and_exact_peak(tmp_path):
    m = MLP()
    opt = memgrad.optim.AdamW(m.parameters(), lr=1e-2)
    x = memgrad.as_tensor(np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32))
    for p in m.parameters():
        assert memgrad.memory.category_of(p) == "parameter"
    memgrad.memory.reset_peak()
    with memgrad.memory.trace("mlp") as t:
        step(m, opt, x)
    assert t.peak == memgrad.memory.stats()["peak"]
    live = memgrad.memory.live_by_category()
    assert sum(live.values()) == memgrad.memory.stats()["current"]
    assert live["optimizer_state"] == 2 * sum(p.numel() * 4 for p in m.parameters())
    ops = {(o["name"], o["module"], o["phase"]) for o in t.ops}
    assert ("linear", "fc1", "forward") in ops
    assert ("linear", "fc2", "forward") in ops
    assert ("backward of linear", "fc1", "backward") in ops
    assert ("AdamW.step", "", "optimizer") in ops
    cats = t.data["categories"]
    retags = [cats[c] for k, c in zip(t.events["kind"], t.events["category"]) if k == 2]
    assert retags.count("gradient") == 4 and retags.count("optimizer_state") == 8 and "saved" in retags

    # The compact file passes plot_memory's strict replay; the Perfetto file has its events.
    t.save_json(tmp_path / "mlp.json")
    t.save_chrome_trace(tmp_path / "mlp.trace.json")
    trace = plot_memory().load(str(tmp_path / "mlp.json"))
    assert trace["devices"][0]["peak"] == t.peak
    chrome = json.loads((tmp_path / "mlp.trace.json").read_text())
    assert {e["ph"] for e in chrome["traceEvents"]} == {"M", "X", "C", "i"}


def test_tracing_leaves_results_bitwise_equal():
    def run(trace):
        memgrad.manual_seed(3)
        m = MLP()
        opt = memgrad.optim.AdamW(m.parameters(), lr=1e-2)
        x = memgrad.randn(4, 8)
        losses = []
        for _ in range(3):
            opt.zero_grad()
            if trace:
                with memgrad.memory.trace():
                    losses.append(step(m, opt, x).item())
            else:
                losses.append(step(m, opt, x).item())
        return losses, [p.detach().numpy().copy() for p in m.parameters()]

    (l0, p0), (l1, p1) = run(False), run(True)
    assert l0 == l1
    assert all(np.array_equal(a, b) for a, b in zip(p0, p1))


def test_user_tensors_and_category_scope():
    a = memgrad.ones(3, 3)
    assert memgrad.memory.category_of(a) == "user"
    with memgrad.memory.category("attention_workspace"):
        b = memgrad.ones(2) * 2  # made by an op inside the scope
    assert memgrad.memory.category_of(b) == "attention_workspace"
    with pytest.raises(ValueError, match="unknown category 'nope'"):
        with memgrad.memory.category("nope"):
            pass


def test_errors_one_trace_at_a_time_and_no_reading_while_recording():
    with memgrad.memory.trace("outer") as t:
        with pytest.raises(ValueError, match=r"already recording \('outer'\)"):
            with memgrad.memory.trace("inner"):
                pass
        with pytest.raises(RuntimeError, match="still recording"):
            t.events
    assert isinstance(t.events["t"], list)
