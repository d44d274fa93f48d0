#!/usr/bin/env bash
# Run on a development machine (Debian 12, network to its apt mirror) before lending work to a GPU
# machine that cannot reach any registry: downloads memgrad's build dependencies as .deb files into
# .gpu-deps/ (git-ignored). scripts/gpu_check.sh unpacks them there with `dpkg -x` when the GPU
# machine lacks the libraries. Pass the folder in the device tool's `carry`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/.gpu-deps"
mkdir -p "$OUT"
cd "$OUT"
# Headers and libraries the build links against, with the shared libraries they need at run time.
PACKAGES=(
  libopenblas-openmp-dev libopenblas0-openmp libopenblas-dev libgfortran5
  libfmt-dev libfmt9 doctest-dev nlohmann-json3-dev libcli11-dev libstb-dev libstb0
)
apt-get download "${PACKAGES[@]}"
ls -1 "$OUT"
du -sh "$OUT"
