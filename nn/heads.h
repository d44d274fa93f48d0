#pragma once
// Pooling and output heads for sequence classification and two-tower retrieval.
#include <memory>

#include "nn/layers.h"

namespace memgrad::nn {

enum class Pooling { mean, cls };

// x [B, N, D] -> [B, D]: the mean over valid tokens (key_lengths int [B] or key_padding_mask
// bool [B, N], true = padding; all tokens when neither is given), or the first token (cls).
Tensor pool(const Tensor& x, Pooling how, const Tensor& key_padding_mask = Tensor(),
            const Tensor& key_lengths = Tensor());

// [B, D] -> [B, classes] through one hidden layer (Linear -> GELU -> Linear).
class ClassificationHead : public Module {
 public:
  ClassificationHead(int64_t dim, int64_t hidden, int64_t classes, ParamOptions p = {});
  Tensor forward(const Tensor& pooled) const;
  std::shared_ptr<Linear> fc1, fc2;
};

// Two towers' encodings u, v [B, D] -> logits [B, classes] from [u, v, u*v, u-v], as in Long
// Range Arena's retrieval task.
class RetrievalHead : public Module {
 public:
  RetrievalHead(int64_t dim, int64_t hidden, int64_t classes, ParamOptions p = {});
  Tensor forward(const Tensor& u, const Tensor& v) const;
  std::shared_ptr<Linear> fc1, fc2;
};

}  // namespace memgrad::nn
