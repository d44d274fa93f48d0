#pragma once
// The emulator's knobs and counters (see cuda_runtime.h beside this file). Plain C++ with no CUDA
// types, so that both the emulated kernels (compiled against the emulator's cuda_runtime.h) and the
// host-side test programs (compiled against the real CUDA headers) can include it.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace emu {

// A launch is named by its site, "<file>.cu:<line> <kernel expression>", e.g.
// "cuda_reduce.cu:188 reduce_rows_kernel<In, Out>" (prep.py writes it into the launch).
struct GridCap {
  std::string site;  // substring of the launch site; empty: every launch
  unsigned max_blocks;
};

struct State {
  // Grid caps. By default every block of every grid runs. A grid-stride kernel (one whose
  // threads loop `i += gridDim.x * blockDim.x`) gives the same result with fewer blocks, and
  // capping its 1-D grid both saves time and makes its loops wrap; a kernel that is not
  // grid-stride must never be capped (its missing blocks would leave output unwritten).
  std::vector<GridCap> caps;
  // Dynamic shared memory: 48 KiB without opt-in, up to this limit after
  // cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes) (H100: 227 KiB).
  size_t smem_default = 48 * 1024;
  size_t smem_limit = 227 * 1024;
  std::map<const void*, size_t> smem_opt_in;  // kernel -> opted-in bytes
  // Counters.
  int64_t launches = 0, blocks_run = 0;
  std::map<std::string, int64_t> site_launches;  // launches per site
};
inline State state;

// Caps 1-D grids of the launches whose site contains `site` (all launches when empty) at
// `max_blocks` blocks; gridDim.x reports the capped count. The smallest matching cap wins.
inline void cap_grid(unsigned max_blocks, const std::string& site = "") {
  state.caps.push_back({site, max_blocks});
}
inline void clear_grid_caps() { state.caps.clear(); }

inline unsigned grid_cap_for(const std::string& site) {
  unsigned cap = std::numeric_limits<unsigned>::max();
  for (const GridCap& c : state.caps)
    if (site.find(c.site) != std::string::npos && c.max_blocks < cap) cap = c.max_blocks;
  return cap;
}

inline int64_t launches() { return state.launches; }
inline int64_t blocks_run() { return state.blocks_run; }
// Launch sites that ran, with their launch counts: which kernels a test reached.
inline const std::map<std::string, int64_t>& site_launches() { return state.site_launches; }

}  // namespace emu
