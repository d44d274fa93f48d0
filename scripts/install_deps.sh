#!/usr/bin/env bash
# Installs memgrad's build dependencies with apt-get (Debian 12). Idempotent: a machine that
# already has every package does no network work at all. (python3-venv and python3-dev serve the
# Python step of scripts/test.sh: a virtual environment and the extension's headers; Open MPI
# serves memgrad::dist and its mpiexec tests; python3-matplotlib lets `lra --trace-memory` draw
# its memory timelines with scripts/plot_memory.py, as the demo does.)
set -euo pipefail

PACKAGES=(
  cmake g++ make
  libopenblas-openmp-dev libfmt-dev doctest-dev nlohmann-json3-dev libcli11-dev libstb-dev pybind11-dev
  python3 python3-pip python3-venv python3-dev python3-matplotlib
  libopenmpi-dev openmpi-bin
)

missing=()
for p in "${PACKAGES[@]}"; do
  # dpkg -s succeeds for removed-but-configured packages too; check the status line itself.
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install_deps: installing ${missing[*]}"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install_deps: not root and no sudo; install these by hand: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
