#pragma once
// Tensors as rows: the [..., cols] <-> [R, cols] views that the row-wise ops (linear, topk_linear,
// sparse_linear) hand their kernels.
#include "autograd/ops.h"

namespace memgrad::rows {

// The dims before the last.
inline Shape leading(const Shape& s) { return Shape(s.begin(), s.end() - 1); }

inline Shape with_last(const Shape& lead, int64_t last) {
  Shape s = lead;
  s.push_back(last);
  return s;
}

// t [..., cols] as a contiguous [R, cols] tensor without history (t's storage when it already is).
inline Tensor rows_of(const Tensor& t, int64_t cols) {
  const int64_t R = numel(leading(t.shape()));
  Tensor c = contiguous(detach(t));
  return alias(c, {R, cols}, {cols, 1}, c.offset());
}

// Rows [r0, r0 + n) of a contiguous [R, cols] tensor.
inline Tensor row_block(const Tensor& t, int64_t r0, int64_t n) {
  const int64_t cols = t.shape()[1];
  return alias(t, {n, cols}, {cols, 1}, t.offset() + r0 * cols);
}

}  // namespace memgrad::rows
