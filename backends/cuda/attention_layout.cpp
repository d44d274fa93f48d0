// The input layouts of attention_kernels.h: the strides of q/k/v views in the attention input
// layout (backend.h; the contract and the copy live in backends/attention_layout.cpp, shared with
// the CPU). Host code only, without cuBLAS, so tests/cuda_emu links it as it is.
#include "backends/backend.h"
#include "backends/cuda/attention_kernels.h"
#include "backends/cuda/cuda_backend.h"
#include "core/dtype.h"
#include "core/tensor.h"

namespace memgrad::cuda {

HeadLayout head_layout(const Tensor& t) { return {t.strides()[0], t.strides()[1], t.strides()[2]}; }

GemmOperand head_operand(const Tensor& t, int64_t n0) {
  const int64_t ld = attention_row_ld(t);  // a single row's stride is arbitrary; cuBLAS needs ld >= D
  const int64_t bytes = n0 * ld * static_cast<int64_t>(itemsize(t.dtype()));
  const auto* base = static_cast<const char*>(t.raw_data()) + bytes;
  return {base, ld, t.strides()[0], t.strides()[1]};
}

}  // namespace memgrad::cuda
