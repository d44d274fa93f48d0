#pragma once
// How a gemm (cblas or cuBLAS) reads a strided view in place: the one rule both backends' matmul
// use (backends/cpu/cpu_matmul.cpp, backends/cuda/cuda_matmul.cpp). Host code, no device code.
#include <algorithm>
#include <cstdint>

#include "core/tensor.h"

namespace memgrad {

// How gemm can read the last two dims [rows, cols] of a view.
struct MatLayout {
  bool ok;     // false: needs a contiguous copy
  bool trans;  // stored column-major
  int64_t ld;  // the leading dimension, in elements
};

inline MatLayout gemm_layout(const Tensor& t) {
  const int64_t nd = t.dim(), rows = t.shape()[nd - 2], cols = t.shape()[nd - 1];
  int64_t rs = t.strides()[nd - 2], cs = t.strides()[nd - 1];
  if (cols == 1) cs = 1;                           // a single column: its stride is irrelevant
  if (rows == 1) rs = std::max<int64_t>(cols, 1);  // a single row likewise
  if (cs == 1 && rs >= std::max<int64_t>(cols, 1)) return {true, false, rs};
  if (rs == 1 && cs >= std::max<int64_t>(rows, 1)) return {true, true, cs};
  return {false, false, 0};
}

// True when the batch dims of `a` stack its rows evenly (row stride la.ld), so [batch, M, K] is
// one [batch*M, K] matrix, and `b` is the same matrix for every batch (all batch strides 0): then
// one gemm does the whole batch.
inline bool gemm_foldable(const Tensor& a, const MatLayout& la, const Tensor& b) {
  if (la.trans) return false;
  const int64_t nd = a.dim();
  int64_t expect = a.shape()[nd - 2] * la.ld;
  for (int64_t d = nd - 3; d >= 0; --d) {
    if (a.shape()[d] == 1) continue;
    if (a.strides()[d] != expect) return false;
    expect *= a.shape()[d];
  }
  for (int64_t d = 0; d < b.dim() - 2; ++d)
    if (b.shape()[d] != 1 && b.strides()[d] != 0) return false;
  return true;
}

}  // namespace memgrad
