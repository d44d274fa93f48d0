#!/usr/bin/env bash
# `lra train --context-parallel` under mpiexec -np 2 (docs/distributed.md): each sequence split
# across the two ranks (ring attention, global positions, pooling summed across the ranks) must
# train exactly as one process does: the same seed and batches give the same loss at every step,
# to float32 rounding (1e-5 relative), for mean pooling with a learned position table and for
# CLS pooling with sinusoidal positions and grouped-query heads. Rank 0 alone logs and writes the
# files. The options ring attention cannot take are usage errors (exit 2) naming them.
# CTest entry lra_context_parallel (examples/CMakeLists.txt), only where MPI was found.
#
#   tests/lra_context_parallel_test.sh build/examples/lra/lra mpiexec -np 2 --oversubscribe ...
set -u
LRA="${1:?usage: lra_context_parallel_test.sh <lra binary> <mpiexec command...>}"
shift
MPI=("$@")
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
export OMP_NUM_THREADS=1 MEMGRAD_DIST_TIMEOUT=120
# image: 256 pixels, one length for every example; 8 steps of batch 4, 2 layers
SMALL=(--task image --n-train 32 --n-val 8 --n-test 8 --threads 1 --steps 8 --eval-every 4 --dim 16 --heads 2
  --layers 2 --ff 32 --batch 4)
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# The loss of every step from a results.json (the curve has a point per step at 8 steps).
losses() { grep -o '"loss":[^,}]*' "$1/results.json" | cut -d: -f2; }

# Trains one process and two context-parallel ranks with the same options and compares the curves.
compare_runs() {
  local name="$1"
  shift
  local out rc
  out="$(timeout 120 "$LRA" train "${SMALL[@]}" "$@" --out-dir "$TMP/$name-1" 2>&1)" || fail "$name: the single-process run exited $?"
  out="$(timeout 240 "${MPI[@]}" "$LRA" train "${SMALL[@]}" "$@" --context-parallel --out-dir "$TMP/$name-cp" 2>&1)"
  rc=$?
  echo "$out" | tail -n 4
  [ "$rc" -eq 0 ] || { fail "$name: the context-parallel run exited $rc"; return; }
  n=$(grep -c "context parallel over 2 ranks" <<<"$out")
  [ "$n" -eq 1 ] || fail "$name: the split is logged $n times, expected once (rank 0)"
  n=$(grep -c "^wrote " <<<"$out")
  [ "$n" -eq 1 ] || fail "$name: 'wrote' appears $n times, expected once (rank 0)"
  ls "$TMP/$name-cp"/*.safetensors >/dev/null 2>&1 || fail "$name: no checkpoint in $TMP/$name-cp"
  local report
  report="$(paste <(losses "$TMP/$name-1") <(losses "$TMP/$name-cp") | awk '
    { n++; d = $1 - $2; if (d < 0) d = -d; r = d / ($1 < 0 ? -$1 : $1); if (r > worst) worst = r }
    END { printf "%d %.3g\n", n, worst }')"
  echo "$name: steps compared, largest relative loss difference: $report"
  [ "${report%% *}" -eq 8 ] || fail "$name: $report: expected 8 steps in both curves"
  awk -v w="${report#* }" 'BEGIN { exit !(w <= 1e-5) }' || fail "$name: the losses differ by ${report#* } relative (> 1e-5)"
}

compare_runs mean-learned --pooling mean --position learned
compare_runs cls-sinusoidal-gqa --pooling cls --position sinusoidal --kv-heads 1
compare_runs mean-checkpointed --pooling mean --position learned --checkpoint-layers  # ring attention recomputed

# Usage errors (exit 2), decided before any data or rank exchange, so one process shows them.
usage_error() {
  local want="$1"
  shift
  local out rc
  out="$(timeout 60 "$LRA" "$@" --out-dir "$TMP/usage" 2>&1)"
  rc=$?
  [ "$rc" -eq 2 ] || fail "$* exited $rc, expected 2"
  grep -qF -- "$want" <<<"$out" || fail "$*: no message '$want' in: $out"
}
usage_error "needs --attention chunked" train "${SMALL[@]}" --context-parallel --attention vanilla
usage_error "needs --attention chunked" train "${SMALL[@]}" --context-parallel --attention topk
usage_error "does not take --window" train "${SMALL[@]}" --context-parallel --window 8
usage_error "does not take --attn-dropout" train "${SMALL[@]}" --context-parallel --attn-dropout 0.1
usage_error "does not take --position alibi" train "${SMALL[@]}" --context-parallel --position alibi
usage_error "does not take --position relative" train "${SMALL[@]}" --context-parallel --position relative
usage_error "does not take --pack" train "${SMALL[@]}" --context-parallel --pack
usage_error "cannot be combined yet" train "${SMALL[@]}" --context-parallel --data-parallel
usage_error "needs sequences of one length" train --task listops --context-parallel
usage_error "needs sequences of one length" train --task text --context-parallel
usage_error "not compare" compare --task image --context-parallel --kinds chunked

[ "$failures" -eq 0 ] && echo "lra_context_parallel: all passed" || echo "lra_context_parallel: $failures failed"
[ "$failures" -eq 0 ]
