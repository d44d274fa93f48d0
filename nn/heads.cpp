#include "nn/heads.h"

#include "autograd/ops.h"

namespace memgrad::nn {

Tensor pool(const Tensor& x, Pooling how, const Tensor& key_padding_mask, const Tensor& key_lengths) {
  MG_CHECK(x.dim() == 3, "pool", "expected [B, N, D], got {}", str(x.shape()));
  const int64_t B = x.size(0), N = x.size(1);
  if (how == Pooling::cls) return select(x, 1, 0);
  if (!key_padding_mask.defined() && !key_lengths.defined()) return mean(x, {1});  // [B, D]
  // The masks carry no gradient (bool and int tensors), so no NoGradGuard is needed here; one
  // around the pooling itself once cut every gradient before it without a word.
  Tensor valid;  // [B, N, 1] as x's dtype
  if (key_padding_mask.defined()) {
    MG_CHECK(key_padding_mask.shape() == Shape({B, N}) && key_padding_mask.dtype() == DType::boolean, "pool",
             "key_padding_mask must be bool [{}, {}], got {} {}", B, N, to_string(key_padding_mask.dtype()),
             str(key_padding_mask.shape()));
    valid = to(logical_not(key_padding_mask), x.dtype());
  } else {
    MG_CHECK(key_lengths.shape() == Shape({B}), "pool", "key_lengths must be [{}], got {}", B,
             str(key_lengths.shape()));
    Tensor pos = reshape(arange(N, key_lengths.dtype(), x.device()), {1, N});
    valid = to(lt(pos, reshape(key_lengths, {B, 1})), x.dtype());
  }
  valid = reshape(valid, {B, N, 1});
  Tensor count = maximum(sum(valid, {1}), ones({}, x.dtype(), x.device()));  // [B, 1]; an empty row pools to 0
  return sum(x * valid, {1}) / count;                                        // [B, D]
}

ClassificationHead::ClassificationHead(int64_t dim, int64_t hidden, int64_t classes, ParamOptions p) {
  fc1 = register_module("fc1", std::make_shared<Linear>(dim, hidden, true, p));
  fc2 = register_module("fc2", std::make_shared<Linear>(hidden, classes, true, p));
}

Tensor ClassificationHead::forward(const Tensor& pooled) const { return fc2->forward(gelu(fc1->forward(pooled))); }

RetrievalHead::RetrievalHead(int64_t dim, int64_t hidden, int64_t classes, ParamOptions p) {
  fc1 = register_module("fc1", std::make_shared<Linear>(4 * dim, hidden, true, p));
  fc2 = register_module("fc2", std::make_shared<Linear>(hidden, classes, true, p));
}

Tensor RetrievalHead::forward(const Tensor& u, const Tensor& v) const {
  MG_CHECK(u.dim() == 2 && u.shape() == v.shape(), "RetrievalHead", "towers of shapes {} and {}", str(u.shape()),
           str(v.shape()));
  Tensor features = cat({u, v, u * v, u - v}, 1);  // [B, 4D]
  return fc2->forward(gelu(fc1->forward(features)));
}

}  // namespace memgrad::nn
