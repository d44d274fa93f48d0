#include "examples/lra/model.h"

#include <fmt/format.h>

#include "autograd/ops.h"

namespace memgrad::lra {

SequenceModel::SequenceModel(const ModelConfig& c) : config(c) {
  MG_CHECK(c.vocab > 0 && c.classes > 1 && c.max_len > 0, "lra model", "vocab {}, classes {}, max_len {}", c.vocab,
           c.classes, c.max_len);
  emb = register_module("emb", std::make_shared<nn::Embedding>(c.vocab, c.encoder.dim));
  pos = register_module("pos", std::make_shared<nn::LearnedPositionalEncoding>(c.positions(), c.encoder.dim));
  enc = register_module("enc", std::make_shared<nn::TransformerEncoder>(c.encoder));
  if (c.pooling == nn::Pooling::cls) cls = register_parameter("cls", randn({1, 1, c.encoder.dim}, DType::float32, nullptr, 0.0, 0.02));
}

Tensor SequenceModel::encode(const Tensor& tokens, const Tensor& lengths) const {
  Tensor x = emb->forward(tokens);  // [B, N, D]
  Tensor valid = lengths;           // [B] int64
  if (config.pooling == nn::Pooling::cls) {
    const int64_t B = x.size(0), D = x.size(2);
    x = cat({expand(cls, {B, 1, D}), x}, 1);  // [B, N + 1, D]: the CLS token at position 0
    valid = add(lengths, ones_like(lengths));
  }
  Tensor h = enc->forward(pos->forward(x), Tensor(), valid);  // [B, N(+1), D]
  return nn::pool(h, config.pooling, Tensor(), valid);      // [B, D]
}

Classifier::Classifier(const ModelConfig& c) : SequenceModel(c) {
  const int64_t hidden = c.head_hidden > 0 ? c.head_hidden : c.encoder.dim;
  head = register_module("head", std::make_shared<nn::ClassificationHead>(c.encoder.dim, hidden, c.classes));
}

Tensor Classifier::forward(const Batch& b) const { return head->forward(encode(b.tokens, b.lengths)); }

RetrievalModel::RetrievalModel(const ModelConfig& c) : SequenceModel(c) {
  const int64_t hidden = c.head_hidden > 0 ? c.head_hidden : c.encoder.dim;
  head = register_module("head", std::make_shared<nn::RetrievalHead>(c.encoder.dim, hidden, c.classes));
}

Tensor RetrievalModel::forward(const Batch& b) const {
  MG_CHECK(b.tokens2.defined(), "lra model", "the retrieval model needs pair batches (tokens2)");
  Tensor u = encode(b.tokens, b.lengths);    // [B, D]  the same encoder for both towers
  Tensor v = encode(b.tokens2, b.lengths2);  // [B, D]
  return head->forward(u, v);
}

std::unique_ptr<SequenceModel> make_model(const ModelConfig& c) {
  if (c.pair) return std::make_unique<RetrievalModel>(c);
  return std::make_unique<Classifier>(c);
}

void set_inference_options(SequenceModel& m, AttentionKind kind, int64_t top_k, nn::FeedForwardTopK ff) {
  MG_CHECK(top_k >= 1 && ff.top_k >= 0 && ff.chunk >= 1, "lra model",
           "top_k {} must be positive, ff top_k {} not negative and ff chunk {} positive", top_k, ff.top_k, ff.chunk);
  auto& e = m.config.encoder;
  e.attention.kind = kind, e.attention.top_k = top_k, e.ff_topk = ff;
  for (const auto& layer : m.enc->layers) {
    layer->attn->options.kind = kind;
    layer->attn->options.top_k = top_k;
    layer->ff->topk = ff;
  }
  m.enc->config.attention.kind = kind, m.enc->config.attention.top_k = top_k, m.enc->config.ff_topk = ff;
}

std::string describe(const SequenceModel& m) {
  const auto& e = m.config.encoder;
  const std::string ff_topk =
      e.ff_topk.top_k > 0 ? fmt::format(" (top-k {}, chunks of {} tokens)", e.ff_topk.top_k, e.ff_topk.chunk) : "";
  return fmt::format("{}{} layers, dim {}, {} heads, ff {}{}, {} attention{}, {} pooling, {} parameters",
                     m.config.pair ? "two towers, " : "", e.layers, e.dim, e.heads, e.ff_hidden, ff_topk,
                     to_string(e.attention.kind),
                     e.attention.kind == AttentionKind::topk ? fmt::format(" (k={})", e.attention.top_k) : "",
                     m.config.pooling == nn::Pooling::cls ? "cls" : "mean", m.num_parameters());
}

}  // namespace memgrad::lra
