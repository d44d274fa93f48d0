// The input layouts of attention_kernels.h: which q/k/v views the kernels and cuBLAS take as they
// are, and their strides. Host code only, without cuBLAS, so tests/cuda_emu links it as it is.
#include <algorithm>

#include "backends/cuda/attention_kernels.h"
#include "backends/cuda/cuda_backend.h"
#include "core/dtype.h"
#include "core/tensor.h"

namespace memgrad::cuda {

Tensor attn_input(const Tensor& t) {
  const Shape& s = t.shape();
  const Strides& st = t.strides();
  bool ok = std::all_of(st.begin(), st.end(), [](int64_t x) { return x >= 0; });
  if (s[3] > 1 && st[3] != 1) ok = false;
  if (s[2] > 1 && st[2] < s[3]) ok = false;  // overlapping rows: no valid cuBLAS leading dim
  return ok ? t : contiguous_copy(t);
}

HeadLayout head_layout(const Tensor& t) { return {t.strides()[0], t.strides()[1], t.strides()[2]}; }

GemmOperand head_operand(const Tensor& t, int64_t n0) {
  const int64_t D = t.shape()[3];
  // a single row's stride is arbitrary; cuBLAS only needs ld >= the row length
  const int64_t ld = t.shape()[2] > 1 ? std::max<int64_t>(t.strides()[2], 1) : std::max<int64_t>(D, 1);
  const int64_t bytes = n0 * t.strides()[2] * static_cast<int64_t>(itemsize(t.dtype()));
  const auto* base = static_cast<const char*>(t.raw_data()) + bytes;
  return {base, ld, t.strides()[0], t.strides()[1]};
}

}  // namespace memgrad::cuda
