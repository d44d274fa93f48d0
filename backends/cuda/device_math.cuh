#pragma once
// Device helpers every kernel family shares: math in T's own precision and reductions over the
// lanes of a warp or the threads of a block. Device code only; nvcc (and the host emulator,
// tests/cuda_emu) include it from .cu files.
//
// Math: expf / logf ... for float, exp / log ... for double, so that a kernel computes in T as the
// CPU does (a float kernel never goes through double).
// Reductions: every participating lane gets the result (butterfly shuffles), so no broadcast
// follows; max is NaN-propagating, as the CPU's row_max (backends/scalar_math.h).
#include <cmath>
#include <cstdint>

#include "backends/scalar_math.h"

namespace memgrad::cuda {

constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;  // every lane of the warp takes part

__device__ __forceinline__ float dev_exp(float x) { return expf(x); }
__device__ __forceinline__ double dev_exp(double x) { return exp(x); }
__device__ __forceinline__ float dev_log(float x) { return logf(x); }
__device__ __forceinline__ double dev_log(double x) { return log(x); }
__device__ __forceinline__ float dev_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double dev_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float dev_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double dev_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float dev_erfc(float x) { return erfcf(x); }
__device__ __forceinline__ double dev_erfc(double x) { return erfc(x); }
__device__ __forceinline__ float dev_pow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double dev_pow(double x, double y) { return pow(x, y); }
__device__ __forceinline__ float dev_nextafter(float x, float y) { return nextafterf(x, y); }
__device__ __forceinline__ double dev_nextafter(double x, double y) { return nextafter(x, y); }

struct SumOp {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct MaxOp {  // NaN-propagating
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const { return nan_max(a, b); }
};

// op over each group of Width consecutive lanes (a power of two, at most 32; every lane of the
// warp must call it): a warp by default, a 16-lane tile row in the fused attention kernels.
template <int Width = kWarp, class T, class Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
  static_assert(Width >= 1 && Width <= kWarp && (Width & (Width - 1)) == 0, "Width: a power of two up to 32");
  for (int o = Width / 2; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(kFullMask, v, o));
  return v;
}
template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  return warp_reduce(v, SumOp{});
}
template <class T>
__device__ __forceinline__ T warp_max(T v) {
  return warp_reduce(v, MaxOp{});
}

// op over the whole block, with `red` (kWarp elements of shared memory) for the warps' partials;
// every thread must call it and gets the result. blockDim.x: a multiple of 32, at most 1024.
template <class T, class Op>
__device__ __forceinline__ T block_reduce(T v, Op op, T identity, T* red) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, nwarps = blockDim.x / kWarp;
  v = warp_reduce(v, op);
  __syncthreads();  // a previous call may still be reading red
  if (lane == 0) red[warp] = v;
  __syncthreads();
  v = lane < nwarps ? red[lane] : identity;
  return warp_reduce(v, op);  // each warp reduces the partials itself: no third barrier
}

}  // namespace memgrad::cuda
