"""memgrad.memory: exact byte counts, reset_peak and the peak meter context manager."""
import numpy as np

import memgrad as mg


def test_stats_count_tensor_bytes_exactly():
    before = mg.memory.stats()
    assert set(before) == {"current", "peak", "allocations", "total_allocations", "reserved"}
    t = mg.zeros(1000)  # 4000 bytes
    after = mg.memory.stats("cpu")
    assert after["current"] - before["current"] == 4000
    assert after["allocations"] - before["allocations"] == 1
    del t
    assert mg.memory.stats()["current"] == before["current"]


def test_numpy_memory_is_not_counted():
    before = mg.memory.stats()["current"]
    t = mg.as_tensor(np.zeros(10000, np.float32))
    assert mg.memory.stats()["current"] == before
    del t


def test_peak_meter_reports_the_peak_inside_a_block():
    with mg.memory.PeakMeter() as m:
        a = mg.zeros(1000)           # 4000 bytes live
        b = mg.zeros(2000)           # 12000 live: the peak
        del a, b
        c = mg.zeros(500)            # 2000 live
        inside = m.overhead
    assert inside == 12000 and m.overhead == 12000 and m.peak - m.baseline == 12000
    del c
    with mg.memory.peak_meter() as outer:
        mg.zeros(100)
        with mg.memory.PeakMeter() as inner:
            x = mg.zeros(300)
            del x
        assert inner.overhead == 1200
    assert outer.overhead == 1200  # the outer meter saw the inner block's peak
    assert "PeakMeter(" in repr(outer)


def test_reset_peak_and_empty_cache():
    x = mg.zeros(10000)
    del x
    mg.memory.reset_peak()
    s = mg.memory.stats()
    assert s["peak"] == s["current"]
    mg.memory.empty_cache()
    assert mg.memory.stats()["reserved"] <= s["reserved"]
    assert mg.memory.format_bytes(1536) == "1.5 KiB"
