#pragma once
// Multi-head self-attention over any attention kind (autograd/attention.h).
#include <memory>

#include "autograd/attention.h"
#include "nn/layers.h"

namespace memgrad::nn {

class MultiHeadAttention : public Module {
 public:
  // `attention` picks the kind and its options (causal, chunk sizes, top_k, scale); its masks
  // are ignored here: pass them to forward.
  MultiHeadAttention(int64_t dim, int64_t heads, AttentionOptions attention = {}, ParamOptions p = {});
  // x [B, N, dim] -> [B, N, dim]. key_padding_mask: bool [B, N], true = padding; or key_lengths int [B].
  Tensor forward(const Tensor& x, const Tensor& key_padding_mask = Tensor(), const Tensor& key_lengths = Tensor()) const;

  std::shared_ptr<Linear> qkv, out;
  int64_t dim, heads, head_dim;
  AttentionOptions options;
};

}  // namespace memgrad::nn
