#include "nn/multi_head_attention.h"

#include "autograd/ops.h"
#include "nn/init.h"

namespace memgrad::nn {

MultiHeadAttention::MultiHeadAttention(int64_t dim_, int64_t heads_, AttentionOptions attention, ParamOptions p)
    : dim(dim_), heads(heads_), head_dim(heads_ > 0 ? dim_ / heads_ : 0), options(std::move(attention)) {
  MG_CHECK(heads > 0 && dim > 0 && dim % heads == 0, "MultiHeadAttention", "dim {} is not divisible into {} heads",
           dim, heads);
  options.key_padding_mask = Tensor();
  options.key_lengths = Tensor();
  qkv = register_module("qkv", std::make_shared<Linear>(dim, 3 * dim, true, p));
  out = register_module("out", std::make_shared<Linear>(dim, dim, true, p));
  init::xavier_uniform_(qkv->weight, 1.0, p.gen);
  init::zeros_(qkv->bias);
  init::zeros_(out->bias);
}

Tensor MultiHeadAttention::forward(const Tensor& x, const Tensor& key_padding_mask, const Tensor& key_lengths) const {
  MG_CHECK(x.dim() == 3 && x.size(2) == dim, "MultiHeadAttention", "input of shape {} for dim {}", str(x.shape()), dim);
  const int64_t B = x.size(0), N = x.size(1);
  Tensor proj = reshape(qkv->forward(x), {B, N, 3, heads, head_dim});  // [B, N, 3, H, Dh]
  // views with unit stride in the last dim: the attention kernels read them without copying
  Tensor q = transpose(select(proj, 2, 0), 1, 2);  // [B, H, N, Dh]
  Tensor k = transpose(select(proj, 2, 1), 1, 2);  // [B, H, N, Dh]
  Tensor v = transpose(select(proj, 2, 2), 1, 2);  // [B, H, N, Dh]
  AttentionOptions o = options;
  o.key_padding_mask = key_padding_mask;
  o.key_lengths = key_lengths;
  Tensor a = attention(q, k, v, o);                         // [B, H, N, Dh]
  Tensor merged = reshape(transpose(a, 1, 2), {B, N, dim});  // [B, N, H*Dh]
  return out->forward(merged);
}

}  // namespace memgrad::nn
