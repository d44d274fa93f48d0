#!/usr/bin/env bash
# The lra program's exit statuses (docs/lra.md): runs the built binary on command lines that must
# succeed (0), fail while running (1), be rejected as bad usage (2) or be refused for memory (3),
# and checks each message names the option. The option rules themselves are tested without the
# program in tests/test_lra_options.cpp. CTest entry lra_cli (examples/CMakeLists.txt).
#
#   tests/lra_cli_test.sh build/examples/lra/lra
set -u
LRA="${1:?usage: lra_cli_test.sh <path of the lra binary>}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
failures=0
# Small generated data, one thread: each run below takes well under a second.
SMALL=(--n-train 8 --n-val 4 --n-test 4 --threads 1)

# expect STATUS TEXT ARGS...: lra ARGS exits with STATUS and its output contains TEXT.
expect() {
  local want="$1" text="$2"
  shift 2
  local out rc
  out="$("$LRA" "$@" 2>&1)"
  rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL: lra $* exited $rc, expected $want; output:"
    echo "$out" | tail -n 5
    failures=$((failures + 1))
  elif [[ "$out" != *"$text"* ]]; then
    echo "FAIL: lra $* (exit $rc): '$text' not in the output:"
    echo "$out" | tail -n 5
    failures=$((failures + 1))
  else
    echo "ok: exit $rc: lra $*"
  fi
}

# 0: done, and the help lists the exit statuses
expect 0 "Exit status: 0 done" --help
expect 0 "predicted peak memory" estimate "${SMALL[@]}"
expect 0 "--steps" train --help

# 2: the command line is wrong (CLI11's own errors included: they exit 2, not 104-114)
expect 2 "not expected" estimate --bogus
expect 2 "" # no subcommand
expect 2 "--steps: 99999999999999999999 is out of range" estimate --steps 99999999999999999999
expect 2 "--batch: 4611686018427387904 is out of range" estimate --batch 4611686018427387904
expect 2 "--heads: 0 is out of range" train --heads 0
expect 2 "--sweep-lengths: 'abc' is not a positive integer" compare --sweep-lengths abc
expect 2 "--sweep-lengths: 0 is out of range" compare --sweep-lengths 0
expect 2 "--threads: 100000 is out of range" train --threads 100000
expect 2 "--eval-every: -1 is out of range" estimate --eval-every -1
expect 2 "--lr: 'nan' is not a finite number" estimate --lr nan
expect 2 "--out-dir: the path is empty" train --out-dir ""
expect 2 "--dim 64 is not divisible by --heads 3" estimate --heads 3
expect 2 "--position: 'rotary' is not learned, sinusoidal, alibi or relative" estimate --position rotary
expect 2 "--heads 4 is not divisible by --kv-heads 3" estimate --kv-heads 3
expect 2 "--kv-heads: -1 is out of range" estimate --kv-heads -1
expect 2 "--window: 'x' is not" estimate --window 8,x
expect 2 "--window: '1,2,3' has 3 numbers" estimate --window 1,2,3
expect 2 "--attn-dropout: 1 is out of range" estimate --attn-dropout 1
expect 2 "--pack and --fixed-padding contradict each other" estimate --pack --fixed-padding
expect 0 "sequences packed into" estimate "${SMALL[@]}" --kinds chunked --pack --position alibi --kv-heads 2 --window 16 --attn-dropout 0.1
expect 2 "overflow" estimate --kinds vanilla --batch 1048576 --max-len 16777216 --dim 1048576 --heads 1

# 1: an error while running (here: a data folder without the files)
expect 1 "basic_train.tsv" estimate "${SMALL[@]}" --data-dir "$TMP"
# 3: refused for memory (the data, and one training step, far beyond any machine)
expect 3 "refusing to start" estimate --n-train 1000000000 --max-len 16777216
expect 3 "refusing to start" estimate "${SMALL[@]}" --kinds vanilla --batch 1048576 --dim 65536 --heads 1

# eval: a tiny trained run evaluated with other kinds (0), bad lists and refused options (2),
# checkpoints that are missing or not lra's (1)
RUN="$TMP/run"
expect 0 "wrote" train "${SMALL[@]}" --attention vanilla --steps 2 --batch 4 --dim 16 --heads 2 --layers 1 --ff 32 \
  --max-len 40 --out-dir "$RUN"
expect 0 "eval.json" eval --from "$RUN" --top-k 1,all --threads 1
# the lists as separate words too (the issue's form): the 2 and the 3 both make rows
expect 0 "topk              3" eval --from "$RUN" --kinds topk --top-k 2 3 all --ff-top-k 0 --threads 1
expect 0 "topk              2" eval --from "$RUN" --kinds topk --top-k 2 3 all --ff-top-k 0 --threads 1
# --trace-memory: each kind's traced step as compact and Perfetto files, and the figure; with an
# interpreter that cannot draw, the files stay and the message gives the command (still exit 0)
TRACED="$TMP/traced"
expect 0 "memory trace of one chunked step" compare "${SMALL[@]}" --kinds vanilla,chunked --steps 2 --batch 4 \
  --dim 16 --heads 2 --layers 1 --ff 32 --max-len 40 --no-sweep --trace-memory --out-dir "$TRACED"
for f in memory_trace_vanilla.json memory_trace_chunked.json memory_trace_chunked.trace.json; do
  [ -s "$TRACED/$f" ] || { echo "FAIL: --trace-memory did not write $f"; failures=$((failures + 1)); }
done
MEMGRAD_PYTHON=/nonexistent/python expect 0 "could not draw" train "${SMALL[@]}" --steps 1 --batch 4 --dim 16 \
  --heads 2 --layers 1 --ff 32 --max-len 40 --trace-memory --out-dir "$TMP/traced1"
[ -s "$TMP/traced1/memory_trace_chunked.json" ] || { echo "FAIL: a one-step run's trace is missing"; failures=$((failures + 1)); }
# a packed run with every attention option: lra eval rebuilds the model from the checkpoint alone
PACKED="$TMP/packed"
expect 0 "sequences packed into" train "${SMALL[@]}" --attention vanilla --steps 2 --batch 4 --dim 16 --heads 2 \
  --layers 1 --ff 32 --max-len 40 --pack --position relative --kv-heads 1 --window 6,2 --attn-dropout 0.1 \
  --out-dir "$PACKED"
expect 0 "eval.json" eval --from "$PACKED" --kinds vanilla --threads 1
expect 0 "--from" eval --help
expect 2 "--from is required" eval --top-k 1
expect 2 "--top-k: '0' is not an integer" eval --from "$RUN" --top-k 0
expect 2 "--top-k: 'x' is not an integer" eval --from "$RUN" --top-k 1,x
expect 2 "--ff-top-k: '-1' is not an integer" eval --from "$RUN" --ff-top-k -1
expect 2 "--dim cannot be given to lra eval" eval --from "$RUN" --dim 32
expect 2 "--task cannot be given to lra eval" eval --from "$RUN" --task text
expect 2 "--position cannot be given to lra eval" eval --from "$RUN" --position alibi
expect 2 "--pack cannot be given to lra eval" eval --from "$RUN" --pack
expect 2 "--kv-heads cannot be given to lra eval" eval --from "$RUN" --kv-heads 1
expect 1 "does not exist" eval --from "$TMP/nothing"
expect 1 "has no checkpoint for topk" eval --from "$RUN" --trained topk
expect 1 "cannot be read as a checkpoint" eval --from "$RUN/results.json"

if [ "$failures" -ne 0 ]; then
  echo "lra_cli_test: $failures failure(s)"
  exit 1
fi
echo "lra_cli_test: all passed"
