#!/usr/bin/env bash
# Fetches NCCL for memgrad::dist's CUDA tensors (docs/distributed.md): Debian has no NCCL, so the
# header and library come from PyPI's nvidia-nccl-cu<major> wheel (the CUDA major of nvcc), unpacked
# into .nccl/ (git-ignored), where CMake looks by default (dist/CMakeLists.txt; NCCL_ROOT elsewhere).
# About 200 MB. Then reconfigure: cmake -S . -B build -DMEMGRAD_NCCL=ON.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/.nccl"
major="${CUDA_MAJOR:-$(nvcc --version | sed -n 's/.*release \([0-9]*\)\..*/\1/p')}"
[ -n "$major" ] || { echo "fetch_nccl.sh: cannot tell the CUDA version (no nvcc?); set CUDA_MAJOR" >&2; exit 2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "nvidia-nccl-cu${major}"
rm -rf "$OUT.partial"
python3 - "$tmp"/nvidia_nccl_cu*.whl "$OUT.partial" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
rm -rf "$OUT"
mv "$OUT.partial" "$OUT"
ls "$OUT/nvidia/nccl/include/nccl.h" "$OUT"/nvidia/nccl/lib/libnccl.so*
