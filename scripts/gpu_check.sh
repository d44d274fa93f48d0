#!/usr/bin/env bash
# The one command to run first on a machine with a GPU (e.g. through the device tool):
# configures with -DCMAKE_CUDA_ARCHITECTURES=90 (override with CUDA_ARCH=...), builds, runs every
# test (the CUDA suites included, with MEMGRAD_CUDA_SYNC=1 so a failing kernel names its op), then
# the GPU benchmarks, and writes logs and JSON to a results folder:
#
#   scripts/gpu_check.sh [OUT_DIR]      (default: $OUT if set, else results/gpu-check)
#
# Dependencies: uses the system's (scripts/install_deps.sh) when present; otherwise unpacks the
# .deb files that scripts/gpu_fetch_deps.sh put in .gpu-deps/ into .gpu-deps/root (no root or
# network needed). Exits non-zero when the build or any test fails; the benchmarks still run
# after a test failure so their figures come back too.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RESULTS="${1:-${OUT:-results/gpu-check}}"
mkdir -p "$RESULTS"
RESULTS="$(cd "$RESULTS" && pwd)"
BUILD="${MEMGRAD_GPU_BUILD_DIR:-build-gpu}"
ARCH="${CUDA_ARCH:-90}"
log() { echo "gpu_check: $*" | tee -a "$RESULTS/summary.txt"; }

: >"$RESULTS/summary.txt"
nvidia-smi >"$RESULTS/nvidia-smi.txt" 2>&1 || log "nvidia-smi failed (no GPU driver?)"
log "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)"
log "nvcc: $(nvcc --version 2>/dev/null | tail -1)"

CMAKE_ARGS=(-DCMAKE_BUILD_TYPE=Release -DMEMGRAD_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DMEMGRAD_NATIVE=OFF)
if [ -d .gpu-deps ] && ls .gpu-deps/*.deb >/dev/null 2>&1 && ! [ -f /usr/include/fmt/core.h ]; then
  DEPS="$ROOT/.gpu-deps/root"
  mkdir -p "$DEPS"
  for f in .gpu-deps/*.deb; do dpkg -x "$f" "$DEPS"; done
  ARCH_DIR="$(ls "$DEPS/usr/lib" | grep -- -linux-gnu | head -1)"
  CMAKE_ARGS+=(-DMEMGRAD_DEPS_ROOT="$DEPS" -DCMAKE_PREFIX_PATH="$DEPS/usr")
  export LD_LIBRARY_PATH="$DEPS/usr/lib/$ARCH_DIR/openblas-openmp:$DEPS/usr/lib/$ARCH_DIR:${LD_LIBRARY_PATH:-}"
  log "dependencies unpacked from .gpu-deps into $DEPS"
fi
if command -v ninja >/dev/null 2>&1; then CMAKE_ARGS+=(-G Ninja); fi

t0=$SECONDS
if ! cmake -S . -B "$BUILD" "${CMAKE_ARGS[@]}" >"$RESULTS/configure.log" 2>&1; then
  log "configure FAILED (see configure.log)"; tail -30 "$RESULTS/configure.log"; exit 1
fi
if ! cmake --build "$BUILD" -j"$(nproc)" >"$RESULTS/build.log" 2>&1; then
  log "build FAILED (see build.log)"; grep -E "error|Error" "$RESULTS/build.log" | head -40; exit 1
fi
log "configured and built in $((SECONDS - t0)) s"

status=0
export MEMGRAD_QUIET_BLAS=1
if MEMGRAD_CUDA_SYNC=1 "$BUILD/tests/memgrad_tests" --test-case="cuda*" --no-intro=true >"$RESULTS/cuda-tests.log" 2>&1; then
  log "CUDA test cases: passed ($(grep -E '^\[doctest\] test cases' "$RESULTS/cuda-tests.log" | tail -1))"
else
  status=1; log "CUDA test cases: FAILED"; tail -60 "$RESULTS/cuda-tests.log"
fi
if (cd "$BUILD" && ctest --output-on-failure) >"$RESULTS/ctest.log" 2>&1; then
  log "all tests: $(grep -E 'tests passed' "$RESULTS/ctest.log" | tail -1)"
else
  status=1; log "all tests: $(grep -E 'tests passed' "$RESULTS/ctest.log" | tail -1)"; grep -E "Failed|\*\*\*" "$RESULTS/ctest.log" | head -20
fi
if command -v compute-sanitizer >/dev/null 2>&1; then
  for tool in memcheck racecheck; do
    if compute-sanitizer --tool "$tool" --error-exitcode 3 "$BUILD/tests/memgrad_tests" \
         --test-case="cuda ops: attention*,cuda ops: elementwise*" --no-intro=true >"$RESULTS/sanitizer-$tool.log" 2>&1; then
      log "compute-sanitizer $tool: clean"
    else
      status=1; log "compute-sanitizer $tool: FAILED (see sanitizer-$tool.log)"; tail -20 "$RESULTS/sanitizer-$tool.log"
    fi
  done
fi

# GPU benchmarks: attention of the three kinds on the device (JSON beside the logs).
if "$BUILD/benchmarks/bench_attention" --device cuda --batch 4 --heads 8 --head-dim 64 \
     --sizes 1024 2048 4096 8192 16384 32768 --vanilla-max 16384 --warmup 2 --repeats 20 --budget 5 \
     --out "$RESULTS/bench_attention_cuda.json" \
     >"$RESULTS/bench_attention_cuda.txt" 2>&1; then
  log "bench_attention --device cuda: done"; cat "$RESULTS/bench_attention_cuda.txt"
else
  status=1; log "bench_attention --device cuda: FAILED"; tail -20 "$RESULTS/bench_attention_cuda.txt"
fi
# PyTorch's SDPA and eager attention on the same shapes, then the joint table with the targets.
if python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
  if python3 benchmarks/attention_torch.py --batch 4 --heads 8 --head-dim 64 \
       --sizes 1024 2048 4096 8192 16384 32768 --out "$RESULTS/attention_torch.json" >"$RESULTS/attention_torch.txt" 2>&1; then
    cat "$RESULTS/attention_torch.txt"
    python3 benchmarks/compare_gpu_attention.py "$RESULTS/bench_attention_cuda.json" "$RESULTS/attention_torch.json" \
      --out "$RESULTS/gpu_attention_table.md" | tail -20
  else
    log "attention_torch.py FAILED"; tail -20 "$RESULTS/attention_torch.txt"
  fi
else
  log "PyTorch with CUDA not found: the PyTorch comparison is skipped"
fi
log "finished in $((SECONDS - t0)) s, status $status; results in $RESULTS"
exit $status
