#!/usr/bin/env bash
# bench_train_step's PyTorch pairing (benchmarks/torch_worker.h) against a stand-in worker that
# needs no torch (fake_torch_step.py, fixed 0.5 s steps): the ratios are the pairs' medians, the
# PyTorch row holds the worker's figures, and a worker that dies mid-run leaves a warning and the
# pairs it answered, never a crash or a hang.
# usage: train_step_pairing_test.sh <bench_train_step> <python3>
set -euo pipefail
BENCH=$1
PY=$2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

"$BENCH" --sizes 16 --kinds chunked --steps 3 --torch-python "$PY" --torch-script "$HERE/fake_torch_step.py" \
  --out "$TMP/ok.json" > "$TMP/ok.log" 2>&1
"$PY" - "$TMP/ok.json" <<'PYEOF'
import json, statistics, sys
d = json.load(open(sys.argv[1]))
m, t = d["results"][0], d["torch"][0]
pairs = m["time_vs_torch_pairs"]
assert len(pairs) == 3 and m["samples"] == 3, (len(pairs), m["samples"])
assert t["torch_version"] == "fake" and t["samples"] == 3 and t["seconds"] == 0.5, t
# every PyTorch step took 0.5 s, so the median of the pairs' ratios is memgrad's median / 0.5
assert abs(m["time_vs_torch"] - m["seconds"] / 0.5) < 1e-12, (m["time_vs_torch"], m["seconds"])
assert abs(m["rss_vs_torch"] - m["rss_increase_bytes"] / (100 << 20)) < 1e-12
assert abs(m["allocator_peak_vs_torch_rss"] - m["allocator_peak_bytes"] / (100 << 20)) < 1e-12
PYEOF

# a worker that dies after one step: one pair, a warning naming the failure, exit 0
FAKE_TORCH_FAIL_AFTER=1 "$BENCH" --sizes 16 --kinds chunked --steps 3 --torch-python "$PY" \
  --torch-script "$HERE/fake_torch_step.py" --out "$TMP/dies.json" > "$TMP/dies.log" 2>&1 || {
  echo "bench_train_step failed with a dying worker:"; cat "$TMP/dies.log"; exit 1; }
grep -q "warning: PyTorch at L=16: the PyTorch process ended without a reply" "$TMP/dies.log" || {
  echo "no warning for the dying worker:"; cat "$TMP/dies.log"; exit 1; }
"$PY" - "$TMP/dies.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
m, t = d["results"][0], d["torch"][0]
assert len(m["time_vs_torch_pairs"]) == 1 and m["samples"] == 3 and t["samples"] == 1, (m, t)
# its first step's memory figure stays valid after it died
assert abs(m["rss_vs_torch"] - m["rss_increase_bytes"] / (100 << 20)) < 1e-12, m
PYEOF

# a worker that cannot start: a warning, memgrad's rows alone
"$BENCH" --sizes 16 --kinds chunked --steps 2 --torch-python "$TMP/no-such-python" --out "$TMP/none.json" \
  > "$TMP/none.log" 2>&1
grep -q "warning: PyTorch at L=16: cannot start" "$TMP/none.log"
"$PY" -c "import json, sys; d = json.load(open(sys.argv[1])); assert d['torch'] == [] and 'time_vs_torch' not in d['results'][0]" "$TMP/none.json"
echo "train_step pairing: ok"
