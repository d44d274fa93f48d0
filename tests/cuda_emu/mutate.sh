#!/usr/bin/env bash
# Mutation check: do the emulator tests notice a deliberate bug? Applies one textual change to a
# copy of a backends/cuda file, builds the test program with the copy in place of the original
# (the repository is not touched), runs it and says whether the change was caught.
#
# usage: tests/cuda_emu/mutate.sh PROGRAM FILE OLD NEW [NTH] [-- PROGRAM_ARGS...]
#   PROGRAM  a program of run.sh (elementwise, attention)
#   FILE     a file of backends/cuda that PROGRAM links, e.g. cuda_flash_attention.cu (kernels) or
#            cuda_flash_attention.cpp (host side)
#   OLD NEW  the change: the NTH occurrence (from 0, default 0) of the text OLD becomes NEW
#   PROGRAM_ARGS  passed to the test program (e.g. attention: one 70 129 64 1 1 2)
# Prints KILLED (the tests fail: good) or SURVIVED (they pass: the tests miss this change).
# Exit status: 0 killed, 1 survived, 2 the change does not apply or the mutant does not compile.
#
# example: tests/cuda_emu/mutate.sh attention cuda_flash_attention.cu 'j < s.Nk' 'j <= s.Nk' 0
set -euo pipefail
# shellcheck source=tests/cuda_emu/run.sh disable=SC1091
source "$(dirname "${BASH_SOURCE[0]}")/run.sh"

usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }
(($# >= 4)) || usage
PROG=$1 FILE=$2 OLD=$3 NEW=$4
shift 4
NTH=0
if (($#)) && [[ $1 != -- ]]; then NTH=$1; shift; fi
if (($#)) && [[ $1 == -- ]]; then shift; fi
[[ -n ${PROGRAM_SRC[$PROG]:-} ]] || { echo "mutate.sh: unknown program '$PROG' (known: ${PROGRAMS[*]})" >&2; exit 2; }
UNIT=${FILE%.*} EXT=${FILE##*.}
[[ " ${PROGRAM_UNITS[$PROG]} " == *" $UNIT "* && ($EXT == cu || $EXT == cpp) ]] ||
  { echo "mutate.sh: $PROG links ${PROGRAM_UNITS[$PROG]} (.cu or .cpp), not $FILE" >&2; exit 2; }

build_cpu
build_programs "$PROG"

# the mutant keeps the file's name: launch sites (and so grid caps) read the same
M=$BUILD/mutant
mkdir -p "$M/src" "$M/obj"
python3 - "$REPO/backends/cuda/$FILE" "$M/src/$FILE" "$OLD" "$NEW" "$NTH" <<'PY' || exit 2
import sys
src, dst, old, new, nth = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
s = open(src).read()
idx = -1
for _ in range(nth + 1):
    idx = s.find(old, idx + 1)
    if idx < 0:
        sys.exit(f'mutate.sh: occurrence {nth} of {old!r} not found in {src} ({s.count(old)} found)')
line = s.count('\n', 0, idx) + 1
open(dst, 'w').write(s[:idx] + new + s[idx + len(old):])
print(f'mutant: {src.split("/backends/cuda/")[-1]}:{line}: {old!r} -> {new!r}')
PY

if [[ $EXT == cu ]]; then
  prep "$M/src/$FILE" "$M/src/$UNIT.emu.cpp"
  compile "$M/src/$UNIT.emu.cpp" "$M/obj/$UNIT.emu.o" "$KERNEL_FLAGS" >/dev/null || { echo "NOT COMPILED"; exit 2; }
  REPLACED=$BUILD/obj/$UNIT.emu.o MUTANT=$M/obj/$UNIT.emu.o
else
  # host side: the mutant's own includes (backends/cuda/...) still come from the repository
  compile "$M/src/$FILE" "$M/obj/$UNIT.o" "$(host_flags)" >/dev/null || { echo "NOT COMPILED"; exit 2; }
  REPLACED=$BUILD/obj/$UNIT.o MUTANT=$M/obj/$UNIT.o
fi
OBJS=$(program_objects "$PROG" | tr '\n' ' ')
OBJS=${OBJS/$REPLACED/$MUTANT}
EXE=$M/${PROGRAM_SRC[$PROG]%.cpp}
# shellcheck disable=SC2086,SC2046 # word lists
$CXX $OBJS $(link_libs) -o "$EXE"

status=0
run_program "mutant" "$EXE" "$@" >/dev/null || status=$?
LOG=$BUILD/mutant.log
if ((status == 0)); then
  echo "SURVIVED: the tests pass with the change ($(tail -n 1 "$LOG"))"
  exit 1
fi
why=$(grep -m 1 -e '^FAIL' -e '^emu:' -e 'FAILED' "$LOG" || true)
((status == 124)) && why="timed out after ${EMU_TIMEOUT}s (a hang: barrier or loop)"
echo "KILLED: ${why:-exit $status: $(tail -n 1 "$LOG")}"
