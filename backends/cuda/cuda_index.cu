// Index kernels: index_select / index_add along a dim, gather / scatter_add (torch semantics).
// Indices are checked by a separate kernel before any of these runs, so they index in range.
#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/index_kernels.h"
#include "backends/cuda/kernel_args.h"

namespace memgrad::cuda {
namespace {

__device__ __forceinline__ void atomic_add(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(double* p, double v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(int32_t* p, int32_t v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(int64_t* p, int64_t v) {
  // two's complement: an unsigned add is the signed add
  atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
}

template <class I>
__global__ void find_bad_index_kernel(const I* __restrict__ idx, int64_t n, int64_t size, bool has_ignore,
                                      int64_t ignore, unsigned long long* first_bad) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const int64_t v = idx[i];
    if ((has_ignore && v == ignore) || (v >= 0 && v < size)) continue;
    atomicMin(first_bad, static_cast<unsigned long long>(i));
  }
}

template <class E, class I>
__global__ void index_select_kernel(const E* __restrict__ src, const I* __restrict__ idx, E* __restrict__ out,
                                    int64_t n, int64_t S, int64_t L, int64_t B) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const int64_t b = i % B, al = i / B, l = al % L, a = al / L;
    out[i] = src[(a * S + static_cast<int64_t>(idx[l])) * B + b];
  }
}

template <class T, class I>
__global__ void index_add_kernel(T* __restrict__ dst, const I* __restrict__ idx, const T* __restrict__ src,
                                 int64_t n, int64_t S, int64_t L, int64_t B) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const int64_t b = i % B, al = i / B, l = al % L, a = al / L;
    atomic_add(dst + (a * S + static_cast<int64_t>(idx[l])) * B + b, src[i]);
  }
}

template <class E, class I>
__global__ void gather_kernel(const E* __restrict__ src, const I* __restrict__ idx, E* __restrict__ out, int64_t n,
                              int64_t J, int64_t B, int64_t S, int64_t SB) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const int64_t a = i / (J * B), b = i % B;
    out[i] = src[(a * S + static_cast<int64_t>(idx[i])) * SB + b];
  }
}

template <class T, class I>
__global__ void scatter_add_kernel(T* __restrict__ dst, const I* __restrict__ idx, const T* __restrict__ src,
                                   int64_t n, int64_t J, int64_t B, int64_t S, int64_t SB) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const int64_t a = i / (J * B), b = i % B;
    atomic_add(dst + (a * S + static_cast<int64_t>(idx[i])) * SB + b, src[i]);
  }
}

}  // namespace

template <class I>
void launch_find_bad_index(const I* idx, int64_t n, int64_t size, bool has_ignore, int64_t ignore,
                           unsigned long long* first_bad) {
  find_bad_index_kernel<I><<<blocks_for(n), kThreads>>>(idx, n, size, has_ignore, ignore, first_bad);
}

template <class E, class I>
void launch_index_select(const E* src, const I* idx, E* out, int64_t A, int64_t S, int64_t L, int64_t B) {
  const int64_t n = A * L * B;
  index_select_kernel<E, I><<<blocks_for(n), kThreads>>>(src, idx, out, n, S, L, B);
}

template <class T, class I>
void launch_index_add(T* dst, const I* idx, const T* src, int64_t A, int64_t S, int64_t L, int64_t B) {
  const int64_t n = A * L * B;
  index_add_kernel<T, I><<<blocks_for(n), kThreads>>>(dst, idx, src, n, S, L, B);
}

template <class E, class I>
void launch_gather(const E* src, const I* idx, E* out, int64_t A, int64_t J, int64_t B, int64_t S, int64_t SB) {
  const int64_t n = A * J * B;
  gather_kernel<E, I><<<blocks_for(n), kThreads>>>(src, idx, out, n, J, B, S, SB);
}

template <class T, class I>
void launch_scatter_add(T* dst, const I* idx, const T* src, int64_t A, int64_t J, int64_t B, int64_t S, int64_t SB) {
  const int64_t n = A * J * B;
  scatter_add_kernel<T, I><<<blocks_for(n), kThreads>>>(dst, idx, src, n, J, B, S, SB);
}

#define MG_INDEX_INSTANTIATE_I(I)                                                                                \
  template void launch_find_bad_index<I>(const I*, int64_t, int64_t, bool, int64_t, unsigned long long*);
#define MG_INDEX_INSTANTIATE_COPY(E, I)                                                                          \
  template void launch_index_select<E, I>(const E*, const I*, E*, int64_t, int64_t, int64_t, int64_t);          \
  template void launch_gather<E, I>(const E*, const I*, E*, int64_t, int64_t, int64_t, int64_t, int64_t);
#define MG_INDEX_INSTANTIATE_ADD(T, I)                                                                           \
  template void launch_index_add<T, I>(T*, const I*, const T*, int64_t, int64_t, int64_t, int64_t);             \
  template void launch_scatter_add<T, I>(T*, const I*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t);
#define MG_INDEX_INSTANTIATE(I)          \
  MG_INDEX_INSTANTIATE_I(I)              \
  MG_INDEX_INSTANTIATE_COPY(uint8_t, I)  \
  MG_INDEX_INSTANTIATE_COPY(uint32_t, I) \
  MG_INDEX_INSTANTIATE_COPY(uint64_t, I) \
  MG_INDEX_INSTANTIATE_ADD(float, I)     \
  MG_INDEX_INSTANTIATE_ADD(double, I)    \
  MG_INDEX_INSTANTIATE_ADD(int32_t, I)   \
  MG_INDEX_INSTANTIATE_ADD(int64_t, I)
MG_INDEX_INSTANTIATE(int32_t)
MG_INDEX_INSTANTIATE(int64_t)

}  // namespace memgrad::cuda
