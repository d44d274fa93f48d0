#!/usr/bin/env bash
# The demo: installs dependencies, builds the demo program (Release) into build/ and runs it.
# Arguments go to the program, e.g. `scripts/demo.sh --epochs 100 --hidden 64`.
# MEMGRAD_BUILD_DIR overrides the build folder.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD="${MEMGRAD_BUILD_DIR:-build}"

bash scripts/install_deps.sh
# shellcheck source=env.sh
source scripts/env.sh

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMEMGRAD_SANITIZE=OFF -DMEMGRAD_EXAMPLES=ON
cmake --build "$BUILD" --target fit_classifier -j"$(nproc)"

echo "demo: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-<unset>}"
exec "$BUILD/examples/fit_classifier" "$@"
