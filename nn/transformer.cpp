#include "nn/transformer.h"

#include "autograd/ops.h"

namespace memgrad::nn {

TransformerEncoderLayer::TransformerEncoderLayer(const TransformerConfig& c, ParamOptions p) {
  ln1 = register_module("ln1", std::make_shared<LayerNorm>(c.dim, 1e-5, p));
  attn = register_module("attn", std::make_shared<MultiHeadAttention>(
                                      c.dim, c.heads, c.attention, p,
                                      MultiHeadAttentionConfig{.kv_heads = c.kv_heads, .relative_buckets = c.relative_buckets}));
  drop1 = register_module("drop1", std::make_shared<Dropout>(c.dropout, p.gen));
  ln2 = register_module("ln2", std::make_shared<LayerNorm>(c.dim, 1e-5, p));
  ff = register_module("ff", std::make_shared<FeedForward>(c.dim, c.ff_hidden, c.dropout, c.activation, p, c.ff_topk));
  drop2 = register_module("drop2", std::make_shared<Dropout>(c.dropout, p.gen));
}

Tensor TransformerEncoderLayer::forward(const Tensor& x, const AttentionMasks& masks) const {
  const auto scope = trace_scope();  // memory-trace attribution (core/memory_trace.h)
  // ln1 and ln2 run inside the ops that read their outputs (autograd InputNorm): the normalized
  // activations are recomputed in backward, not saved
  Tensor h = x + drop1->forward(attn->forward(x, Tensor(), masks, ln1->as_input_norm()));  // [B, N, D]
  return h + drop2->forward(ff->forward(h, ln2->as_input_norm()));
}

Tensor TransformerEncoderLayer::forward(const Tensor& x, const Tensor& key_padding_mask,
                                        const Tensor& key_lengths) const {
  return forward(x, AttentionMasks{.key_padding_mask = key_padding_mask, .key_lengths = key_lengths});
}

TransformerEncoder::TransformerEncoder(const TransformerConfig& c, ParamOptions p) : config(c) {
  MG_CHECK(c.layers >= 0 && c.dim > 0 && c.ff_hidden > 0, "TransformerEncoder",
           "invalid config: layers={} dim={} ff_hidden={}", c.layers, c.dim, c.ff_hidden);
  for (int64_t i = 0; i < c.layers; ++i)
    layers.push_back(register_module(std::to_string(i), std::make_shared<TransformerEncoderLayer>(c, p)));
  norm = register_module("norm", std::make_shared<LayerNorm>(c.dim, 1e-5, p));
}

Tensor TransformerEncoder::forward(const Tensor& x, const Tensor& key_padding_mask, const Tensor& key_lengths) const {
  return forward(x, AttentionMasks{.key_padding_mask = key_padding_mask, .key_lengths = key_lengths});
}

Tensor TransformerEncoder::forward(const Tensor& x, const AttentionMasks& masks) const {
  const auto scope = trace_scope();  // memory-trace attribution (core/memory_trace.h)
  Tensor h = x;  // [B, N, D]
  for (const auto& layer : layers) {
    if (config.checkpoint && grad_enabled()) {
      // By value: the closure runs again in backward, after this call has returned. checkpoint
      // restores the default generator, so dropout (attention's too) draws the same pattern again.
      auto fn = [layer, masks](const std::vector<Tensor>& in) { return std::vector<Tensor>{layer->forward(in[0], masks)}; };
      h = checkpoint(fn, {h}, layer->parameters())[0];
    } else {
      h = layer->forward(h, masks);
    }
  }
  return norm->forward(h);
}

}  // namespace memgrad::nn
