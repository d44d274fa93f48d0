// Fused optimizer steps, in place (kernels in cuda_optim.cu); checks as on the CPU.
#include <cmath>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/optim_kernels.h"
#include "backends/cuda/strided_args.h"

namespace memgrad::cuda {
namespace {

void check_param(const char* op, const Tensor& param, const Tensor& grad) {
  MG_CHECK(param.defined() && grad.defined(), op, "parameter and gradient must be defined");
  check_float(param.dtype(), op);
  MG_CHECK(param.is_contiguous(), op, "the parameter (shape {}) must be contiguous", str(param.shape()));
  MG_CHECK(grad.shape() == param.shape() && grad.dtype() == param.dtype(), op,
           "gradient {} {} does not match the parameter {} {}", str(grad.shape()), to_string(grad.dtype()),
           str(param.shape()), to_string(param.dtype()));
}

void check_state(const char* op, const Tensor& param, const Tensor& s, const char* what) {
  MG_CHECK(s.defined(), op, "state '{}' is undefined", what);
  MG_CHECK(s.shape() == param.shape() && s.dtype() == param.dtype(), op,
           "state '{}' {} {} does not match the parameter {} {}", what, str(s.shape()), to_string(s.dtype()),
           str(param.shape()), to_string(param.dtype()));
  MG_CHECK(s.is_contiguous(), op, "state '{}' (shape {}) must be contiguous", what, str(s.shape()));
}

// Offsets of grad through a {param, grad} StridedArgs; a view with more dims than the kernels take
// (after coalescing) is copied first.
StridedArgs<2> grad_args(const char* op, const Tensor& param, Tensor& grad) {
  if (!grad.is_contiguous() && grad.dim() > kMaxDims) grad = contiguous_copy(grad);
  return strided_args<2>(op, param.shape(), {&param, &grad});
}

}  // namespace

void CudaBackend::sgd_step(Tensor& param, const Tensor& grad_in, Tensor& momentum_buf, double lr, double momentum,
                           double dampening, double weight_decay, bool nesterov, bool first_step) {
  check_param("sgd_step", param, grad_in);
  const bool use_buf = momentum != 0;
  if (use_buf) check_state("sgd_step", param, momentum_buf, "momentum_buffer");
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
  check_param("adam_step", param, grad_in);
  check_state("adam_step", param, exp_avg, "exp_avg");
  check_state("adam_step", param, exp_avg_sq, "exp_avg_sq");
  MG_CHECK(step >= 1, "adam_step", "step counts from 1, got {}", step);
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
