#include "nn/optim/clip.h"

#include <cmath>

#include "autograd/ops.h"

namespace memgrad::optim {

double grad_norm(const std::vector<Tensor>& params) {
  NoGradGuard no_grad;
  double sq = 0;
  for (const Tensor& p : params) {
    MG_CHECK(p.defined(), "clip_grad_norm", "a parameter is undefined");
    Tensor g = p.grad();
    if (!g.defined() || g.numel() == 0) continue;
    Tensor g64 = to(g, DType::float64);  // float32 squares overflow from 1.8e19
    sq += to(sum(g64 * g64), Device::cpu()).item<double>();
  }
  return std::sqrt(sq);
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  MG_CHECK(max_norm > 0 && std::isfinite(max_norm), "clip_grad_norm", "max_norm must be a finite number > 0, got {}",
           max_norm);
  const double norm = grad_norm(params);
  MG_CHECK(std::isfinite(norm), "clip_grad_norm", "gradient norm is not finite ({}): a gradient holds inf or NaN",
           norm);
  if (norm <= max_norm) return norm;
  NoGradGuard no_grad;
  const double coef = max_norm / (norm + 1e-6);
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined() || g.numel() == 0) continue;
    mul_(g, coef);  // in place: whoever holds the gradient sees the clipped one
  }
  return norm;
}

}  // namespace memgrad::optim
