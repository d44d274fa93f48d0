// Gradient checks by central finite differences in float64.
#include <cmath>

#include "autograd/node.h"
#include "autograd/ops.h"

namespace memgrad {
namespace {

// sum over outputs of sum(out * w): a scalar whose gradient exercises every output element.
Tensor weighted_sum(const std::vector<Tensor>& outs, const std::vector<Tensor>& weights) {
  Tensor total = zeros({}, DType::float64);
  for (size_t i = 0; i < outs.size(); ++i)
    if (weights[i].defined()) total = add(total, sum(mul(outs[i], weights[i])));
  return total;
}

}  // namespace

GradcheckResult gradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& opts) {
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].defined() && inputs[i].requires_grad()) {
      MG_CHECK(inputs[i].dtype() == DType::float64, "gradcheck", "input {} {} is {}; gradcheck needs float64", i,
               str(inputs[i].shape()), to_string(inputs[i].dtype()));
      MG_CHECK(inputs[i].device().is_cpu(), "gradcheck", "input {} must be on the cpu", i);
      inputs[i].impl()->grad = nullptr;
    }

  // fixed random weights per float output
  Generator wgen(20240917);
  std::vector<Tensor> outs = fn(inputs), weights;
  for (const auto& o : outs)
    weights.push_back(o.defined() && o.dtype() == DType::float64 ? randn(o.shape(), DType::float64, &wgen)
                                                                  : Tensor());
  Tensor loss = weighted_sum(outs, weights);
  MG_CHECK(loss.requires_grad(), "gradcheck", "no output requires grad: nothing to check");
  loss.backward();

  GradcheckResult res;
  for (size_t i = 0; i < inputs.size() && res.ok; ++i) {
    const Tensor& x = inputs[i];
    if (!x.defined() || !x.requires_grad()) continue;
    Tensor analytic = x.grad().defined() ? x.grad() : zeros_like(x);
    std::vector<double> a = contiguous(analytic).to_vector<double>();
    double* base = x.data<double>();
    for (int64_t j = 0; j < x.numel(); ++j) {
      double& v = base[strided_offset(x.shape(), x.strides(), j, x.dim())];
      const double orig = v;
      double lp, lm;
      {
        NoGradGuard ng;
        v = orig + opts.eps;
        lp = weighted_sum(fn(inputs), weights).item<double>();
        v = orig - opts.eps;
        lm = weighted_sum(fn(inputs), weights).item<double>();
      }
      v = orig;
      double numeric = (lp - lm) / (2 * opts.eps);
      if (!(std::abs(a[j] - numeric) <= opts.atol + opts.rtol * std::abs(numeric))) {
        res.ok = false;
        res.message = fmt::format("input {} (shape {}), element {}: analytic {:.10g}, numeric {:.10g}", i,
                                  str(x.shape()), j, a[j], numeric);
        break;
      }
    }
  }
  return res;
}

}  // namespace memgrad
