// The attention kernels' input layout contract (backend.h, "Attention input layout"), in one place
// for autograd, the CPU kernels and the CUDA kernels. Backend-neutral host code.
#include <algorithm>
#include <climits>

#include "backends/backend.h"

namespace memgrad {

bool attention_layout_ok(const Tensor& t) {
  if (t.dim() != 4) return false;
  if (t.numel() == 0) return true;  // nothing is read: the kernels only form pointers
  const Shape& s = t.shape();
  const Strides& st = t.strides();
  for (int64_t d = 0; d < 4; ++d)
    if (s[d] > 1 && st[d] < 0) return false;
  if (s[3] > 1 && st[3] != 1) return false;  // unit stride along a row
  // rows that do not overlap, a valid BLAS leading dim (lda >= row length, 32-bit)
  if (s[2] > 1 && (st[2] < s[3] || st[2] > INT_MAX)) return false;
  return true;
}

int64_t attention_row_ld(const Tensor& t) {
  const int64_t D = t.shape()[3];
  // a single row, or rows of nothing, may have any stride; BLAS only needs ld >= max(D, 1)
  return t.shape()[2] > 1 && D > 0 ? t.strides()[2] : std::max<int64_t>(D, 1);
}

Tensor attention_input(const Tensor& t) {
  if (attention_layout_ok(t)) return t;
  Tensor out = empty(t.shape(), t.dtype(), t.device());  // contiguous: meets the contract
  backend_for(t.device()).copy(t, out);
  return out;
}

}  // namespace memgrad
