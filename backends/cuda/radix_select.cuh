#pragma once
// Block-wide radix selection of the largest entries of a row, shared by top-k attention
// (cuda_attention_topk.cu) and the top-k feed-forward layer's row_topk (cuda_sparse_rows.cu):
// order-preserving integer keys, a 256-bin histogram search per 8-bit digit, and a block scan that
// compacts the chosen entries in column order (ties at the threshold to the earlier columns).
// Device code only; nvcc includes it from .cu files.
#include <cuda_runtime.h>

#include <cstdint>

namespace memgrad::cuda {

// Unsigned keys that order like the scores (-0 taken as +0, which compare equal on the CPU), every
// NaN as one key above +inf's (the CPU ranks NaN highest). Key 0 is no score's (it would be a NaN
// with the sign bit set).
__device__ __forceinline__ uint32_t radix_key(float x) {
  const uint32_t u = x != x ? 0x7fc00000u : __float_as_uint(x == 0.0f ? 0.0f : x);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ unsigned long long radix_key(double x) {
  const auto u = x != x ? 0x7ff8000000000000ull
                        : static_cast<unsigned long long>(__double_as_longlong(x == 0.0 ? 0.0 : x));
  return (u & 0x8000000000000000ull) ? ~u : (u | 0x8000000000000000ull);
}
template <class T>
using KeyT = decltype(radix_key(T(0)));

// Exclusive prefix sums of the pairs v over the block (thread order); total gets the block's sum.
// tot holds 33 entries.
__device__ inline int2 block_exclusive_scan(int2 v, int2* tot, int2& total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
  __syncthreads();  // tot is free
  int2 incl = v;
  for (int o = 1; o < 32; o <<= 1) {
    const int x = __shfl_up_sync(0xffffffffu, incl.x, o), y = __shfl_up_sync(0xffffffffu, incl.y, o);
    if (lane >= o) incl.x += x, incl.y += y;
  }
  if (lane == 31) tot[warp] = incl;
  __syncthreads();
  if (warp == 0) {
    const int2 w = lane < nwarps ? tot[lane] : make_int2(0, 0);
    int2 wi = w;
    for (int o = 1; o < 32; o <<= 1) {
      const int x = __shfl_up_sync(0xffffffffu, wi.x, o), y = __shfl_up_sync(0xffffffffu, wi.y, o);
      if (lane >= o) wi.x += x, wi.y += y;
    }
    if (lane < nwarps) tot[lane] = make_int2(wi.x - w.x, wi.y - w.y);
    if (lane == 31) tot[32] = wi;
  }
  __syncthreads();
  total = tot[32];
  return make_int2(tot[warp].x + incl.x - v.x, tot[warp].y + incl.y - v.y);
}

// Run by warp 0 on a 256-bin histogram, bins taken from the highest: finds the bin holding the
// rem-th largest counted key (1-based) and the rank left inside it. Returns the histogram's total.
__device__ inline int search_digit(const int* hist, int rem, bool search, int* digit, int* rem_out) {
  const int lane = threadIdx.x & 31;
  const int hi = 255 - 8 * lane;  // this lane's bins: hi, hi - 1, .., hi - 7
  int cnt = 0;
  for (int q = 0; q < 8; ++q) cnt += hist[hi - q];
  int incl = cnt;
  for (int o = 1; o < 32; o <<= 1) {
    const int y = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += y;
  }
  const int total = __shfl_sync(0xffffffffu, incl, 31);
  if (search) {
    int run = incl - cnt;  // keys in higher bins
    if (run < rem && rem <= incl)
      for (int q = 0; q < 8; ++q) {
        const int c = hist[hi - q];
        if (run + c >= rem) {
          *digit = hi - q;
          *rem_out = rem - run;
          break;
        }
        run += c;
      }
  }
  return total;
}

}  // namespace memgrad::cuda
