// Reduction kernels over the middle dim of a contiguous [A, R, B] block (cpu_reduce.cpp's layout).
// Sums accumulate in acc_t (double / int64) as on the CPU; max and min use the CPU's step, where a
// NaN wins and then sticks, and start from the CPU's initial value (scalar_math.h's max_identity / min_identity).
#include <cuda_runtime.h>

#include <cfloat>
#include <cstdint>

#include "backends/cuda/device_math.cuh"
#include "backends/cuda/kernel_args.h"
#include "backends/cuda/reduce_kernels.h"
#include "backends/scalar_math.h"

namespace memgrad::cuda {
namespace {

// CpuBackend::reduce's initial value for input type In, as an accumulator.
template <class In>
__device__ __forceinline__ acc_t<In> reduce_init(ReduceOp op) {
  using Acc = acc_t<In>;
  switch (op) {
    case ReduceOp::sum: return Acc(0);
    case ReduceOp::max: return static_cast<Acc>(max_identity<In>());
    default: return static_cast<Acc>(min_identity<In>());
  }
}

// CpuBackend::reduce's step; also combines two partial results (NaN-propagating, associative).
template <class Acc>
__device__ __forceinline__ Acc reduce_step(ReduceOp op, Acc a, Acc v) {
  switch (op) {
    case ReduceOp::sum: return wrap_add(a, v);  // integers wrap (scalar_math.h)
    case ReduceOp::max: return v > a || v != v ? v : a;
    default: return v < a || v != v ? v : a;
  }
}

template <class Acc>
__device__ __forceinline__ Acc warp_reduce(ReduceOp op, Acc v) {
  return ::memgrad::cuda::warp_reduce(v, [op](Acc a, Acc b) { return reduce_step(op, a, b); });
}

__device__ __forceinline__ int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Row segments: x [A, R]; item (a, p) reduces x[a, p*chunk : (p+1)*chunk] into out[a * parts + p].
// A team of `team` threads (32: one warp; or the whole block) takes one item.
template <class In, class Out>
__global__ void reduce_rows_kernel(ReduceOp op, const In* x, Out* out, int64_t A, int64_t R, int64_t parts,
                                   int64_t chunk, int team) {
  using Acc = acc_t<In>;
  __shared__ Acc warp_acc[kThreads / 32];
  const int lane = threadIdx.x % team, slot = threadIdx.x / team, per_block = blockDim.x / team;
  const int64_t items = A * parts;
  // `first` is uniform over the block, so every thread runs every iteration (shuffles, barriers)
  for (int64_t first = static_cast<int64_t>(blockIdx.x) * per_block; first < items;
       first += static_cast<int64_t>(gridDim.x) * per_block) {
    const int64_t item = first + slot;
    Acc acc = reduce_init<In>(op);
    if (item < items) {
      const int64_t a = item / parts, lo = (item % parts) * chunk, hi = min64(R, lo + chunk);
      const In* row = x + a * R;
      for (int64_t r = lo + lane; r < hi; r += team) acc = reduce_step(op, acc, static_cast<Acc>(row[r]));
    }
    acc = warp_reduce(op, acc);
    if (team > 32) {  // the team is the block: combine its warps
      const int warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
      if (threadIdx.x % 32 == 0) warp_acc[warp] = acc;
      __syncthreads();
      if (warp == 0) acc = warp_reduce(op, threadIdx.x < nwarps ? warp_acc[threadIdx.x] : reduce_init<In>(op));
      __syncthreads();  // warp_acc is reused by the next item
    }
    if (lane == 0 && item < items) out[item] = static_cast<Out>(acc);
  }
}

// Column segments: x [A, R, B]; column c = (a * parts + p) * B + b reduces x[a, p*chunk : (p+1)*chunk, b]
// into out[c]. A block (tx, ty) takes tx adjacent columns (coalesced on b) and splits the segment
// over ty threads, combined in shared memory.
template <class In, class Out>
__global__ void reduce_cols_kernel(ReduceOp op, const In* x, Out* out, int64_t A, int64_t R, int64_t B,
                                   int64_t parts, int64_t chunk) {
  using Acc = acc_t<In>;
  __shared__ Acc part[kThreads];
  const int tx = blockDim.x, ty = blockDim.y, t = threadIdx.y * tx + threadIdx.x;
  const int64_t cols = A * parts * B;
  for (int64_t c0 = static_cast<int64_t>(blockIdx.x) * tx; c0 < cols; c0 += static_cast<int64_t>(gridDim.x) * tx) {
    const int64_t c = c0 + threadIdx.x;
    Acc acc = reduce_init<In>(op);
    if (c < cols) {
      const int64_t b = c % B, ap = c / B, a = ap / parts, lo = (ap % parts) * chunk, hi = min64(R, lo + chunk);
      const In* col = x + a * R * B + b;
      for (int64_t r = lo + threadIdx.y; r < hi; r += ty) acc = reduce_step(op, acc, static_cast<Acc>(col[r * B]));
    }
    part[t] = acc;
    __syncthreads();
    for (int s = ty / 2; s > 0; s >>= 1) {
      if (static_cast<int>(threadIdx.y) < s) part[t] = reduce_step(op, part[t], part[t + s * tx]);
      __syncthreads();
    }
    if (threadIdx.y == 0 && c < cols) out[c] = static_cast<Out>(part[t]);
    __syncthreads();  // part is reused by the next tile
  }
}

// Whether candidate (v, i) beats the best so far (bv, bi) (bi < 0: none yet): the first NaN if any,
// else the first extreme, as CpuBackend::arg_reduce's scan finds.
template <class T>
__device__ __forceinline__ bool arg_better(bool is_max, T v, int64_t i, T bv, int64_t bi) {
  if (i < 0) return false;
  if (bi < 0) return true;
  const bool vnan = v != v, bnan = bv != bv;
  if (bnan) return vnan && i < bi;
  if (vnan) return true;
  return (is_max ? v > bv : v < bv) || (v == bv && i < bi);
}

// Columns of x [A, R, B] as in reduce_cols_kernel (no segments); values / indices [A, B].
template <class T>
__global__ void arg_reduce_kernel(bool is_max, const T* x, T* values, int64_t* indices, int64_t A, int64_t R,
                                  int64_t B) {
  __shared__ T best_v[kThreads];
  __shared__ int64_t best_i[kThreads];
  const int tx = blockDim.x, ty = blockDim.y, t = threadIdx.y * tx + threadIdx.x;
  const int64_t cols = A * B;
  for (int64_t c0 = static_cast<int64_t>(blockIdx.x) * tx; c0 < cols; c0 += static_cast<int64_t>(gridDim.x) * tx) {
    const int64_t c = c0 + threadIdx.x;
    T bv = T(0);
    int64_t bi = -1;
    if (c < cols) {
      const T* col = x + (c / B) * R * B + c % B;
      for (int64_t r = threadIdx.y; r < R; r += ty) {
        const T v = col[r * B];
        if (arg_better(is_max, v, r, bv, bi)) bv = v, bi = r;
      }
    }
    best_v[t] = bv;
    best_i[t] = bi;
    __syncthreads();
    for (int s = ty / 2; s > 0; s >>= 1) {
      const int o = t + s * tx;
      if (static_cast<int>(threadIdx.y) < s && arg_better(is_max, best_v[o], best_i[o], best_v[t], best_i[t])) {
        best_v[t] = best_v[o];
        best_i[t] = best_i[o];
      }
      __syncthreads();
    }
    if (threadIdx.y == 0 && c < cols) {
      values[c] = best_v[t];
      indices[c] = best_i[t];
    }
    __syncthreads();  // best_v / best_i are reused by the next tile
  }
}

// Threads per row segment: a warp for short segments, the whole block for long ones.
int team_for(int64_t len) { return len > 1024 ? kThreads : 32; }

// Block shape (tx, ty) with tx * ty = kThreads for columns of a block [., R, B]: tx adjacent columns,
// and no more threads over R than R has rows (the spare ones take more columns).
dim3 cols_block(int64_t R, int64_t B) {
  int ty = kThreads / reduce_cols_tx(B);
  while (ty > 1 && ty / 2 >= R) ty /= 2;
  return dim3(kThreads / ty, ty);
}

template <class In, class Out>
void rows_pass(ReduceOp op, const In* x, Out* out, int64_t A, int64_t R, int64_t parts, int64_t chunk) {
  const int team = team_for(chunk);
  const unsigned blocks = blocks_for(A * parts, kThreads / team);
  reduce_rows_kernel<In, Out><<<blocks, kThreads>>>(op, x, out, A, R, parts, chunk, team);
}

template <class In, class Out>
void cols_pass(ReduceOp op, const In* x, Out* out, int64_t A, int64_t R, int64_t B, int64_t parts, int64_t chunk) {
  const dim3 block = cols_block(chunk, B);
  reduce_cols_kernel<In, Out><<<blocks_for(A * parts * B, block.x), block>>>(op, x, out, A, R, B, parts, chunk);
}

}  // namespace

template <class T>
void launch_reduce_rows(ReduceOp op, const T* x, T* out, int64_t A, int64_t R, ReduceSplit split, acc_t<T>* work) {
  // short rows: a warp per row would idle; the column kernel packs several rows into a warp
  if (split.parts <= 1 && R < 32) return cols_pass<T, T>(op, x, out, A, R, 1, 1, R);
  if (split.parts <= 1) return rows_pass<T, T>(op, x, out, A, R, 1, R);
  rows_pass<T, acc_t<T>>(op, x, work, A, R, split.parts, split.chunk);  // partials [A, parts]
  rows_pass<acc_t<T>, T>(op, work, out, A, split.parts, 1, split.parts);
}

template <class T>
void launch_reduce_cols(ReduceOp op, const T* x, T* out, int64_t A, int64_t R, int64_t B, ReduceSplit split,
                        acc_t<T>* work) {
  if (split.parts <= 1) return cols_pass<T, T>(op, x, out, A, R, B, 1, R);
  cols_pass<T, acc_t<T>>(op, x, work, A, R, B, split.parts, split.chunk);  // partials [A, parts, B]
  cols_pass<acc_t<T>, T>(op, work, out, A, split.parts, B, 1, split.parts);
}

template <class T>
void launch_arg_reduce(ReduceOp op, const T* x, T* values, int64_t* indices, int64_t A, int64_t R, int64_t B) {
  const dim3 block = cols_block(R, B);
  arg_reduce_kernel<T><<<blocks_for(A * B, block.x), block>>>(op == ReduceOp::max, x, values, indices, A, R, B);
}

#define MG_INST(T)                                                                                           \
  template void launch_reduce_rows<T>(ReduceOp, const T*, T*, int64_t, int64_t, ReduceSplit, acc_t<T>*);     \
  template void launch_reduce_cols<T>(ReduceOp, const T*, T*, int64_t, int64_t, int64_t, ReduceSplit,        \
                                      acc_t<T>*);                                                            \
  template void launch_arg_reduce<T>(ReduceOp, const T*, T*, int64_t*, int64_t, int64_t, int64_t);
MG_INST(float)
MG_INST(double)
MG_INST(int32_t)
MG_INST(int64_t)

}  // namespace memgrad::cuda
