# Sourced by the other scripts: run-time environment for memgrad programs.
# Machines here report a generic CPU model, so OpenBLAS falls back to its slow 'Prescott' kernels
# unless told the core type. Pick it from the CPU flags when the user has not set it.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ -r /proc/cpuinfo ]; then
  if grep -qw avx512f /proc/cpuinfo; then
    export OPENBLAS_CORETYPE=SkylakeX
  elif grep -qw avx2 /proc/cpuinfo; then
    export OPENBLAS_CORETYPE=Haswell
  fi
fi
# OMP_NUM_THREADS is left alone: unset, OpenMP and OpenBLAS use every core.
