#pragma once
// Builds StridedArgs from tensors on the host: dims coalesced as on the CPU (size-1 dims dropped,
// dims contiguous for every operand merged), so most launches see one dim and the fast path.
#include <array>

#include "backends/cpu/strided_loop.h"
#include "backends/cuda/kernel_args.h"
#include "core/error.h"
#include "core/tensor.h"

namespace memgrad::cuda {

// Operand 0 is usually the output; every operand has `shape` (broadcast inputs as expanded views).
template <int K>
StridedArgs<K> strided_args(const char* op, const Shape& shape, const std::array<const Tensor*, K>& operands) {
  std::array<const Strides*, K> st;
  for (int k = 0; k < K; ++k) st[k] = &operands[k]->strides();
  const auto L = cpu::make_loop<K>(shape, st);
  MG_CHECK(static_cast<int>(L.shape.size()) <= kMaxDims, op, "shape {} has {} non-mergeable dims; the CUDA kernels take at most {}",
           str(shape), L.shape.size(), kMaxDims);
  StridedArgs<K> a;
  a.ndim = static_cast<int>(L.shape.size());
  bool dense = a.ndim == 1;
  for (int d = 0; d < a.ndim; ++d) a.sizes[d] = L.shape[d];
  for (int k = 0; k < K; ++k)
    for (int d = 0; d < a.ndim; ++d) {
      a.strides[k][d] = L.strides[k][d];
      if (a.ndim == 1 && L.strides[k][d] != 1) dense = false;
    }
  a.contiguous = dense;
  return a;
}

}  // namespace memgrad::cuda
