// Fused optimizer updates: the argument checks (once, for every backend) and the version bumps;
// the arithmetic is the backends' sgd_step / adam_step kernels.
#include "autograd/ops.h"
#include "backends/backend.h"

namespace memgrad {

namespace {

void check_param(const char* op, const Tensor& param, const Tensor& grad) {
  MG_CHECK(param.defined() && grad.defined(), op, "parameter and gradient must be defined");
  check_float(param.dtype(), op);
  MG_CHECK(!(grad_enabled() && param.requires_grad()), op,
           "the parameter (shape {}) requires grad and grad mode is on: step under NoGradGuard", str(param.shape()));
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

}  // namespace

void sgd_step_(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf, const SgdStep& o) {
  check_param("sgd_step", param, grad);
  const bool use_buf = o.momentum != 0;
  if (use_buf) check_state("sgd_step", param, momentum_buf, "momentum_buffer");
  Tensor p = param, buf = momentum_buf;
  backend_of("sgd_step", {&param, &grad, use_buf ? &momentum_buf : &param})
      .sgd_step(p, grad, buf, o.lr, o.momentum, o.dampening, o.weight_decay, o.nesterov, o.first_step);
  param.storage()->bump_version();
  if (use_buf) momentum_buf.storage()->bump_version();
}

void adam_step_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                const AdamStep& o) {
  check_param("adam_step", param, grad);
  check_state("adam_step", param, exp_avg, "exp_avg");
  check_state("adam_step", param, exp_avg_sq, "exp_avg_sq");
  MG_CHECK(o.step >= 1, "adam_step", "step counts from 1, got {}", o.step);
  Tensor p = param, m = exp_avg, v = exp_avg_sq;
  backend_of("adam_step", {&param, &grad, &exp_avg, &exp_avg_sq})
      .adam_step(p, grad, m, v, o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, o.decoupled, o.step);
  for (const Tensor* t : {&param, &exp_avg, &exp_avg_sq}) t->storage()->bump_version();
}

}  // namespace memgrad
