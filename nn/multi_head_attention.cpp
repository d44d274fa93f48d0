#include "nn/multi_head_attention.h"

#include <cmath>

#include "autograd/ops.h"
#include "nn/init.h"

namespace memgrad::nn {

namespace {

constexpr const char* kOp = "MultiHeadAttention";

// x W^T + b for a slice of a Linear's rows (the fused projection's q rows or k/v rows).
Tensor linear_rows(const Tensor& x, const Linear& l, int64_t first, int64_t count) {
  Tensor y = matmul(x, transpose(narrow(l.weight, 0, first, count), 0, 1));  // [..., count]
  return l.bias.defined() ? y + narrow(l.bias, 0, first, count) : y;
}


}  // namespace

MultiHeadAttention::MultiHeadAttention(int64_t dim_, int64_t heads_, AttentionOptions attention, ParamOptions p,
                                       MultiHeadAttentionConfig c)
    : dim(dim_),
      heads(heads_),
      kv_heads(c.kv_heads > 0 ? c.kv_heads : heads_),
      head_dim(heads_ > 0 ? dim_ / heads_ : 0),
      context_dim(c.context_dim),
      options(std::move(attention)),
      gen_(p.gen) {
  MG_CHECK(heads > 0 && dim > 0 && dim % heads == 0, kOp, "dim {} is not divisible into {} heads", dim, heads);
  MG_CHECK(c.kv_heads >= 0 && heads % kv_heads == 0, kOp, "kv_heads {} must divide heads {} (0: one per head)",
           c.kv_heads, heads);
  MG_CHECK(c.context_dim >= 0, kOp, "context_dim {} must not be negative (0: a fused q/k/v projection)", c.context_dim);
  // per-call tensors belong to forward; the relative table is this module's parameter
  options.key_padding_mask = options.key_lengths = options.attn_mask = options.bias = Tensor();
  options.cu_seqlens_q = options.cu_seqlens_k = options.relative_table = Tensor();
  const int64_t kv_features = 2 * kv_heads * head_dim;
  if (context_dim == 0) {
    qkv = register_module("qkv", std::make_shared<Linear>(dim, dim + kv_features, true, p));
    init::xavier_uniform_(qkv->weight, 1.0, p.gen);
    init::zeros_(qkv->bias);
  } else {
    q = register_module("q", std::make_shared<Linear>(dim, dim, true, p));
    kv = register_module("kv", std::make_shared<Linear>(context_dim, kv_features, true, p));
    for (const auto& l : {q, kv}) init::xavier_uniform_(l->weight, 1.0, p.gen), init::zeros_(l->bias);
  }
  out = register_module("out", std::make_shared<Linear>(dim, dim, true, p));
  init::zeros_(out->bias);
  if (options.position == PositionBias::relative) {
    MG_CHECK(c.relative_buckets >= 2, kOp, "relative_buckets {} must be at least 2", c.relative_buckets);
    rel_table = register_parameter("rel_table", empty({heads, c.relative_buckets}, p.dtype));
    init::normal_(rel_table, 0.0, 1.0 / std::sqrt(static_cast<double>(dim)), p.gen);  // T5 (HF's _init_weights)
  }
}

MultiHeadAttention::Heads MultiHeadAttention::project(const Tensor& x_in, const Tensor& context,
                                                      const InputNorm& norm) const {
  const int64_t B = x_in.size(0), Nq = x_in.size(1);
  if (qkv && !context.defined()) {  // self-attention: one product, the norm inside it
    Tensor proj = qkv->forward(x_in, Activation::none, norm);                 // [B, N, (H + 2 Hkv) Dh]
    proj = reshape(proj, {B, Nq, heads + 2 * kv_heads, head_dim});            // [B, N, H + 2 Hkv, Dh]
    // one split, so that backward writes dq, dk, dv into one gradient of proj (ops.h); the heads
    // as [B, H, N, Dh] views with unit stride in the last dim, which attention reads in place
    std::vector<Tensor> p = split(proj, {heads, kv_heads, kv_heads}, 2);  // [B, N, H | Hkv | Hkv, Dh]
    return {transpose(p[0], 1, 2), transpose(p[1], 1, 2), transpose(p[2], 1, 2)};
  }
  const Tensor x = norm.on ? layer_norm(x_in, norm.weight, norm.bias, norm.eps) : x_in;  // [B, Nq, dim]
  const Tensor& c = context.defined() ? context : x;
  const int64_t in = qkv ? dim : context_dim;
  MG_CHECK(c.dim() == 3 && c.size(0) == B && c.size(2) == in, kOp,
           "context of shape {} for x {}: expected [{}, Nk, {}]{}", str(c.shape()), str(x.shape()), B, in,
           qkv ? " (give context_dim for a context of another width)" : "");
  const int64_t Nk = c.size(1);
  Tensor qp = qkv ? linear_rows(x, *qkv, 0, dim) : q->forward(x);                           // [B, Nq, dim]
  Tensor kvp = qkv ? linear_rows(c, *qkv, dim, 2 * kv_heads * head_dim) : kv->forward(c);  // [B, Nk, 2 Hkv Dh]
  qp = reshape(qp, {B, Nq, heads, head_dim});          // [B, Nq, H, Dh]
  kvp = reshape(kvp, {B, Nk, 2 * kv_heads, head_dim});  // [B, Nk, 2 Hkv, Dh]
  std::vector<Tensor> kv_parts = split(kvp, {kv_heads, kv_heads}, 2);  // [B, Nk, Hkv | Hkv, Dh]
  return {transpose(qp, 1, 2), transpose(kv_parts[0], 1, 2), transpose(kv_parts[1], 1, 2)};
}

Tensor MultiHeadAttention::forward(const Tensor& x, const Tensor& context, const AttentionMasks& m,
                                   const InputNorm& norm) const {
  const auto scope = trace_scope();  // memory-trace attribution (core/memory_trace.h)
  MG_CHECK(x.dim() == 3 && x.size(2) == dim, kOp, "input of shape {} for dim {}", str(x.shape()), dim);
  const int64_t B = x.size(0), N = x.size(1);
  Heads h = project(x, context, norm);  // q [B, H, Nq, Dh], k and v [B, Hkv, Nk, Dh]
  AttentionOptions o = options;
  o.key_padding_mask = m.key_padding_mask, o.key_lengths = m.key_lengths;
  o.attn_mask = m.attn_mask, o.bias = m.bias;
  o.cu_seqlens_q = m.cu_seqlens_q, o.cu_seqlens_k = m.cu_seqlens_k;
  o.relative_table = rel_table;
  o.dropout_p = is_training() ? options.dropout_p : 0.0;  // attention dropout only while training
  if (!o.generator) o.generator = gen_;
  Tensor a = attention(h.q, h.k, h.v, o);                    // [B, H, Nq, Dh]
  Tensor merged = reshape(transpose(a, 1, 2), {B, N, dim});  // [B, Nq, H*Dh]
  return out->forward(merged);
}

Tensor MultiHeadAttention::forward(const Tensor& x, const Tensor& key_padding_mask, const Tensor& key_lengths) const {
  return forward(x, Tensor(), AttentionMasks{.key_padding_mask = key_padding_mask, .key_lengths = key_lengths});
}

}  // namespace memgrad::nn
