// Cross-entropy from logits with ignore_index and label smoothing (kernels in cuda_loss.cu).
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/index_check.h"
#include "backends/cuda/loss_kernels.h"

namespace memgrad::cuda {
namespace {

// target as a contiguous tensor of entries in [0, C) or equal to ignore_index; errors as on the CPU.
Tensor checked_targets(const Tensor& target, int64_t C, int64_t ignore_index) {
  Tensor t = contiguous_copy(target);  // [N]
  int64_t v = 0;
  const int64_t pos = first_bad_index("cross_entropy", t, C, true, ignore_index, v);
  MG_CHECK(pos < 0, "cross_entropy", "target {} at position {} is out of range for {} classes", v, pos, C);
  return t;
}

}  // namespace

void CudaBackend::cross_entropy(const Tensor& logits_in, const Tensor& target, int64_t ignore_index,
                                double label_smoothing, Tensor& losses, Tensor& lse) {
  Tensor logits = contiguous_copy(logits_in);  // [N, C]
  const int64_t N = logits.shape()[0], C = logits.shape()[1];
  Tensor tg = checked_targets(target, C, ignore_index);  // [N]
  dispatch_float(logits.dtype(), "cross_entropy", [&]<class T>() {
    if (N == 0) return;
    dispatch_index(tg.dtype(), "cross_entropy", [&]<class I>() {
      launch_cross_entropy<T, I>(logits.data<T>(), tg.data<I>(), losses.data<T>(), lse.data<T>(), N, C, ignore_index,
                                 label_smoothing);
    });
    check_launch("cross_entropy");
  });
}

void CudaBackend::cross_entropy_backward(const Tensor& logits_in, const Tensor& target, const Tensor& lse,
                                         const Tensor& scale, int64_t ignore_index, double label_smoothing,
                                         Tensor& grad_logits) {
  Tensor logits = contiguous_copy(logits_in);  // [N, C]
  const int64_t N = logits.shape()[0], C = logits.shape()[1];
  Tensor tg = checked_targets(target, C, ignore_index);  // [N]
  dispatch_float(logits.dtype(), "cross_entropy_backward", [&]<class T>() {
    if (N * C == 0) return;
    // lse and scale [N] read in place through their stride (scale is often an expanded scalar)
    dispatch_index(tg.dtype(), "cross_entropy_backward", [&]<class I>() {
      launch_cross_entropy_backward<T, I>(logits.data<T>(), tg.data<I>(), lse.data<T>(), lse.strides()[0],
                                          scale.data<T>(), scale.strides()[0], grad_logits.data<T>(), N, C,
                                          ignore_index, label_smoothing);
    });
    check_launch("cross_entropy_backward");
  });
}

}  // namespace memgrad::cuda
