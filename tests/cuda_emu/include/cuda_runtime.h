#pragma once
// Host emulation of the CUDA kernel language, for testing backends/cuda/*.cu without a GPU.
// A .cu file is first rewritten by prep.py (kernel launches become emu::launch calls, `extern
// __shared__` arrays point into the launch's dynamic shared memory), then compiled by g++ with
// -D__CUDACC__ and this folder first on the include path, so that its `#include <cuda_runtime.h>`
// lands here instead of in the CUDA toolkit.
//
// Execution model: the blocks of a grid run one after another; the threads of a block run at
// once, one std::thread each. Function-static variables stand for static `__shared__` arrays
// (one block at a time, so they are per block). __syncthreads is a barrier over the block;
// shuffles, ballots and __syncwarp are barriers over the warp (32 consecutive linear thread ids),
// so every lane of the warp must reach them, as with the full mask on a GPU. Dynamic shared memory
// is filled with NaN before each block. See README.md for what this cannot catch.
#include <algorithm>
#include <atomic>
#include <barrier>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "emu_control.h"

// The math functions and min/max that device code calls unqualified.
using std::isfinite;
using std::isinf;
using std::isnan;
using std::max;
using std::min;

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct int2 { int x, y; };
struct float2 { float x, y; };
inline int2 make_int2(int x, int y) { return {x, y}; }
inline float2 make_float2(float x, float y) { return {x, y}; }

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __shared__ static
#define __constant__ static
#define __launch_bounds__(...)
#define __align__(n) alignas(n)

typedef int cudaError_t;
constexpr cudaError_t cudaSuccess = 0;
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };

namespace emu {
inline thread_local dim3 tid, bid;
inline dim3 bdim, gdim;
inline std::unique_ptr<std::barrier<>> block_barrier;
inline std::vector<std::unique_ptr<std::barrier<>>> warp_barriers;
inline uint64_t warp_slots[32][32];  // [warp][lane] exchange for shuffles and ballots
struct alignas(16) SmemChunk { unsigned char b[16]; };
inline std::vector<SmemChunk> dyn_smem;  // extern __shared__ (blocks run one at a time)
inline const char* current_site = "";

[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "emu: %s: %s\n", current_site, what.c_str());
  std::fflush(stderr);
  std::abort();
}

inline int linear_tid() { return static_cast<int>((tid.z * bdim.y + tid.y) * bdim.x + tid.x); }
inline int block_threads() { return static_cast<int>(bdim.x * bdim.y * bdim.z); }
// The lanes of this thread's warp that exist (the last warp of a block may be partial).
inline unsigned warp_lanes_mask() {
  const int n = std::min(32, block_threads() - linear_tid() / 32 * 32);
  return n == 32 ? 0xffffffffu : (1u << n) - 1u;
}

// A kernel's identity for cudaFuncSetAttribute and the launch (its address).
template <class F>
const void* kernel_id(F* f) { return reinterpret_cast<const void*>(f); }

// `kernel<<<grid, block, smem>>>(args)` after prep.py: runs body() once per thread of the grid.
inline void launch(const char* site, const void* kernel, dim3 grid, dim3 block, size_t smem,
                   const std::function<void()>& body) {
  current_site = site;
  auto bad = [&](const std::string& why) { throw std::runtime_error(std::string("emu: ") + site + ": " + why); };
  // what a GPU refuses with cudaErrorInvalidConfiguration / cudaErrorInvalidValue
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) bad("empty grid");
  if (grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535) bad("grid above the limits");
  const int64_t nt = int64_t{block.x} * block.y * block.z;
  if (nt == 0 || nt > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64) bad("block size out of range");
  if (smem > state.smem_default) {
    auto it = state.smem_opt_in.find(kernel);
    if (it == state.smem_opt_in.end())
      bad(std::to_string(smem) + " bytes of dynamic shared memory without cudaFuncSetAttribute opt-in");
    if (smem > it->second) bad(std::to_string(smem) + " bytes of dynamic shared memory, above the opt-in");
  }
  ++state.launches;
  ++state.site_launches[site];
  gdim = grid;
  if (grid.y == 1 && grid.z == 1) gdim.x = std::min(grid.x, grid_cap_for(site));
  bdim = block;
  dyn_smem.assign((smem + sizeof(SmemChunk) - 1) / sizeof(SmemChunk), SmemChunk{});
  block_barrier = std::make_unique<std::barrier<>>(nt);
  warp_barriers.clear();
  for (int64_t w = 0; w < (nt + 31) / 32; ++w)
    warp_barriers.push_back(std::make_unique<std::barrier<>>(std::min<int64_t>(32, nt - 32 * w)));
  for (unsigned bz = 0; bz < gdim.z; ++bz)
    for (unsigned by = 0; by < gdim.y; ++by)
      for (unsigned bx = 0; bx < gdim.x; ++bx) {
        ++state.blocks_run;
        // poison dynamic shared memory per block: a kernel must not read what it did not write
        const float nan = NAN;
        for (size_t i = 0; i + 4 <= smem; i += 4) std::memcpy(reinterpret_cast<char*>(dyn_smem.data()) + i, &nan, 4);
        std::vector<std::thread> ts;
        ts.reserve(nt);
        for (int64_t t = 0; t < nt; ++t)
          ts.emplace_back([&, t, bx, by, bz] {
            tid = dim3(t % block.x, (t / block.x) % block.y, t / (int64_t{block.x} * block.y));
            bid = dim3(bx, by, bz);
            try {
              body();
            } catch (const std::exception& e) {
              fail(std::string("exception in a kernel thread: ") + e.what());
            }
          });
        for (auto& th : ts) th.join();
      }
  current_site = "";
}

// Every lane of the warp posts v; returns the value posted by lane src_lane(lane) (own value when
// that lane is outside 0..31 or does not exist).
template <class T, class F>
T warp_exchange(T v, F src_lane) {
  static_assert(sizeof(T) <= 8);
  const int t = linear_tid(), w = t / 32, lane = t % 32;
  std::memcpy(&warp_slots[w][lane], &v, sizeof(T));
  warp_barriers[w]->arrive_and_wait();
  T r;
  int s = src_lane(lane);
  if (s < 0 || s > 31 || !((warp_lanes_mask() >> s) & 1u)) s = lane;
  std::memcpy(&r, &warp_slots[w][s], sizeof(T));
  warp_barriers[w]->arrive_and_wait();
  return r;
}
}  // namespace emu

#define threadIdx (::emu::tid)
#define blockIdx (::emu::bid)
#define blockDim (::emu::bdim)
#define gridDim (::emu::gdim)
#define warpSize 32

inline void __syncthreads() { emu::block_barrier->arrive_and_wait(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  if ((mask & emu::warp_lanes_mask()) != emu::warp_lanes_mask()) emu::fail("__syncwarp with a partial mask is not emulated");
  emu::warp_barriers[emu::linear_tid() / 32]->arrive_and_wait();
}
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }

// width: the warp splits into segments of `width` lanes (a power of 2 up to 32), as on a GPU
template <class T>
T __shfl_xor_sync(unsigned, T v, int o, int width = 32) {
  // a lane may read from its own or an earlier segment; a later one gives its own value
  return emu::warp_exchange(v, [o, width](int l) { const int s = l ^ o; return s >= ((l + width) & ~(width - 1)) ? l : s; });
}
template <class T>
T __shfl_sync(unsigned, T v, int src, int width = 32) {
  return emu::warp_exchange(v, [src, width](int l) { return (l & ~(width - 1)) + (src & (width - 1)); });
}
template <class T>
T __shfl_down_sync(unsigned, T v, unsigned d, int width = 32) {
  return emu::warp_exchange(v, [d, width](int l) { return (l & (width - 1)) + int(d) < width ? l + int(d) : l; });
}
template <class T>
T __shfl_up_sync(unsigned, T v, unsigned d, int width = 32) {
  return emu::warp_exchange(v, [d, width](int l) { return (l & (width - 1)) >= int(d) ? l - int(d) : l; });
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
  const int t = emu::linear_tid(), w = t / 32, lane = t % 32;
  emu::warp_slots[w][lane] = pred != 0;
  emu::warp_barriers[w]->arrive_and_wait();
  unsigned r = 0;
  const unsigned lanes = emu::warp_lanes_mask();
  for (int l = 0; l < 32; ++l)
    if (((lanes >> l) & 1u) && emu::warp_slots[w][l]) r |= 1u << l;
  emu::warp_barriers[w]->arrive_and_wait();
  return r & mask;
}
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == (mask & emu::warp_lanes_mask()); }

inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
template <class T>
T __ldg(const T* p) { return *p; }
inline unsigned __float_as_uint(float x) { return std::bit_cast<unsigned>(x); }
inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline float __uint_as_float(unsigned x) { return std::bit_cast<float>(x); }
inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline long long __double_as_longlong(double x) { return std::bit_cast<long long>(x); }
inline double __longlong_as_double(long long x) { return std::bit_cast<double>(x); }

// Atomics: std::atomic_ref on host memory (every "device" pointer is a host pointer here).
template <class T>
T atomicAdd(T* p, std::type_identity_t<T> v) { return std::atomic_ref<T>(*p).fetch_add(v); }
template <class T>
T atomicSub(T* p, std::type_identity_t<T> v) { return std::atomic_ref<T>(*p).fetch_sub(v); }
template <class T>
T atomicExch(T* p, std::type_identity_t<T> v) { return std::atomic_ref<T>(*p).exchange(v); }
template <class T>
T atomicMin(T* p, std::type_identity_t<T> v) {
  std::atomic_ref<T> a(*p);
  T old = a.load();
  while (v < old && !a.compare_exchange_weak(old, v)) {}
  return old;
}
template <class T>
T atomicMax(T* p, std::type_identity_t<T> v) {
  std::atomic_ref<T> a(*p);
  T old = a.load();
  while (v > old && !a.compare_exchange_weak(old, v)) {}
  return old;
}
template <class T>
T atomicCAS(T* p, std::type_identity_t<T> compare, std::type_identity_t<T> v) {
  std::atomic_ref<T>(*p).compare_exchange_strong(compare, v);
  return compare;
}

// Recorded per kernel; a launch above 48 KiB of dynamic shared memory needs it (see emu_control.h).
template <class F>
cudaError_t cudaFuncSetAttribute(F* kernel, cudaFuncAttribute attr, int value) {
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || static_cast<size_t>(value) > emu::state.smem_limit) return 1;  // cudaErrorInvalidValue
    emu::state.smem_opt_in[emu::kernel_id(kernel)] = static_cast<size_t>(value);
  }
  return cudaSuccess;
}
