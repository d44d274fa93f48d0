// Fused optimizer steps, in place (kernels in cuda_optim.cu). The arguments were checked by the
// ops (autograd/ops/optim_steps.cpp), as backend.h states.
#include <cmath>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/optim_kernels.h"
#include "backends/cuda/strided_args.h"

namespace memgrad::cuda {
namespace {

// Offsets of grad through a {param, grad} StridedArgs; a view with more dims than the kernels take
// (after coalescing) is copied first.
StridedArgs<2> grad_args(const char* op, const Tensor& param, Tensor& grad) {
  if (!grad.is_contiguous() && grad.dim() > kMaxDims) grad = contiguous_copy(grad);
  return strided_args<2>(op, param.shape(), {&param, &grad});
}

}  // namespace

void CudaBackend::sgd_step(Tensor& param, const Tensor& grad_in, Tensor& momentum_buf, double lr, double momentum,
                           double dampening, double weight_decay, bool nesterov, bool first_step) {
  const bool use_buf = momentum != 0;
  Tensor grad = grad_in;
  const StridedArgs<2> ga = grad_args("sgd_step", param, grad);
  const int64_t n = param.numel();
  dispatch_float(param.dtype(), "sgd_step", [&]<class T>() {
    if (n == 0) return;
    launch_sgd_step<T>(param.data<T>(), grad.data<T>(), ga, use_buf ? momentum_buf.data<T>() : nullptr, n, lr,
                       momentum, dampening, weight_decay, nesterov, first_step);
    check_launch("sgd_step");
  });
}

void CudaBackend::adam_step(Tensor& param, const Tensor& grad_in, Tensor& exp_avg, Tensor& exp_avg_sq, double lr,
                            double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                            int64_t step) {
  Tensor grad = grad_in;
  const StridedArgs<2> ga = grad_args("adam_step", param, grad);
  const double bc1 = 1 - std::pow(beta1, static_cast<double>(step));
  const double bc2_sqrt = std::sqrt(1 - std::pow(beta2, static_cast<double>(step)));
  const int64_t n = param.numel();
  dispatch_float(param.dtype(), "adam_step", [&]<class T>() {
    if (n == 0) return;
    launch_adam_step<T>(param.data<T>(), grad.data<T>(), ga, exp_avg.data<T>(), exp_avg_sq.data<T>(), n, lr, beta1,
                        beta2, eps, weight_decay, decoupled, bc1, bc2_sqrt);
    check_launch("adam_step");
  });
}

}  // namespace memgrad::cuda
