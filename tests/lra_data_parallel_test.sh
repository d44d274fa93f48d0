#!/usr/bin/env bash
# `lra train --data-parallel` under mpiexec -np 2 (docs/distributed.md): the run finishes, rank 0
# alone logs and writes the results and the checkpoint, the log states the split, and a global
# batch that does not split evenly among the ranks is refused as bad usage (exit 2). The equality
# of data-parallel and single-process training is tested in tests/dist/test_dist.cpp.
# CTest entry lra_data_parallel (examples/CMakeLists.txt), only where MPI was found.
#
#   tests/lra_data_parallel_test.sh build/examples/lra/lra mpiexec -np 2 --oversubscribe ...
set -u
LRA="${1:?usage: lra_data_parallel_test.sh <lra binary> <mpiexec command...>}"
shift
MPI=("$@")
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
export OMP_NUM_THREADS=1 MEMGRAD_DIST_TIMEOUT=120
SMALL=(--n-train 32 --n-val 8 --n-test 8 --threads 1 --steps 4 --eval-every 2 --dim 16 --heads 2 --layers 1 --ff 32
  --max-len 40)
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

out="$(timeout 240 "${MPI[@]}" "$LRA" train "${SMALL[@]}" --batch 8 --data-parallel --out-dir "$TMP/dp" 2>&1)"
rc=$?
echo "$out" | tail -n 12
[ "$rc" -eq 0 ] || fail "the data-parallel run exited $rc"
n=$(grep -c "data parallel over 2 ranks, 4 examples each" <<<"$out")
[ "$n" -eq 1 ] || fail "the split is logged $n times, expected once (rank 0)"
n=$(grep -c "^wrote " <<<"$out")
[ "$n" -eq 1 ] || fail "'wrote' appears $n times, expected once (rank 0)"
ls "$TMP/dp"/*.json >/dev/null 2>&1 || fail "no results JSON in $TMP/dp"
ls "$TMP/dp"/*.safetensors >/dev/null 2>&1 || fail "no checkpoint in $TMP/dp"

# checkpointed layers: checkpoint()'s nested backward must not report a parameter ready twice
# (autograd/engine.h); the run trains and its loss matches one process's on the combined batch
out="$(timeout 240 "${MPI[@]}" "$LRA" train "${SMALL[@]}" --batch 8 --data-parallel --checkpoint-layers \
  --out-dir "$TMP/dp-ckpt" 2>&1)"
rc=$?
[ "$rc" -eq 0 ] || { echo "$out" | tail -n 5; fail "--data-parallel --checkpoint-layers exited $rc"; }
out1="$(timeout 120 "$LRA" train "${SMALL[@]}" --batch 8 --checkpoint-layers --out-dir "$TMP/one-ckpt" 2>&1)" ||
  fail "the single-process checkpointed run exited $?"
l_dp="$(grep -o '"loss":[^,}]*' "$TMP/dp-ckpt/results.json" | tail -1 | cut -d: -f2)"
l_one="$(grep -o '"loss":[^,}]*' "$TMP/one-ckpt/results.json" | tail -1 | cut -d: -f2)"
awk -v a="$l_dp" -v b="$l_one" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= 1e-4 * (b < 0 ? -b : b)) }' ||
  fail "--checkpoint-layers: last loss $l_dp over 2 ranks, $l_one in one process"

out="$(timeout 120 "${MPI[@]}" "$LRA" train "${SMALL[@]}" --batch 7 --data-parallel --out-dir "$TMP/odd" 2>&1)"
rc=$?
[ "$rc" -eq 2 ] || fail "--batch 7 over 2 ranks exited $rc, expected 2"
grep -q -- "--batch 7 does not split evenly among 2 ranks" <<<"$out" || fail "--batch 7: no message naming it"

[ "$failures" -eq 0 ] && echo "lra_data_parallel: all passed" || echo "lra_data_parallel: $failures failed"
[ "$failures" -eq 0 ]
