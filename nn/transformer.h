#pragma once
// Pre-LN transformer encoder (LayerNorm before attention and feed-forward, residual around each).
#include <memory>
#include <vector>

#include "nn/multi_head_attention.h"

namespace memgrad::nn {

struct TransformerConfig {
  int64_t dim = 64;
  int64_t heads = 4;
  int64_t layers = 2;
  int64_t ff_hidden = 128;
  FeedForwardTopK ff_topk;     // top-k feed-forward (nn/layers.h); top_k = 0: dense
  double dropout = 0.1;
  Activation activation = Activation::gelu;
  // kind, causal and its alignment, window, chunk sizes, top_k, position (none | alibi | relative),
  // relative_max_distance, dropout_p (attention dropout, training mode only)
  AttentionOptions attention;
  int64_t kv_heads = 0;           // grouped-query attention: key/value heads (0: heads)
  int64_t relative_buckets = 32;  // width of each layer's relative position table (position relative)
  bool checkpoint = false;     // recompute each layer in backward instead of storing its activations
};

class TransformerEncoderLayer : public Module {
 public:
  explicit TransformerEncoderLayer(const TransformerConfig& c, ParamOptions p = {});
  // x [B, N, dim] -> [B, N, dim]; masks as MultiHeadAttention::forward.
  Tensor forward(const Tensor& x, const Tensor& key_padding_mask = Tensor(), const Tensor& key_lengths = Tensor()) const;
  Tensor forward(const Tensor& x, const AttentionMasks& masks) const;

  std::shared_ptr<LayerNorm> ln1, ln2;
  std::shared_ptr<MultiHeadAttention> attn;
  std::shared_ptr<FeedForward> ff;
  std::shared_ptr<Dropout> drop1, drop2;
};

class TransformerEncoder : public Module {
 public:
  explicit TransformerEncoder(const TransformerConfig& c, ParamOptions p = {});
  Tensor forward(const Tensor& x, const Tensor& key_padding_mask = Tensor(), const Tensor& key_lengths = Tensor()) const;
  // Any masks of one call (packed sequences: cu_seqlens_q = cu_seqlens_k, x [1, total, dim]).
  Tensor forward(const Tensor& x, const AttentionMasks& masks) const;

  std::vector<std::shared_ptr<TransformerEncoderLayer>> layers;
  std::shared_ptr<LayerNorm> norm;  // final LayerNorm (pre-LN needs one after the last layer)
  TransformerConfig config;
};

}  // namespace memgrad::nn
