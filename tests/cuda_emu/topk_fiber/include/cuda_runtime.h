// Host emulation of the CUDA kernel language for testing kernels without a GPU (a faster
// variant of ../include/cuda_runtime.h). Every GPU thread of a block is a fiber on one OS thread (x86-64
// stack switching in a few instructions: no syscalls, no OS threads);
// blocks run one after another over the whole grid (x, y, z). __syncthreads is a block barrier,
// __syncwarp / shuffles / ballots are warp barriers with a per-warp exchange. A round in which no
// fiber reaches a barrier or finishes is a deadlock (divergent __syncthreads, a shuffle with a lane
// gone): reported and aborted. Dynamic shared memory (extern __shared__, rewritten by prep.py)
// is one buffer, refilled with 0xFF bytes (NaN) before every block; static __shared__ arrays are
// function statics (blocks never overlap).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

using std::isfinite;
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct int2 {
  int x, y;
};
inline int2 make_int2(int a, int b) { return {a, b}; }
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)
#define __align__(n) alignas(n)

extern "C" void emu_switch(void** save_sp, void* new_sp);
asm(R"(
.text
.weak emu_switch
.type emu_switch,@function
emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size emu_switch,.-emu_switch
)");

namespace emu {
struct Fiber {
  void* sp = nullptr;
  dim3 tid;
  bool done = false;
  std::unique_ptr<char[]> stack;
};
struct Barrier {
  int expected = 0, arrived = 0;
  uint64_t gen = 0;
};
constexpr size_t kStack = 256 * 1024;
inline std::vector<Fiber> fibers;
inline Fiber* cur = nullptr;
inline void* sched_sp = nullptr;
inline dim3 bid, bdim, gdim;
inline const std::function<void()>* body = nullptr;
inline bool progress = false;
// cap on gridDim.x (testing grid-stride loops): EMU_MAX_GRID in the environment; default none
inline unsigned max_grid = std::getenv("EMU_MAX_GRID") ? static_cast<unsigned>(std::atoi(std::getenv("EMU_MAX_GRID")))
                                                       : 0xffffffffu;
inline std::vector<unsigned char> dyn_buf;
inline unsigned char* dyn_smem = nullptr;
inline size_t max_dyn_smem = 48 * 1024;
inline int64_t launches = 0, blocks_run = 0;
inline Barrier block_bar;
inline std::vector<Barrier> warp_bars;
inline uint64_t warp_slots[32][32];

inline int linear_tid() { return static_cast<int>(cur->tid.x + cur->tid.y * bdim.x + cur->tid.z * bdim.x * bdim.y); }
inline void yield() { emu_switch(&cur->sp, sched_sp); }
inline void wait(Barrier& b) {
  progress = true;
  const uint64_t g = b.gen;
  if (++b.arrived == b.expected) {
    b.arrived = 0;
    ++b.gen;
    return;
  }
  while (b.gen == g) yield();
}
[[noreturn]] inline void trampoline() {
  (*body)();
  cur->done = true;
  emu_switch(&cur->sp, sched_sp);  // never resumed
  std::abort();
}

inline void run_block(int nt) {
  if (fibers.size() < static_cast<size_t>(nt)) fibers.resize(nt);
  for (int t = 0; t < nt; ++t) {
    Fiber& f = fibers[t];
    if (!f.stack) f.stack.reset(new char[kStack]);
    f.done = false;
    f.tid = dim3(t % bdim.x, (t / bdim.x) % bdim.y, t / (bdim.x * bdim.y));
    // initial stack: 6 callee-saved registers, then emu_switch's `ret` into trampoline, whose
    // frame sees rsp = 8 mod 16 as after a call
    auto top = reinterpret_cast<uintptr_t>(f.stack.get() + kStack) & ~uintptr_t{15};
    auto* sp = reinterpret_cast<void**>(top);
    *--sp = nullptr;  // fake return address of trampoline
    *--sp = reinterpret_cast<void*>(&trampoline);
    for (int r = 0; r < 6; ++r) *--sp = nullptr;
    f.sp = sp;
  }
  // EMU_SCHED=reverse or random: other orders of running the threads between barriers, so that a
  // missing barrier shows whichever lane comes first on the GPU
  static const int sched_mode = [] {
    const char* e = std::getenv("EMU_SCHED");
    return !e ? 0 : (std::strcmp(e, "reverse") == 0 ? 1 : (std::strcmp(e, "random") == 0 ? 2 : 0));
  }();
  static uint64_t seed = 0x9e3779b97f4a7c15ull;
  std::vector<int> order(nt);
  for (int t = 0; t < nt; ++t) order[t] = sched_mode == 1 ? nt - 1 - t : t;
  int live = nt;
  while (live > 0) {
    progress = false;
    if (sched_mode == 2)
      for (int t = nt - 1; t > 0; --t) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        std::swap(order[t], order[(seed >> 33) % (t + 1)]);
      }
    for (int o = 0; o < nt; ++o) {
      Fiber& f = fibers[order[o]];
      if (f.done) continue;
      cur = &f;
      emu_switch(&sched_sp, f.sp);
      if (f.done) --live, progress = true;
    }
    if (!progress && live > 0) {
      std::fprintf(stderr, "emu: DEADLOCK in block (%u,%u,%u): %d of %d threads wait forever\n", bid.x, bid.y, bid.z,
                   live, nt);
      std::abort();
    }
  }
  ++blocks_run;
}

inline void launch(dim3 grid, dim3 block, size_t smem, const std::function<void()>& fn) {
  ++launches;
  const int nt = static_cast<int>(block.x * block.y * block.z);
  if (nt < 1 || nt > 1024 || grid.x < 1 || grid.y < 1 || grid.z < 1 || grid.y > 65535 || grid.z > 65535 ||
      smem > max_dyn_smem) {
    std::fprintf(stderr, "emu: invalid launch grid (%u,%u,%u) block (%u,%u,%u) smem %zu\n", grid.x, grid.y, grid.z,
                 block.x, block.y, block.z, smem);
    std::abort();
  }
  gdim = dim3(std::min(grid.x, max_grid), grid.y, grid.z);
  bdim = block;
  body = &fn;
  block_bar = Barrier{nt, 0, 0};
  warp_bars.assign((nt + 31) / 32, Barrier{});
  for (int w = 0; w < (nt + 31) / 32; ++w) warp_bars[w].expected = std::min(32, nt - 32 * w);
  dyn_buf.resize(std::max<size_t>(smem, 16) + 64);
  for (unsigned z = 0; z < gdim.z; ++z)
    for (unsigned y = 0; y < gdim.y; ++y)
      for (unsigned x = 0; x < gdim.x; ++x) {
        std::memset(dyn_buf.data(), 0xFF, dyn_buf.size());
        dyn_smem = dyn_buf.data();
        bid = dim3(x, y, z);
        run_block(nt);
      }
}
inline void launch(dim3 grid, dim3 block, const std::function<void()>& fn) { launch(grid, block, 0, fn); }

// Lane exchange: every lane of the warp deposits v, then reads lane src(lane) (own v if out of range).
template <class T, class F>
T exchange(T v, F src) {
  static_assert(sizeof(T) <= 8);
  const int t = linear_tid(), w = t / 32, lane = t % 32, n = warp_bars[w].expected;
  std::memcpy(&warp_slots[w][lane], &v, sizeof(T));
  wait(warp_bars[w]);
  const int s = src(lane);
  T r = v;
  if (s >= 0 && s < n) std::memcpy(&r, &warp_slots[w][s], sizeof(T));
  wait(warp_bars[w]);
  return r;
}
}  // namespace emu

#define threadIdx (::emu::cur->tid)
#define blockIdx (::emu::bid)
#define blockDim (::emu::bdim)
#define gridDim (::emu::gdim)
inline void __syncthreads() { emu::wait(emu::block_bar); }
inline void __syncwarp(unsigned = 0xffffffffu) { emu::wait(emu::warp_bars[emu::linear_tid() / 32]); }

template <class T>
T __shfl_xor_sync(unsigned, T v, int o, int = 32) { return emu::exchange(v, [o](int l) { return l ^ o; }); }
template <class T>
T __shfl_sync(unsigned, T v, int src, int width = 32) {
  return emu::exchange(v, [src, width](int l) { return (l / width) * width + (src % width); });
}
template <class T>
T __shfl_up_sync(unsigned, T v, unsigned d, int = 32) {
  return emu::exchange(v, [d](int l) { return l - static_cast<int>(d); });
}
template <class T>
T __shfl_down_sync(unsigned, T v, unsigned d, int = 32) {
  return emu::exchange(v, [d](int l) { return l + static_cast<int>(d); });
}
inline unsigned __ballot_sync(unsigned, int pred) {
  using namespace emu;
  const int t = linear_tid(), w = t / 32, lane = t % 32, n = warp_bars[w].expected;
  warp_slots[w][lane] = pred ? 1 : 0;
  wait(warp_bars[w]);
  unsigned m = 0;
  for (int l = 0; l < n; ++l) m |= static_cast<unsigned>(warp_slots[w][l]) << l;
  wait(warp_bars[w]);
  return m;
}
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) {
  const int n = emu::warp_bars[emu::linear_tid() / 32].expected;
  const unsigned all = n == 32 ? 0xffffffffu : ((1u << n) - 1u);
  return __ballot_sync(mask, pred) == all;
}
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }

// Fibers never run at the same time: a read-modify-write is atomic.
template <class T>
T atomicAdd(T* p, T v) {
  const T old = *p;
  *p = old + v;
  return old;
}
template <class T>
T atomicMax(T* p, T v) {
  const T old = *p;
  *p = old > v ? old : v;
  return old;
}
template <class T>
T atomicMin(T* p, T v) {
  const T old = *p;
  *p = old < v ? old : v;
  return old;
}

inline unsigned __float_as_uint(float x) { unsigned u; std::memcpy(&u, &x, 4); return u; }
inline float __uint_as_float(unsigned u) { float x; std::memcpy(&x, &u, 4); return x; }
inline long long __double_as_longlong(double x) { long long u; std::memcpy(&u, &x, 8); return u; }
inline double __longlong_as_double(long long u) { double x; std::memcpy(&x, &u, 8); return x; }

// CUDA's device min / max overloads.
#define EMU_MINMAX(T)                                   \
  inline T min(T a, T b) { return a < b ? a : b; }     \
  inline T max(T a, T b) { return a > b ? a : b; }
EMU_MINMAX(int)
EMU_MINMAX(unsigned)
EMU_MINMAX(long)
EMU_MINMAX(unsigned long)
EMU_MINMAX(long long)
EMU_MINMAX(unsigned long long)
EMU_MINMAX(float)
EMU_MINMAX(double)
#undef EMU_MINMAX
