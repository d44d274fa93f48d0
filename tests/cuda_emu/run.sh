#!/usr/bin/env bash
# Builds and runs the CUDA kernel emulator tests (README.md): a CPU-only memgrad, the .cu files of
# backends/cuda rewritten by prep.py and compiled by g++ against include/cuda_runtime.h, one test
# program per group of kernels. Prints one summary line per program; exits non-zero on any failure.
#
# usage: tests/cuda_emu/run.sh [-v] [--build-only] [PROGRAM...]   (no PROGRAM: all of them)
#   -v            show each program's output as it runs (always kept in build-cuda-emu/<program>.log)
#   --build-only  build, do not run
# environment: JOBS (parallel compiles, default 2), CXX (default g++), CUDA_INCLUDE (the CUDA
#   toolkit's include folder, for the host-side .cpp files), EMU_CXXFLAGS (extra flags, e.g. -g),
#   EMU_ARCH (default -march=native, as memgrad's own build), EMU_TIMEOUT (seconds per program, 1800).

# ---- the test programs: name, source, and the backends/cuda files X whose X.cu (emulated
# kernels) and X.cpp (host side) it links ----
PROGRAMS=(elementwise attention sparse_rows)
declare -A PROGRAM_SRC=(
  [elementwise]=test_elementwise_reduce.cpp
  [attention]=test_attention_chunked.cpp
  [sparse_rows]=test_sparse_rows.cpp
)
declare -A PROGRAM_UNITS=(
  [elementwise]="cuda_elementwise cuda_reduce cuda_softmax cuda_loss cuda_index"
  [attention]="cuda_flash_attention cuda_attention_chunked cuda_attention_blocks"
  [sparse_rows]="cuda_sparse_rows"
)
# backends/cuda files with a host side (X.cpp) only
declare -A PROGRAM_HOST_UNITS=(
  [elementwise]=""
  [attention]="attention_layout"
  [sparse_rows]=""
)

set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=$REPO/build-cuda-emu
CPU_BUILD=$BUILD/cpu
JOBS=${JOBS:-2}
CXX=${CXX:-g++}
EMU_TIMEOUT=${EMU_TIMEOUT:-1800}

find_cuda_include() {
  local d
  for d in "${CUDA_INCLUDE:-}" "${CUDA_HOME:+$CUDA_HOME/include}" "${CUDA_PATH:+$CUDA_PATH/include}" \
           /usr/local/cuda/include /usr/include; do
    if [[ -n $d && -f $d/cublas_v2.h && -f $d/cuda_runtime_api.h ]]; then
      echo "$d"
      return
    fi
  done
  echo "run.sh: the CUDA toolkit headers (cublas_v2.h, cuda_runtime_api.h) were not found; set CUDA_INCLUDE" >&2
  return 1
}

COMMON_FLAGS="-std=gnu++20 -O2 ${EMU_ARCH--march=native} -fno-trapping-math -fno-math-errno ${EMU_CXXFLAGS:-}"
# emulated kernels: the emulator's cuda_runtime.h, never the toolkit's
KERNEL_FLAGS="$COMMON_FLAGS -Wall -Wno-unknown-pragmas -Wno-sign-compare -Wno-subobject-linkage -D__CUDACC__ -I$HERE/include -I$REPO"
host_flags() { echo "$COMMON_FLAGS -fopenmp -DMEMGRAD_HAVE_CUDA -I$REPO -isystem $(find_cuda_include)"; }

say() { echo "[cuda_emu] $*"; }

# The CPU-only memgrad: the reference backend and the core library.
build_cpu() {
  mkdir -p "$BUILD"
  local log=$BUILD/cpu-build.log
  if [[ ! -f $CPU_BUILD/CMakeCache.txt ]]; then
    say "configuring a CPU-only memgrad in ${CPU_BUILD#"$REPO"/}"
    cmake -S "$REPO" -B "$CPU_BUILD" -DMEMGRAD_CUDA=OFF -DMEMGRAD_TESTS=OFF -DMEMGRAD_EXAMPLES=OFF >"$log" 2>&1 ||
      { tail -30 "$log"; say "cmake configure failed (log: $log)"; return 1; }
  fi
  cmake --build "$CPU_BUILD" --target memgrad_backends -j"$JOBS" >>"$log" 2>&1 ||
    { tail -30 "$log"; say "building memgrad_backends failed (log: $log)"; return 1; }
}

# Libraries after the objects: memgrad's, then what they need (BLAS from the CMake cache).
link_libs() {
  local blas
  blas=$(sed -n -e 's/^BLAS_[A-Za-z0-9_]*_LIBRARY:FILEPATH=\(.*\)$/\1/p' "$CPU_BUILD/CMakeCache.txt" | grep -v NOTFOUND | tr '\n' ' ')
  echo "$CPU_BUILD/backends/libmemgrad_backends.a $CPU_BUILD/core/libmemgrad_core.a -lfmt ${blas:--lopenblas} -fopenmp"
}

# Whether obj is newer than everything its depfile lists and was built with the same command.
up_to_date() {
  local obj=$1 cmd=$2 f
  [[ -f $obj && -f $obj.d && -f $obj.cmd ]] || return 1
  [[ $(cat "$obj.cmd") == "$cmd" ]] || return 1
  # shellcheck disable=SC2013 # depfile entries are words
  for f in $(sed -e 's/\\$//' -e 's/^[^:]*://' "$obj.d"); do
    [[ -e $f && ! $f -nt $obj ]] || return 1
  done
}

# compile SRC OBJ FLAGS: skipped when up to date; the log is kept beside the object.
compile() {
  local src=$1 obj=$2 flags=$3
  local cmd="$CXX $flags -c $src -o $obj"
  up_to_date "$obj" "$cmd" && return 0
  mkdir -p "$(dirname "$obj")"
  # shellcheck disable=SC2086 # flags are words
  if $CXX $flags -MMD -MF "$obj.d" -c "$src" -o "$obj" >"$obj.log" 2>&1; then
    echo "$cmd" >"$obj.cmd"
    [[ -s $obj.log ]] && cat "$obj.log"
    return 0
  fi
  cat "$obj.log" >&2
  echo "run.sh: compiling ${src#"$REPO"/} failed" >&2
  return 1
}

# prep.py IN.cu OUT.cpp, leaving OUT.cpp untouched when unchanged (so its object stays up to date).
prep() {
  local cu=$1 out=$2
  mkdir -p "$(dirname "$out")"
  python3 "$HERE/prep.py" "$cu" "$out.tmp"
  if cmp -s "$out.tmp" "$out"; then rm "$out.tmp"; else mv "$out.tmp" "$out"; fi
}

# Runs the queued compiles ("src|obj|flags" lines) JOBS at a time; fails if any fails.
run_compiles() {
  local line failures=$BUILD/.compile_failures
  rm -f "$failures"
  for line in "$@"; do
    IFS='|' read -r src obj flags <<<"$line"
    { compile "$src" "$obj" "$flags" || echo "$src" >>"$failures"; } &
    while (($(jobs -rp | wc -l) >= JOBS)); do wait -n || true; done
  done
  wait
  [[ ! -s $failures ]]
}

# The objects of a program (printed), after building them.
program_objects() {
  local p=$1 u
  for u in ${PROGRAM_UNITS[$p]}; do
    echo "$BUILD/obj/$u.emu.o $BUILD/obj/$u.o"
  done
  for u in ${PROGRAM_HOST_UNITS[$p]}; do echo "$BUILD/obj/$u.o"; done
  echo "$BUILD/obj/fake_cuda.o $BUILD/obj/${PROGRAM_SRC[$p]%.cpp}.o"
}

build_programs() {
  local hflags p u
  hflags=$(host_flags)
  local -a queue=() seen=()
  for p in "$@"; do
    for u in ${PROGRAM_UNITS[$p]}; do
      [[ " ${seen[*]} " == *" $u "* ]] && continue
      seen+=("$u")
      prep "$REPO/backends/cuda/$u.cu" "$BUILD/emu/$u.emu.cpp"
      queue+=("$BUILD/emu/$u.emu.cpp|$BUILD/obj/$u.emu.o|$KERNEL_FLAGS")
      queue+=("$REPO/backends/cuda/$u.cpp|$BUILD/obj/$u.o|$hflags")
    done
    for u in ${PROGRAM_HOST_UNITS[$p]}; do
      [[ " ${seen[*]} " == *" $u "* ]] && continue
      seen+=("$u")
      queue+=("$REPO/backends/cuda/$u.cpp|$BUILD/obj/$u.o|$hflags")
    done
    queue+=("$HERE/${PROGRAM_SRC[$p]}|$BUILD/obj/${PROGRAM_SRC[$p]%.cpp}.o|$hflags")
  done
  queue+=("$HERE/fake_cuda.cpp|$BUILD/obj/fake_cuda.o|$hflags")
  run_compiles "${queue[@]}"
  local libs objs exe
  libs=$(link_libs)
  for p in "$@"; do
    objs=$(program_objects "$p" | tr '\n' ' ')
    exe=$BUILD/${PROGRAM_SRC[$p]%.cpp}
    # shellcheck disable=SC2086
    $CXX $objs $libs -o "$exe"
  done
}

# run_program NAME EXE [ARGS...]: one summary line; returns the program's status.
VERBOSE=0
run_program() {
  local p=$1 exe=$2 log=$BUILD/$1.log status=0 t0 t1
  shift 2
  t0=$(date +%s.%N)
  if ((VERBOSE)); then
    timeout "$EMU_TIMEOUT" "$exe" "$@" 2>&1 | tee "$log" || status=${PIPESTATUS[0]}
  else
    timeout "$EMU_TIMEOUT" "$exe" "$@" >"$log" 2>&1 || status=$?
  fi
  t1=$(date +%s.%N)
  local secs last
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }')
  last=$(tail -n 1 "$log")
  if ((status == 0)); then
    printf '%-12s PASS  %4ss  %s\n' "$p" "$secs" "$last"
  else
    local why="exit $status"
    ((status == 124)) && why="timed out after ${EMU_TIMEOUT}s"
    ((status > 128 && status != 124)) && why="killed by signal $((status - 128))"
    printf '%-12s FAIL  %4ss  (%s)  %s\n' "$p" "$secs" "$why" "$last"
    grep -m 20 -e '^FAIL' -e '^emu:' "$log" | sed 's/^/    /' || true
    echo "    full output: ${log#"$REPO"/}"
  fi
  return "$status"
}

# The CPU reference runs OpenBLAS; an OpenBLAS older than the CPU falls back to its generic kernels
# (memgrad prints a warning) and the reference then takes most of the time.
# With the AVX-512 that OpenBLAS's SkylakeX kernels need, ask for them (as memgrad's warning says).
cpu_flags=$(grep -m 1 '^flags' /proc/cpuinfo 2>/dev/null || true)
if [[ -z ${OPENBLAS_CORETYPE:-} && " $cpu_flags " == *" avx512f "* && " $cpu_flags " == *" avx512bw "* &&
      " $cpu_flags " == *" avx512vl "* && " $cpu_flags " == *" avx512dq "* ]]; then
  export OPENBLAS_CORETYPE=SkylakeX
fi

main() {
  local build_only=0 p
  local -a selected=()
  for p in "$@"; do
    case $p in
      -v) VERBOSE=1 ;;
      --build-only) build_only=1 ;;
      -h | --help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; return 0 ;;
      *)
        [[ -n ${PROGRAM_SRC[$p]:-} ]] || { echo "run.sh: unknown program '$p' (known: ${PROGRAMS[*]})" >&2; return 2; }
        selected+=("$p")
        ;;
    esac
  done
  ((${#selected[@]})) || selected=("${PROGRAMS[@]}")
  local t0=$SECONDS
  say "building (JOBS=$JOBS) in ${BUILD#"$REPO"/}"
  build_cpu
  build_programs "${selected[@]}"
  say "built in $((SECONDS - t0))s"
  ((build_only)) && return 0
  local failed=0
  for p in "${selected[@]}"; do
    run_program "$p" "$BUILD/${PROGRAM_SRC[$p]%.cpp}" || failed=$((failed + 1))
  done
  say "$((${#selected[@]} - failed)) of ${#selected[@]} programs passed, $((SECONDS - t0))s in all"
  ((failed == 0))
}

# mutate.sh sources this file for its functions and program table
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
