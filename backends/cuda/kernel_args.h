#pragma once
// What host code passes to element-wise kernels: the output's (coalesced) shape and each
// operand's strides, by value. Plain C++ so both .cpp and .cu files include it.
#include <cstdint>

namespace memgrad::cuda {

constexpr int kMaxDims = 8;  // after coalescing; more is refused with a clear error
constexpr int kThreads = 256;

template <int K>
struct StridedArgs {
  int ndim = 1;
  int64_t sizes[kMaxDims] = {1};
  int64_t strides[K][kMaxDims] = {};
  bool contiguous = false;  // every operand dense row-major over `sizes`: offsets are the linear index
};

// Grid size for a grid-stride loop over n elements.
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > 65535 * 8) b = 65535 * 8;
  return static_cast<unsigned>(b);
}

#ifdef __CUDACC__
// Element offsets of linear index i for each operand.
template <int K>
__device__ __forceinline__ void strided_offsets(const StridedArgs<K>& a, int64_t i, int64_t (&off)[K]) {
  if (a.contiguous) {
    for (int k = 0; k < K; ++k) off[k] = i;
    return;
  }
  for (int k = 0; k < K; ++k) off[k] = 0;
  for (int d = a.ndim - 1; d >= 0; --d) {
    const int64_t idx = i % a.sizes[d];
    i /= a.sizes[d];
    for (int k = 0; k < K; ++k) off[k] += idx * a.strides[k][d];
  }
}
#endif

}  // namespace memgrad::cuda
