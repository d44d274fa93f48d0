# Sourced by the other scripts: run-time environment for memgrad programs.
# Machines here report a generic CPU model, so OpenBLAS falls back to its slow 'Prescott' kernels
# unless told the core type. Pick it from the CPU flags when the user has not set it. Some machines
# come with OPENBLAS_CORETYPE preset to a core weaker than the CPU (Haswell's AVX2 kernels on an
# AVX-512 CPU: half the sgemm rate, measured 240 vs 448 GFLOP/s on a 2-core AMD EPYC with
# bench_matmul --sizes 2048): such a preset is raised, with a note, unless
# MEMGRAD_KEEP_OPENBLAS_CORETYPE=1 says it was meant.
if [ -r /proc/cpuinfo ]; then
  memgrad_best_core=""
  if grep -qw avx512f /proc/cpuinfo; then
    memgrad_best_core=SkylakeX
  elif grep -qw avx2 /proc/cpuinfo; then
    memgrad_best_core=Haswell
  fi
  if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    [ -n "$memgrad_best_core" ] && export OPENBLAS_CORETYPE="$memgrad_best_core"
  elif [ "$memgrad_best_core" = SkylakeX ] && [ "${MEMGRAD_KEEP_OPENBLAS_CORETYPE:-0}" != 1 ]; then
    case "$OPENBLAS_CORETYPE" in
      Haswell | Zen | Sandybridge | Prescott | Core2 | Nehalem | Penryn | Dunnington | Atom | Barcelona)
        echo "env.sh: OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE was preset, but this CPU has AVX-512: using SkylakeX" \
          "(MEMGRAD_KEEP_OPENBLAS_CORETYPE=1 keeps the preset)" >&2
        export OPENBLAS_CORETYPE=SkylakeX
        ;;
    esac
  fi
  unset memgrad_best_core
fi
# OMP_NUM_THREADS is left alone: unset, OpenMP and OpenBLAS use every core.
