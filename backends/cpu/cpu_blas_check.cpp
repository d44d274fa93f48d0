// OpenBLAS picks its kernels from the CPU model; on VMs that report a generic model it falls back
// to slow ones (about 5x slower products), and a preset OPENBLAS_CORETYPE can name a core weaker
// than the CPU (AVX2 kernels on an AVX-512 CPU: half the rate). Say how to fix it, once.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "backends/cpu/cpu_backend.h"

extern "C" char* openblas_get_corename(void);

namespace memgrad::cpu {

void check_openblas_core() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* core = openblas_get_corename();
    if (!core || std::getenv("MEMGRAD_QUIET_BLAS")) return;
    const char* slow[] = {"Prescott", "Core2", "Nehalem", "Penryn", "Dunnington", "Atom", "Barcelona"};
    bool fallback = false;
    for (const char* s : slow) fallback |= std::strcmp(core, s) == 0;
    const char* avx2_only[] = {"Haswell", "Zen", "Sandybridge"};
    bool below_avx512 = false;
    for (const char* s : avx2_only) below_avx512 |= std::strcmp(core, s) == 0;
    if (below_avx512 && __builtin_cpu_supports("avx512f")) {
      std::fprintf(stderr,
                   "memgrad: OpenBLAS uses its '%s' kernels although this CPU has AVX-512; matrix products run about "
                   "2x slower. Set OPENBLAS_CORETYPE=SkylakeX before starting the program.\n",
                   core);
      return;
    }
    if (!fallback) return;
    const char* better = __builtin_cpu_supports("avx512f") ? "SkylakeX"
                         : __builtin_cpu_supports("avx2") ? "Haswell"
                                                          : nullptr;
    if (better)
      std::fprintf(stderr,
                   "memgrad: OpenBLAS chose its generic '%s' kernels although this CPU has %s; matrix products run "
                   "several times slower. Set OPENBLAS_CORETYPE=%s before starting the program.\n",
                   core, better[0] == 'S' ? "AVX-512" : "AVX2", better);
  });
}

}  // namespace memgrad::cpu
