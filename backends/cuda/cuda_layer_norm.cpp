// Layer norm over the last dim and its backward (kernels in cuda_layer_norm.cu).
#include <algorithm>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/layer_norm_kernels.h"

namespace memgrad::cuda {

void CudaBackend::layer_norm(const Tensor& x_in, const Tensor& weight, const Tensor& bias, double eps, Tensor& out,
                             Tensor& mean, Tensor& rstd) {
  Tensor x = contiguous_copy(x_in);  // [R, C]
  Tensor w = weight.defined() ? contiguous_copy(weight) : weight;  // [C]
  Tensor b = bias.defined() ? contiguous_copy(bias) : bias;        // [C]
  const int64_t C = x.shape().back(), R = x.numel() / std::max<int64_t>(C, 1);
  dispatch_float(x.dtype(), "layer_norm", [&]<class T>() {
    if (R == 0) return;
    launch_layer_norm<T>(x.data<T>(), w.defined() ? w.data<T>() : nullptr, b.defined() ? b.data<T>() : nullptr,
                         out.data<T>(), mean.data<T>(), rstd.data<T>(), R, C, eps);
    check_launch("layer_norm");
  });
}

void CudaBackend::layer_norm_backward(const Tensor& grad_in, const Tensor& x_in, const Tensor& weight,
                                      const Tensor& mean_in, const Tensor& rstd_in, Tensor& grad_x,
                                      Tensor& grad_weight, Tensor& grad_bias) {
  Tensor x = contiguous_copy(x_in), g = contiguous_copy(grad_in);  // [R, C]
  Tensor w = weight.defined() ? contiguous_copy(weight) : weight;  // [C]
  Tensor mean = contiguous_copy(mean_in), rstd = contiguous_copy(rstd_in);  // [R]
  const int64_t C = x.shape().back(), R = x.numel() / std::max<int64_t>(C, 1);
  dispatch_float(x.dtype(), "layer_norm_backward", [&]<class T>() {
    // grad_weight and grad_bias first: grad_x may overwrite grad (backend.h)
    if ((grad_weight.defined() || grad_bias.defined()) && C > 0) {
      // per-chunk column sums in double: [chunks, 2, C] (no rows: the sums are 0)
      Tensor partials = empty({layer_norm_wb_chunks(R), 2, C}, DType::float64, x.device());
      launch_layer_norm_backward_wb<T>(g.data<T>(), x.data<T>(), mean.data<T>(), rstd.data<T>(),
                                       partials.data<double>(),
                                       grad_weight.defined() ? grad_weight.data<T>() : nullptr,
                                       grad_bias.defined() ? grad_bias.data<T>() : nullptr, R, C);
      check_launch("layer_norm_backward");
    }
    if (grad_x.defined() && R > 0) {
      launch_layer_norm_backward_x<T>(g.data<T>(), x.data<T>(), w.defined() ? w.data<T>() : nullptr,
                                      mean.data<T>(), rstd.data<T>(), grad_x.data<T>(), R, C);
      check_launch("layer_norm_backward");
    }
  });
}

}  // namespace memgrad::cuda
