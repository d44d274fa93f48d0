"""The attention memory example runs end to end (tiny sizes) and writes its plot."""
import json
import os
import subprocess
import sys

import pytest

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "attention_memory.py")


def test_attention_memory_example(tmp_path):
    pytest.importorskip("matplotlib")
    out, js = tmp_path / "plot.png", tmp_path / "m.json"
    r = subprocess.run([sys.executable, EXAMPLE, "--sizes", "256", "512", "--repeats", "1",
                        "--out", str(out), "--json", str(js)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert out.stat().st_size > 10000
    rows = json.loads(js.read_text())["results"]
    assert {(x["n"], x["kind"]) for x in rows} == {(n, k) for n in (256, 512) for k in ("vanilla", "chunked", "topk")}
    by = {(x["n"], x["kind"]): x["peak_bytes"] for x in rows}
    assert by[(512, "vanilla")] > 2 * by[(512, "chunked")]  # vanilla keeps the N x N probabilities
    assert by[(512, "vanilla")] > 3 * by[(256, "vanilla")]  # and grows quadratically
