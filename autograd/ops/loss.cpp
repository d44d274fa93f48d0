// Cross-entropy from logits, fused with log-softmax.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "backends/backend.h"

namespace memgrad {

Tensor cross_entropy(const Tensor& logits_in, const Tensor& target_in, const CrossEntropyOptions& opts) {
  Backend& be = backend_of("cross_entropy", {&logits_in, &target_in});
  check_float(logits_in.dtype(), "cross_entropy");
  MG_CHECK(target_in.dtype() == DType::int32 || target_in.dtype() == DType::int64, "cross_entropy",
           "target must be int32 or int64, got {} {}", to_string(target_in.dtype()), str(target_in.shape()));
  MG_CHECK(opts.label_smoothing >= 0 && opts.label_smoothing <= 1, "cross_entropy",
           "label_smoothing must be in [0, 1], got {}", opts.label_smoothing);
  // a single sample: logits [C], target []
  bool single = logits_in.dim() == 1;
  Tensor logits = single ? unsqueeze(logits_in, 0) : logits_in;  // [N, C]
  Tensor target = single ? reshape(target_in, {1}) : target_in;  // [N]
  MG_CHECK(logits.dim() == 2 && target.dim() == 1 && target.shape()[0] == logits.shape()[0], "cross_entropy",
           "logits {} and target {} do not match (expected [N, C] and [N])", str(logits_in.shape()),
           str(target_in.shape()));
  MG_CHECK(logits.shape()[1] > 0, "cross_entropy", "logits {} have no classes", str(logits_in.shape()));
  const int64_t N = logits.shape()[0];
  Tensor losses = empty({N}, logits.dtype(), logits.device()), lse = empty({N}, logits.dtype(), logits.device());
  be.cross_entropy(logits, target, opts.ignore_index, opts.label_smoothing, losses, lse);

  // the reduction, and the per-row scale its backward applies
  double count = 0;
  Tensor out;
  {
    NoGradGuard ng;
    Tensor valid = to(ne(target, scalar(static_cast<double>(opts.ignore_index), target.dtype(), target.device())),
                      DType::float64);
    count = N == 0 ? 0.0 : sum(valid).to_vector<double>()[0];
    if (opts.reduction == Reduction::none) out = single ? reshape(losses, {}) : losses;
    else if (opts.reduction == Reduction::sum) out = sum(losses);
    else out = count > 0 ? div(sum(losses), scalar(count, losses.dtype(), losses.device()))
                    : zeros({}, losses.dtype(), losses.device());  // nothing to average: 0, not NaN
  }
  Tensor sl = saved(logits), st = saved(target), sz = saved(lse);
  Reduction red = opts.reduction;
  return finish("cross_entropy", {logits}, out, [=](const Tensor& g) {
    Tensor scale;  // [N]
    if (red == Reduction::none) scale = reshape(g, {N});
    else if (red == Reduction::sum) scale = expand(reshape(g, {1}), {N});
    else scale = expand(reshape(mul(g, scalar(count > 0 ? 1.0 / count : 0.0, g.dtype(), g.device())), {1}), {N});
    Tensor gl = empty(sl.shape(), sl.dtype(), sl.device());
    backend_for(sl.device()).cross_entropy_backward(sl, st, sz, scale, opts.ignore_index, opts.label_smoothing, gl);
    return std::vector<Tensor>{gl};
  });
}

}  // namespace memgrad
