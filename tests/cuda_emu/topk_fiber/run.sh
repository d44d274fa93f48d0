#!/usr/bin/env bash
# Runs the fused and block-wise top-k attention kernels (backends/cuda/cuda_topk_fused.cu,
# cuda_attention_topk.cu) through the fiber-based emulator in include/ against the CPU backend
# (test_topk.cpp: B=2, H=2, N in {1..300}, k in {1..256}, masks, exact ties, duplicated keys).
# Not yet merged with ../run.sh's emulator (this one runs every GPU thread as a fiber on one OS
# thread, ~20x faster, and can change the thread order: EMU_SCHED=random|reverse, EMU_MAX_GRID=n).
#   tests/cuda_emu/topk_fiber/run.sh [test_topk arguments]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
W="$(cd "$HERE/../../.." && pwd)"
OUT="$W/build-cuda-emu/topk"
CPU="$W/build-cuda-emu/cpu"
mkdir -p "$OUT"
if [ ! -f "$CPU/CMakeCache.txt" ]; then
  cmake -S "$W" -B "$CPU" -DMEMGRAD_CUDA=OFF -DMEMGRAD_TESTS=OFF -DMEMGRAD_EXAMPLES=OFF >/dev/null
fi
cmake --build "$CPU" -j"$(nproc)" --target memgrad_backends >/dev/null  # incremental: the CPU reference stays current
F="-O2 -g -march=native -fno-trapping-math -fno-math-errno -std=gnu++20"
python3 "$HERE/prep.py" "$W/backends/cuda/cuda_topk_fused.cu" "$OUT/fused_emu.cpp"
python3 "$HERE/prep.py" "$W/backends/cuda/cuda_attention_topk.cu" "$OUT/topk_emu.cpp"
python3 "$HERE/prep.py" "$W/backends/cuda/cuda_attention_blocks.cu" "$OUT/blocks_emu.cpp"
g++ $F -D__CUDACC__ -I"$HERE/include" -I"$W" -c "$OUT/fused_emu.cpp" -o "$OUT/fused_emu.o" &
g++ $F -D__CUDACC__ -I"$HERE/include" -I"$W" -c "$OUT/topk_emu.cpp" -o "$OUT/topk_emu.o" &
g++ $F -D__CUDACC__ -I"$HERE/include" -I"$W" -c "$OUT/blocks_emu.cpp" -o "$OUT/blocks_emu.o" &
for f in cuda_topk_fused cuda_attention_topk cuda_attention_blocks attention_layout; do
  g++ $F -DMEMGRAD_HAVE_CUDA -I"$W" -isystem /usr/local/cuda/include -fopenmp -c "$W/backends/cuda/$f.cpp" -o "$OUT/$f.o"
done
g++ $F -DMEMGRAD_HAVE_CUDA -I"$W" -isystem /usr/local/cuda/include -fopenmp -c "$HERE/test_topk.cpp" -o "$OUT/test_topk.o"
wait
g++ -fopenmp "$OUT/test_topk.o" "$OUT/cuda_topk_fused.o" "$OUT/cuda_attention_topk.o" "$OUT/cuda_attention_blocks.o" "$OUT/attention_layout.o" \
  "$OUT/fused_emu.o" "$OUT/topk_emu.o" "$OUT/blocks_emu.o" \
  "$CPU/backends/libmemgrad_backends.a" "$CPU/core/libmemgrad_core.a" -lfmt -lopenblas -o "$OUT/test_topk"
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi
"$OUT/test_topk" "$@"
