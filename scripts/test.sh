#!/usr/bin/env bash
# The test command: installs dependencies, builds (Release, with the CUDA backend when the toolkit
# is found) into build/ and runs the test suite, then does the same under AddressSanitizer +
# UndefinedBehaviorSanitizer in build-asan/ (CPU-only), then the Python bindings' pytest suite, then
# runs each libFuzzer target of fuzz/ for 5 s (scripts/fuzz.sh, clang, build-fuzz/).
# Without a GPU the CUDA test cases print why they skip.
#
#   scripts/test.sh          both builds
#   scripts/test.sh --fast   the Release build only (no sanitizer build, no fuzzing)
#
# Exits non-zero on any failure. The last line is always `memgrad: N passed, M failed`, counting
# the CTest entries of both builds, pytest's tests and the fuzz targets (a configure or build step
# that fails counts as one failure). MEMGRAD_BUILD_DIR and MEMGRAD_ASAN_BUILD_DIR override the two
# build folders; MEMGRAD_SKIP_PYTHON=1 and MEMGRAD_SKIP_FUZZ=1 skip those steps.
set -uo pipefail

fast=0
for arg in "$@"; do
  case "$arg" in
    --fast) fast=1 ;;
    -h | --help)
      sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "test.sh: unknown option '$arg' (try --help)" >&2
      exit 2
      ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD="${MEMGRAD_BUILD_DIR:-build}"
ASAN_BUILD="${MEMGRAD_ASAN_BUILD_DIR:-build-asan}"
JOBS="$(nproc)"

passed=0
failed=0
status=0
t_start=$SECONDS

summary() {
  echo "test.sh: total time $((SECONDS - t_start)) s"
  echo "memgrad: ${passed} passed, ${failed} failed"
}

# Runs ctest in $1 and adds its entries to the counts.
run_ctest() {
  local dir="$1" log
  log="$(mktemp)"
  (cd "$dir" && ctest --output-on-failure) 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  # CTest's summary: "95% tests passed, 1 tests failed out of 20"
  local line total nfail
  line="$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)"
  if [ -n "$line" ]; then
    total="$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")"
    nfail="$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")"
    passed=$((passed + total - nfail))
    failed=$((failed + nfail))
  elif [ "$rc" -ne 0 ]; then
    echo "test.sh: ctest in $dir failed without a summary" >&2
    failed=$((failed + 1))
  else
    echo "test.sh: no tests found in $dir" >&2
  fi
  rm -f "$log"
  [ "$rc" -eq 0 ] || status=1
}

# Configures and builds $1 with the remaining arguments as cache settings; 0 on success.
configure_and_build() {
  local dir="$1"
  shift
  local t0=$SECONDS
  if ! cmake -S . -B "$dir" "$@"; then
    echo "test.sh: configure of $dir FAILED" >&2
    return 1
  fi
  if ! cmake --build "$dir" -j"$JOBS"; then
    echo "test.sh: build of $dir FAILED" >&2
    return 1
  fi
  echo "test.sh: $dir configured and built in $((SECONDS - t0)) s"
}

if ! bash scripts/install_deps.sh; then
  echo "test.sh: installing dependencies FAILED" >&2
  failed=$((failed + 1))
  summary
  exit 1
fi
# shellcheck source=env.sh
source scripts/env.sh
echo "test.sh: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-<unset>}, ${JOBS} jobs"

# ---- Release ----
echo "==== Release build in $BUILD ===="
if configure_and_build "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMEMGRAD_SANITIZE=OFF -DMEMGRAD_TESTS=ON \
  -DMEMGRAD_EXAMPLES=ON; then
  t0=$SECONDS
  run_ctest "$BUILD"
  echo "test.sh: Release tests ran in $((SECONDS - t0)) s"
else
  failed=$((failed + 1))
  status=1
fi

# ---- sanitizers ----
if [ "$fast" -eq 0 ]; then
  echo "==== ASan+UBSan build in $ASAN_BUILD ===="
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  # -O1 without debug info: compiles faster than RelWithDebInfo; ASan reports still name functions.
  # CPU-only (MEMGRAD_CUDA=OFF): the sanitizers instrument host code only, the Release build above
  # already compiles and links the CUDA backend, and this way CI also builds the CPU-only configuration.
  # Without MPI too (MEMGRAD_MPI=OFF): memgrad::dist as a world of one, the build a machine without
  # Open MPI gets (the Release build runs the mpiexec tests; Open MPI's own allocations would only
  # add leak reports that are not memgrad's).
  if configure_and_build "$ASAN_BUILD" -DMEMGRAD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O1 \
    -DMEMGRAD_EXAMPLES=OFF -DMEMGRAD_TESTS=ON -DMEMGRAD_CUDA=OFF -DMEMGRAD_MPI=OFF; then
    t0=$SECONDS
    run_ctest "$ASAN_BUILD"
    echo "test.sh: sanitizer tests ran in $((SECONDS - t0)) s"
  else
    failed=$((failed + 1))
    status=1
  fi
else
  echo "test.sh: --fast: sanitizer build skipped"
fi

# ---- Python bindings (python/) ----
# Builds the extension in the Release build folder (-DMEMGRAD_PYTHON=ON: the libraries built above
# are reused, only python/src compiles) with the Python of a virtual environment in $PY_VENV
# (build/venv, created on first use, holding numpy, pytest, safetensors, matplotlib, pybind11 and
# scikit-build-core), then runs `python -m pytest python/tests -q` with PYTHONPATH=$BUILD/python.
# pytest's own counts go into the totals (each Python test is one entry; failed and errors count as
# failed; a run that ends without pytest's summary line counts as one failure).
# `pip install .` builds the same extension through scikit-build-core (docs/python.md).
# MEMGRAD_SKIP_PYTHON=1 skips this step.
PY_VENV="${MEMGRAD_PY_VENV:-build/venv}"
run_python_tests() {
  local vpy="$PY_VENV/bin/python" log rc line n
  if [ ! -x "$vpy" ] && ! python3 -m venv "$PY_VENV"; then
    echo "test.sh: creating the virtual environment $PY_VENV FAILED" >&2
    return 1
  fi
  vpy="$(cd "$PY_VENV" && pwd)/bin/python"
  if ! "$vpy" -m pip install --quiet --disable-pip-version-check numpy pytest safetensors matplotlib \
    "pybind11>=2.10" "scikit-build-core>=0.8" nbclient nbformat ipykernel; then
    echo "test.sh: installing the Python test requirements FAILED" >&2
    return 1
  fi
  if ! configure_and_build "$BUILD" -DMEMGRAD_PYTHON=ON -DPython_EXECUTABLE="$vpy"; then
    return 1
  fi
  log="$(mktemp)"
  PYTHONPATH="$(cd "$BUILD" && pwd)/python" "$vpy" -m pytest python/tests -q -p no:cacheprovider 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  # pytest's last line: "3 failed, 117 passed, 2 skipped in 41.20s" (counts in any order)
  line="$(grep -E '^[=]* ?[0-9]+ (passed|failed|errors?|skipped)' "$log" | tail -n 1)"
  rm -f "$log"
  if [ -z "$line" ]; then
    echo "test.sh: pytest ended without a summary (exit $rc)" >&2
    return 1
  fi
  n="$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+')"
  passed=$((passed + ${n:-0}))
  for what in failed error errors; do
    n="$(grep -oE "[0-9]+ $what\b" <<<"$line" | grep -oE '[0-9]+')"
    failed=$((failed + ${n:-0}))
  done
  [ "$rc" -eq 0 ] || status=1
  return 0
}
if [ "${MEMGRAD_SKIP_PYTHON:-0}" != "1" ]; then
  echo "==== Python bindings: extension in $BUILD/python, pytest ===="
  t0=$SECONDS
  if ! run_python_tests; then
    failed=$((failed + 1))
    status=1
  fi
  echo "test.sh: Python step took $((SECONDS - t0)) s"
else
  echo "test.sh: MEMGRAD_SKIP_PYTHON=1: Python tests skipped"
fi

# ---- fuzzing (fuzz/, docs/fuzzing.md) ----
# scripts/fuzz.sh builds the libFuzzer targets with clang in build-fuzz/ and runs each for 5 s (its
# seed corpus, then new inputs). The CI run must stay under 20 minutes on 2 cores. A fresh clone,
# nothing cached, 2026-12-07, two runs: 1070 and 1136 s in all (Release build 346–348 s, its tests
# 50–52 s; sanitizer build 232–269 s, its tests 134–165 s; Python step 141–143 s; this step
# 161–164 s), after the test files and bindings got precompiled headers and the tests -O1
# (tests/CMakeLists.txt, python/CMakeLists.txt); it had been 1270–1299 s. Each target is one entry in the counts (its last line: `fuzz: N passed, M failed`).
# Built at -O0 here (MEMGRAD_FUZZ_OPT): a third less compile time than -O1 (6.7 against 4.5 s for
# autograd/ops/attention.cpp), for fewer inputs in the 5 s.
# Skipped by --fast and by MEMGRAD_SKIP_FUZZ=1. Longer runs: scripts/fuzz.sh 300.
if [ "$fast" -eq 0 ] && [ "${MEMGRAD_SKIP_FUZZ:-0}" != "1" ]; then
  echo "==== fuzzing: scripts/fuzz.sh 5 ===="
  t0=$SECONDS
  log="$(mktemp)"
  MEMGRAD_FUZZ_OPT="${MEMGRAD_FUZZ_OPT:--O0}" bash scripts/fuzz.sh 5 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  line="$(grep -E '^fuzz: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)"
  rm -f "$log"
  if [ -n "$line" ]; then
    n="$(sed -E 's/^fuzz: ([0-9]+) passed.*/\1/' <<<"$line")"
    passed=$((passed + n))
    n="$(sed -E 's/.*passed, ([0-9]+) failed$/\1/' <<<"$line")"
    failed=$((failed + n))
  else
    echo "test.sh: fuzz.sh ended without a summary (exit $rc)" >&2
    failed=$((failed + 1))
  fi
  [ "$rc" -eq 0 ] || status=1
  echo "test.sh: fuzzing step took $((SECONDS - t0)) s"
else
  echo "test.sh: fuzzing skipped"
fi

summary
exit "$status"
