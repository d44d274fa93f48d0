#!/usr/bin/env bash
# The demo: installs dependencies, builds the LRA comparison program (Release) into build/ and runs
# `lra compare --task listops --preset demo`: the same transformer trained on generated ListOps with
# vanilla, chunked and top-k attention, then a table of accuracy, time and peak memory per kind
# (docs/lra.md), and the memory timeline of one training step per kind, side by side
# (--trace-memory: memory_trace.png in the results folder; docs/memory_trace.md). Extra arguments go to the program, e.g. `scripts/demo.sh --threads 1 --steps 200`.
# MEMGRAD_BUILD_DIR overrides the build folder.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD="${MEMGRAD_BUILD_DIR:-build}"

bash scripts/install_deps.sh
# shellcheck source=env.sh
source scripts/env.sh

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMEMGRAD_SANITIZE=OFF -DMEMGRAD_EXAMPLES=ON
cmake --build "$BUILD" --target lra -j"$(nproc)"

echo "demo: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-<unset>}"
exec "$BUILD/examples/lra/lra" compare --task listops --preset demo --trace-memory "$@"
