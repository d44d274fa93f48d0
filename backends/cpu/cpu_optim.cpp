// Fused optimizer steps: one pass over param, grad and state, in place (PyTorch's formulas). The
// arguments were checked by the ops (autograd/ops/optim_steps.cpp), as backend.h states.
#include <cmath>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/parallel.h"

namespace memgrad::cpu {

void CpuBackend::sgd_step(Tensor& param, const Tensor& grad_in, Tensor& momentum_buf, double lr, double momentum,
                          double dampening, double weight_decay, bool nesterov, bool first_step) {
  const bool use_buf = momentum != 0;
  Tensor grad = contiguous_copy(grad_in);
  dispatch_float(param.dtype(), "sgd_step", [&]<class T>() {
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* b = use_buf ? momentum_buf.data<T>() : nullptr;
    const T lr_t = static_cast<T>(lr), mom = static_cast<T>(momentum), keep = static_cast<T>(1 - dampening),
            wd = static_cast<T>(weight_decay);
    parallel_for(param.numel(), 4, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        T d = g[i];
        if (weight_decay != 0) d += wd * p[i];
        if (use_buf) {
          b[i] = first_step ? d : mom * b[i] + keep * d;
          d = nesterov ? d + mom * b[i] : b[i];
        }
        p[i] -= lr_t * d;
      }
    });
  });
}

void CpuBackend::adam_step(Tensor& param, const Tensor& grad_in, Tensor& exp_avg, Tensor& exp_avg_sq, double lr,
                           double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                           int64_t step) {
  Tensor grad = contiguous_copy(grad_in);
  const double bc1 = 1 - std::pow(beta1, static_cast<double>(step));
  const double bc2_sqrt = std::sqrt(1 - std::pow(beta2, static_cast<double>(step)));
  dispatch_float(param.dtype(), "adam_step", [&]<class T>() {
    T *p = param.data<T>(), *m = exp_avg.data<T>(), *v = exp_avg_sq.data<T>();
    const T* g = grad.data<T>();
    const T w1 = static_cast<T>(1 - beta1), b2 = static_cast<T>(beta2), w2 = static_cast<T>(1 - beta2);
    const T wd = static_cast<T>(weight_decay), shrink = static_cast<T>(1 - lr * weight_decay);
    const T neg_step_size = static_cast<T>(-(lr / bc1)), bc2 = static_cast<T>(bc2_sqrt), eps_t = static_cast<T>(eps);
    const bool l2 = !decoupled && weight_decay != 0, shrink_p = decoupled && weight_decay != 0;
    parallel_for(param.numel(), 16, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        T gi = g[i];
        if (l2) gi += wd * p[i];
        if (shrink_p) p[i] *= shrink;
        // exp_avg.lerp_(grad, 1 - beta1) as ATen computes lerp (two forms, by the weight)
        m[i] = w1 < T(0.5) ? m[i] + w1 * (gi - m[i]) : gi - (gi - m[i]) * (T(1) - w1);
        v[i] = v[i] * b2 + w2 * gi * gi;
        T denom = std::sqrt(v[i]) / bc2 + eps_t;
        p[i] += neg_step_size * (m[i] / denom);
      }
    });
  });
}

}  // namespace memgrad::cpu
