#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang, ASan+UBSan, CPU only) in build-fuzz/ and runs each
# for a while on a scratch copy of its seed corpus (docs/fuzzing.md).
#
#   scripts/fuzz.sh                     every target, 30 s each
#   scripts/fuzz.sh 600                 every target, 10 minutes each
#   scripts/fuzz.sh 60 safetensors      the named targets only (fuzz_<name> or <name>)
#
# Runs as many targets at once as there are cores (MEMGRAD_FUZZ_JOBS overrides), each with one
# OpenMP thread. Installs clang, libclang-rt-14-dev (libFuzzer and the sanitizer runtimes) and
# libomp-dev with apt-get when missing.
# A crash, leak, UB report, timeout (> 30 s for one input) or out-of-memory (> 2 GiB) is a finding:
# the input is kept as build-fuzz/findings/<target>/<kind>-<hash> and the run's log beside it.
# Prints a table (target, runs, seconds, result); the last line is `fuzz: N passed, M failed`
# (one entry per target; a failed build counts as one failure); exits non-zero on any finding.
# MEMGRAD_FUZZ_BUILD_DIR overrides build-fuzz. MEMGRAD_FUZZ_OPT sets the optimisation flag (default
# -O1; scripts/test.sh's 5-second runs use -O0, which builds a third faster: there the build, not
# the fuzzing, is most of the time).
set -uo pipefail

secs=30
targets=()
for arg in "$@"; do
  case "$arg" in
    -h | --help)
      sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *[!0-9]*) targets+=("${arg#fuzz_}") ;;
    *) secs="$arg" ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD="${MEMGRAD_FUZZ_BUILD_DIR:-build-fuzz}"
JOBS="${MEMGRAD_FUZZ_JOBS:-$(nproc)}"
t_start=$SECONDS

give_up() {
  echo "fuzz.sh: $1" >&2
  echo "fuzz: 0 passed, 1 failed"
  exit 1
}

# ---- dependencies ----
bash scripts/install_deps.sh || give_up "installing the build dependencies FAILED"
missing=()
for p in clang libclang-rt-14-dev libomp-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "fuzz.sh: installing ${missing[*]}"
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || give_up "not root and no sudo; install these by hand: ${missing[*]}"
    SUDO=(sudo)
  fi
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" ||
    give_up "apt-get install ${missing[*]} FAILED"
fi

# ---- build ----
# shellcheck source=env.sh
source scripts/env.sh
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
t0=$SECONDS
mkdir -p "$BUILD"
cmake -S . -B "$BUILD" -DMEMGRAD_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE="${MEMGRAD_FUZZ_OPT:--O1}" "${launcher[@]}" >"$BUILD/configure.log" 2>&1 ||
  { cat "$BUILD/configure.log"; give_up "configure of $BUILD FAILED"; }
cmake --build "$BUILD" -j"$(nproc)" --target memgrad_fuzz || give_up "build of $BUILD FAILED"
echo "fuzz.sh: $BUILD configured and built in $((SECONDS - t0)) s"

if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.cpp; do
    n="$(basename "$f" .cpp)"
    targets+=("${n#fuzz_}")
  done
fi
for t in "${targets[@]}"; do
  [ -x "$BUILD/fuzz/fuzz_$t" ] || give_up "no fuzz target '$t' (fuzz/fuzz_$t.cpp)"
done

# ---- runs ----
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
RUNS="$BUILD/fuzz-runs"
FINDINGS="$BUILD/findings"
rm -rf "$RUNS"
mkdir -p "$RUNS" "$FINDINGS"

# Runs fuzz_$1 for $secs seconds in $RUNS/$1 (corpus copy, scratch TMPDIR, log); 0 when clean.
run_target() {
  local t="$1" dir="$RUNS/$1" dict=() t0=$SECONDS tmp
  mkdir -p "$dir/corpus" "$FINDINGS/$t"
  [ -d "fuzz/corpus/$t" ] && cp -r "fuzz/corpus/$t/." "$dir/corpus/"
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  # the files a target writes per input: in memory (/dev/shm) where there is one
  tmp="$(mktemp -d /dev/shm/memgrad-fuzz.XXXXXX 2>/dev/null)" || { mkdir -p "$dir/tmp" && tmp="$(cd "$dir/tmp" && pwd)"; }
  TMPDIR="$tmp" OMP_NUM_THREADS=1 nice "$BUILD/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=30 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$FINDINGS/$t/" "${dict[@]}" "$dir/corpus" >"$dir/log" 2>&1
  local rc=$?
  rm -rf "$tmp"
  echo "$rc" >"$dir/rc"
  echo "$((SECONDS - t0))" >"$dir/seconds"
  [ "$rc" -eq 0 ] || cp "$dir/log" "$FINDINGS/$t/log"
  return "$rc"
}

echo "fuzz.sh: ${#targets[@]} target(s), ${secs} s each, ${JOBS} at a time; logs in $RUNS/<target>/log"
running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$JOBS" ]; then
    wait -n
    running=$((running - 1))
  fi
  run_target "$t" &
  running=$((running + 1))
done
wait

passed=0
failed=0
printf '\n%-28s %12s %8s  %s\n' target runs seconds result
for t in "${targets[@]}"; do
  dir="$RUNS/$t"
  rc="$(cat "$dir/rc" 2>/dev/null || echo '?')"
  runs="$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$dir/log" | grep -oE '[0-9]+$' | tail -n 1)"
  took="$(cat "$dir/seconds" 2>/dev/null)"
  if [ "$rc" = 0 ]; then
    result="ok"
    passed=$((passed + 1))
  else
    artifact="$(grep -oE 'Test unit written to [^ ]+' "$dir/log" | tail -n 1 | sed 's/Test unit written to //')"
    result="FINDING (exit $rc) ${artifact:-see $FINDINGS/$t/log}"
    failed=$((failed + 1))
  fi
  printf '%-28s %12s %8s  %s\n' "fuzz_$t" "${runs:-?}" "${took:-?}" "$result"
done
echo
echo "fuzz.sh: total time $((SECONDS - t_start)) s"
echo "fuzz: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
