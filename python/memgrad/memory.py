"""Exact memory statistics of memgrad's allocator (bytes of tensor storage).

    with memgrad.memory.PeakMeter() as m:
        loss = model(x).sum(); loss.backward()
    print(m.overhead)   # the most bytes the block had allocated above what was live at its start

Tensors that wrap a numpy array's memory (memgrad.as_tensor, from_numpy) are not counted: numpy
allocated them.

Where the memory of a step goes (docs/memory_trace.md):

    with memgrad.memory.trace("chunked") as t:
        with memgrad.memory.phase("forward"):
            loss = model(x).sum()
        loss.backward()          # phase "backward" by itself
        opt.step()               # phase "optimizer" by itself
    t.peak, t.peak_op            # bytes, and the op that reached them
    t.save_json("step.json")     # for scripts/plot_memory.py
    t.save_chrome_trace("step.trace.json")   # ui.perfetto.dev or chrome://tracing
"""
import contextlib
import json as _json

from . import _C

_m = _C.memory

stats = _m.stats
reset_peak = _m.reset_peak
empty_cache = _m.empty_cache
PeakMeter = _m.PeakMeter


def peak_meter(device="cpu"):
    """A PeakMeter for ``with memgrad.memory.peak_meter() as m: ...``; read m.peak, m.overhead."""
    return PeakMeter(device)


def format_bytes(n):
    """'1.5 MiB' and the like."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


live_by_category = _m.live_by_category
category_of = _m.category_of
set_category = _m.set_category
current_phase = _m.current_phase


@contextlib.contextmanager
def phase(name):
    """Attributes the block to a phase of the step ("forward", "backward", "optimizer", ...)."""
    _m._enter_phase(name)
    try:
        yield
    finally:
        _m._exit_phase()


@contextlib.contextmanager
def category(name):
    """Blocks allocated inside get this category (e.g. "user" for a batch made by ops)."""
    _m._enter_category(name)
    try:
        yield
    finally:
        _m._exit_category()


class trace:
    """Records every allocation, free and change of category of memgrad's allocators inside a
    ``with`` block, attributed to op, module and phase. After the block: ``data`` (the compact
    format as a dict), ``peak`` and ``peak_op`` (per device: ``peak_of(device)``), ``save_json``,
    ``save_chrome_trace``. One trace records at a time."""

    def __init__(self, label=""):
        self.label = label
        self._t = None
        self.data = None

    def __enter__(self):
        self._t = _m._Trace(self.label)
        return self

    def __exit__(self, *exc):
        self._t.stop()
        self.data = _json.loads(self._t.json())
        return False

    def _done(self):
        if self.data is None:
            raise RuntimeError("memory.trace: the trace is still recording (read it after the with block)")
        return self.data

    def _device(self, device):
        for d in self._done()["devices"]:
            if d["name"] == device:
                return d
        raise KeyError(f"memory.trace: no events or live blocks on device '{device}'")

    def peak_of(self, device="cpu"):
        """(peak bytes, op, module, phase) on a device."""
        d = self._device(device)
        return d["peak"], d["peak_op"], d["peak_module"], d["peak_phase"]

    @property
    def peak(self):
        return self._device("cpu")["peak"]

    @property
    def peak_op(self):
        return self._device("cpu")["peak_op"]

    @property
    def events(self):
        return self._done()["events"]

    @property
    def ops(self):
        return self._done()["ops"]

    def save_json(self, path):
        """The compact format (atomically written)."""
        self._done()
        self._t.write_json(str(path))

    def save_chrome_trace(self, path):
        """The Trace Event Format, for ui.perfetto.dev and chrome://tracing (atomically written)."""
        self._done()
        self._t.write_chrome_trace(str(path))
