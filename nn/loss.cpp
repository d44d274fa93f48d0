#include "nn/loss.h"

namespace memgrad::nn {

double accuracy(const Tensor& logits, const Tensor& target, int64_t ignore_index) {
  NoGradGuard ng;
  MG_CHECK(logits.dim() == 2 && target.dim() == 1 && target.size(0) == logits.size(0), "accuracy",
           "logits {} and target {} do not match (expected [N, C] and [N])", str(logits.shape()), str(target.shape()));
  Tensor pred = to(argmax(logits, 1), DType::int64);
  Tensor t = to(target, DType::int64);
  Tensor valid = ne(t, scalar(static_cast<double>(ignore_index), DType::int64, t.device()));
  double n = sum(to(valid, DType::float64)).item<double>();
  if (n == 0) return 0;
  return sum(to(logical_and(eq(pred, t), valid), DType::float64)).item<double>() / n;
}

}  // namespace memgrad::nn
