#pragma once
// Multi-head attention over any attention kind (autograd/attention.h): self-attention, or
// cross-attention on a separate key/value input; grouped-query heads; ALiBi or a learned T5
// relative position bias; attention dropout in training mode only.
#include <memory>

#include "autograd/attention.h"
#include "nn/layers.h"

namespace memgrad::nn {

// The layout of the projections, beyond dim and heads.
struct MultiHeadAttentionConfig {
  // Key/value heads (grouped-query attention; 1 is multi-query); 0: one per query head. Must divide
  // heads. k and v get kv_heads * head_dim features each and attention reads them in place: query
  // head h uses kv head h / (heads / kv_heads), nothing is repeated.
  int64_t kv_heads = 0;
  // > 0: separate projections "q" (dim -> dim) and "kv" (context_dim -> 2 kv_heads head_dim), for
  // cross-attention on a context of another width. 0: one fused projection "qkv" (the state-dict
  // name of every earlier checkpoint), whose q rows and k/v rows serve a context of width dim.
  int64_t context_dim = 0;
  // Width of the learned [heads, relative_buckets] table when the attention options' position is
  // relative (T5's 32; relative_max_distance, also T5's 128 by default, is in AttentionOptions).
  int64_t relative_buckets = 32;
};

// The masks of one call. Nq is x's length, Nk the context's (x's for self-attention).
struct AttentionMasks {
  Tensor key_padding_mask;  // bool [B, Nk], true = padding; or
  Tensor key_lengths;       // int [B]: keys j >= length are padding
  Tensor attn_mask;         // bool, broadcastable to [B, H, Nq, Nk], true = may attend
  Tensor bias;              // float, broadcastable to [B, H, Nq, Nk], added to the scores (has a gradient)
  // Packed sequences (B = 1, autograd/attention.h): int [S + 1] offsets into x and the context.
  // Self-attention: give the same tensor for both.
  Tensor cu_seqlens_q, cu_seqlens_k;
};

class MultiHeadAttention : public Module {
 public:
  // `attention` picks the kind and its options (causal and its alignment, window, chunk sizes,
  // top_k, scale, position = none | alibi | relative, relative_max_distance, dropout_p, generator);
  // its per-call tensors (masks, bias, cu_seqlens) are ignored here: pass them to forward. The
  // relative table is this module's parameter "rel_table" [heads, relative_buckets] (T5's init:
  // N(0, dim^-1/2)). dropout_p applies in training mode only; its generator defaults to p.gen.
  MultiHeadAttention(int64_t dim, int64_t heads, AttentionOptions attention = {}, ParamOptions p = {},
                     MultiHeadAttentionConfig config = {});
  // Self-attention: x [B, N, dim] -> [B, N, dim]. key_padding_mask: bool [B, N], true = padding;
  // or key_lengths int [B].
  Tensor forward(const Tensor& x, const Tensor& key_padding_mask = Tensor(), const Tensor& key_lengths = Tensor()) const;
  // Queries from x [B, Nq, dim], keys and values from context [B, Nk, context_dim or dim] (undefined:
  // x, self-attention) -> [B, Nq, dim]. With norm.on, of layer_norm(x) (a pre-LN block's norm):
  // inside the fused q/k/v projection's op for self-attention (autograd InputNorm), so that the
  // normalized x is not saved; else a layer_norm() first (cross-attention normalizes x only).
  Tensor forward(const Tensor& x, const Tensor& context, const AttentionMasks& masks,
                 const InputNorm& norm = {}) const;

  std::shared_ptr<Linear> qkv;    // fused: dim -> (heads + 2 kv_heads) head_dim, rows q | k | v
  std::shared_ptr<Linear> q, kv;  // with context_dim > 0: dim -> dim and context_dim -> 2 kv_heads head_dim
  std::shared_ptr<Linear> out;
  Tensor rel_table;  // [heads, relative_buckets] with position relative, else undefined
  int64_t dim, heads, kv_heads, head_dim, context_dim;
  AttentionOptions options;

 private:
  // q [B, H, Nq, Dh], k and v [B, Hkv, Nk, Dh], views of the projections.
  struct Heads {
    Tensor q, k, v;
  };
  Heads project(const Tensor& x, const Tensor& context, const InputNorm& norm) const;
  Generator* gen_;
};

}  // namespace memgrad::nn
