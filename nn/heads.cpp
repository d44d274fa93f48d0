#include "nn/heads.h"

#include "autograd/attention.h"
#include "autograd/ops.h"

namespace memgrad::nn {

Tensor pool(const Tensor& x, Pooling how, const Tensor& key_padding_mask, const Tensor& key_lengths) {
  MG_CHECK(x.dim() == 3, "pool", "expected [B, N, D], got {}", str(x.shape()));
  const int64_t B = x.size(0), N = x.size(1);
  if (how == Pooling::cls) return select(x, 1, 0);
  if (!key_padding_mask.defined() && !key_lengths.defined()) return mean(x, {1});  // [B, D]
  // The valid tokens by attention's rule (one function: shapes, dtypes, lengths in [0, N]). The
  // masks carry no gradient, so no NoGradGuard is needed; one around the pooling itself once cut
  // every gradient before it without a word.
  Tensor valid = reshape(to(key_valid_mask(key_padding_mask, key_lengths, B, N, x.device(), "pool"), x.dtype()),
                         {B, 1, N});  // [B, 1, N] as x's dtype
  Tensor count = maximum(sum(valid, {2}, true), ones({}, x.dtype(), x.device()));  // [B, 1, 1]; an empty row pools to 0
  // One batched product with the weights valid / count: sum(x * valid) would allocate a [B, N, D]
  // temporary, alive at the forward's end beside x itself.
  return reshape(matmul(valid / count, x), {B, x.size(2)});  // [B, 1, N] @ [B, N, D] -> [B, D]
}

ClassificationHead::ClassificationHead(int64_t dim, int64_t hidden, int64_t classes, ParamOptions p) {
  fc1 = register_module("fc1", std::make_shared<Linear>(dim, hidden, true, p));
  fc2 = register_module("fc2", std::make_shared<Linear>(hidden, classes, true, p));
}

Tensor ClassificationHead::forward(const Tensor& pooled) const {
  const auto scope = trace_scope();  // memory-trace attribution (core/memory_trace.h)
  return fc2->forward(fc1->forward(pooled, Activation::gelu));
}

RetrievalHead::RetrievalHead(int64_t dim, int64_t hidden, int64_t classes, ParamOptions p) {
  fc1 = register_module("fc1", std::make_shared<Linear>(4 * dim, hidden, true, p));
  fc2 = register_module("fc2", std::make_shared<Linear>(hidden, classes, true, p));
}

Tensor RetrievalHead::forward(const Tensor& u, const Tensor& v) const {
  const auto scope = trace_scope();  // memory-trace attribution (core/memory_trace.h)
  MG_CHECK(u.dim() == 2 && u.shape() == v.shape(), "RetrievalHead", "towers of shapes {} and {}", str(u.shape()),
           str(v.shape()));
  Tensor features = cat({u, v, u * v, u - v}, 1);  // [B, 4D]
  return fc2->forward(fc1->forward(features, Activation::gelu));
}

}  // namespace memgrad::nn
