// Sparse-row kernels of the top-k feed-forward layer (the contracts: backends/backend.h).
// row_topk: one block per row (grid-stride over rows) runs the radix select of radix_select.cuh
// on the row's F scores (8 bits a pass) and compacts the chosen columns in ascending order, ties
// at the threshold to the lower columns, NaN above +inf: the CPU's order (cpu/topk_select.h).
// The gathers run one thread per output element (sum) or one warp per (row, pick) (dot); the
// scatter adds atomically, one thread per (row, pick, column).
#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/device_math.cuh"
#include "backends/cuda/kernel_args.h"
#include "backends/cuda/radix_select.cuh"
#include "backends/cuda/sparse_rows_kernels.h"

namespace memgrad::cuda {
namespace {

constexpr int kWarpsPerBlock = kThreads / 32;

template <class T>
__global__ void __launch_bounds__(kThreads)
    row_topk_kernel(T* S, const T* bias, int64_t R, int64_t F, int64_t k, T* values, int64_t* idx) {
  using K = KeyT<T>;
  constexpr int kBits = 8 * sizeof(K);
  __shared__ int hist[256];
  __shared__ int2 scan_tot[33];
  __shared__ int s_digit, s_rem;
  const int tid = threadIdx.x, nthreads = blockDim.x;
  const int n = static_cast<int>(F), kk = static_cast<int>(k);
  const bool all = kk == n;  // every column is taken: no select
  for (int64_t row = blockIdx.x; row < R; row += gridDim.x) {
    T* s = S + row * F;  // [F]
    int64_t* I = idx + row * k;
    T* V = values + row * k;
    if (bias) {
      for (int j = tid; j < n; j += nthreads) s[j] += bias[j];
      __syncthreads();
    }
    // Radix select of the k-th largest key: prefix / mask hold its digits found so far, need the
    // rank left among the keys that share them.
    K prefix = 0, mask = 0;
    int need = kk;
    for (int shift = kBits - 8; !all && shift >= 0; shift -= 8) {
      for (int t = tid; t < 256; t += nthreads) hist[t] = 0;
      __syncthreads();
      for (int j = tid; j < n; j += nthreads) {
        const K key = radix_key(s[j]);
        if ((key & mask) == prefix) atomicAdd(&hist[static_cast<int>((key >> shift) & 255)], 1);
      }
      __syncthreads();
      if (tid < 32) search_digit(hist, need, true, &s_digit, &s_rem);
      __syncthreads();
      prefix |= static_cast<K>(s_digit) << shift;
      mask |= static_cast<K>(255) << shift;
      need = s_rem;  // keys equal to the threshold that are taken (the earliest)
      __syncthreads();  // everyone has read s_digit / s_rem before warp 0 writes them again
    }
    // Compaction in column order: keys above the threshold, and the first `need` equal to it.
    int run_gt = 0, run_eq = 0;
    for (int base = 0; base < n; base += nthreads) {
      const int j = base + tid;
      const bool in = j < n;
      const T v = in ? s[j] : T(0);
      const K key = in ? radix_key(v) : K(0);
      const bool gt = in && (all || key > prefix), eq = in && !all && key == prefix;
      int2 total;
      const int2 before = block_exclusive_scan(make_int2(gt, eq), scan_tot, total);
      const int gb = run_gt + before.x, eb = run_eq + before.y;
      if (gt || (eq && eb < need)) {
        const int pos = gb + min(eb, need);
        I[pos] = j;
        V[pos] = v;
      }
      run_gt += total.x, run_eq += total.y;
      if (run_gt + (all ? 0 : min(run_eq, need)) >= kk) break;  // block-uniform
    }
    __syncthreads();  // before the next row reuses the shared state
  }
}

template <class T>
__global__ void gather_rows_sum_kernel(const T* __restrict__ table, const int64_t* __restrict__ idx,
                                       const T* __restrict__ coef, T* __restrict__ out, int64_t R, int64_t k,
                                       int64_t D) {
  const int64_t n = R * D, step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const int64_t r = i / D, d = i % D;
    T acc = 0;
    for (int64_t j = 0; j < k; ++j) acc += coef[r * k + j] * table[idx[r * k + j] * D + d];
    out[i] = acc;
  }
}

template <class T>
__global__ void gather_rows_dot_kernel(const T* __restrict__ table, const int64_t* __restrict__ idx,
                                       const T* __restrict__ x, T* __restrict__ out, int64_t R, int64_t k,
                                       int64_t D) {
  const int lane = threadIdx.x & 31;
  const int64_t n = R * k;
  for (int64_t p = blockIdx.x * int64_t{kWarpsPerBlock} + threadIdx.x / 32; p < n;
       p += int64_t{gridDim.x} * kWarpsPerBlock) {
    const T* w = table + idx[p] * D;
    const T* xr = x + (p / k) * D;
    T acc = 0;
    for (int64_t d = lane; d < D; d += 32) acc += w[d] * xr[d];
    acc = warp_sum(acc);
    if (lane == 0) out[p] = acc;
  }
}

template <class T>
__global__ void scatter_rows_add_kernel(T* __restrict__ table, const int64_t* __restrict__ idx,
                                        const T* __restrict__ coef, const T* __restrict__ x, int64_t R, int64_t k,
                                        int64_t D) {
  const int64_t n = R * k * D, step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const int64_t p = i / D, d = i % D, r = p / k;
    atomicAdd(table + idx[p] * D + d, coef[p] * x[r * D + d]);
  }
}

}  // namespace

template <class T>
void launch_row_topk(T* s, const T* bias, int64_t R, int64_t F, int64_t k, T* values, int64_t* idx) {
  if (R <= 0 || k <= 0) return;
  const unsigned blocks = static_cast<unsigned>(R < (int64_t{1} << 20) ? R : (int64_t{1} << 20));
  row_topk_kernel<T><<<blocks, kThreads>>>(s, bias, R, F, k, values, idx);
}

template <class T>
void launch_gather_rows_sum(const T* table, const int64_t* idx, const T* coef, T* out, int64_t R, int64_t k,
                            int64_t D) {
  if (R * D <= 0) return;
  gather_rows_sum_kernel<T><<<blocks_for(R * D), kThreads>>>(table, idx, coef, out, R, k, D);
}

template <class T>
void launch_gather_rows_dot(const T* table, const int64_t* idx, const T* x, T* out, int64_t R, int64_t k,
                            int64_t D) {
  if (R * k <= 0) return;
  gather_rows_dot_kernel<T><<<blocks_for(R * k, kWarpsPerBlock), kThreads>>>(table, idx, x, out, R, k, D);
}

template <class T>
void launch_scatter_rows_add(T* table, const int64_t* idx, const T* coef, const T* x, int64_t R, int64_t k,
                             int64_t D) {
  if (R * k * D <= 0) return;
  scatter_rows_add_kernel<T><<<blocks_for(R * k * D), kThreads>>>(table, idx, coef, x, R, k, D);
}

#define MG_INSTANTIATE(T)                                                                                      \
  template void launch_row_topk<T>(T*, const T*, int64_t, int64_t, int64_t, T*, int64_t*);                    \
  template void launch_gather_rows_sum<T>(const T*, const int64_t*, const T*, T*, int64_t, int64_t, int64_t); \
  template void launch_gather_rows_dot<T>(const T*, const int64_t*, const T*, T*, int64_t, int64_t, int64_t); \
  template void launch_scatter_rows_add<T>(T*, const int64_t*, const T*, const T*, int64_t, int64_t, int64_t);
MG_INSTANTIATE(float)
MG_INSTANTIATE(double)
#undef MG_INSTANTIATE

}  // namespace memgrad::cuda
