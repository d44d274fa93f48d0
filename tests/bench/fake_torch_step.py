"""A stand-in for benchmarks/train_step_torch.py --serve that needs no torch: it answers the same
protocol (benchmarks/torch_worker.h) with fixed figures, so that tests/bench/train_step_pairing_test.sh
can check how bench_train_step pairs and reports the steps. FAKE_TORCH_FAIL_AFTER=N in the
environment: exit without a reply after N steps (a worker that dies)."""

import argparse
import json
import os
import sys

p = argparse.ArgumentParser()
p.add_argument("--serve", action="store_true")
p.parse_known_args()  # --serve and the model's options are accepted and ignored
print("a line that is not JSON, as a library's warning would be", flush=True)
print(json.dumps({"torch_version": "fake", "threads": 2, "rss_increase_bytes": 100 << 20, "loss": 2.3}), flush=True)
steps = 0
for line in sys.stdin:
    if line.strip() != "step":
        continue
    if steps == int(os.environ.get("FAKE_TORCH_FAIL_AFTER", "-1")):
        sys.exit(3)
    steps += 1
    print(json.dumps({"seconds": 0.5, "cpu_seconds": 1.0, "loss": 2.3}), flush=True)
