"""Exact memory statistics of memgrad's allocator (bytes of tensor storage).

    with memgrad.memory.PeakMeter() as m:
        loss = model(x).sum(); loss.backward()
    print(m.overhead)   # the most bytes the block had allocated above what was live at its start

Tensors that wrap a numpy array's memory (memgrad.as_tensor, from_numpy) are not counted: numpy
allocated them.
"""
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
