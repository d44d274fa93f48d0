#include "examples/lra/model.h"

#include <fmt/format.h>

#include "autograd/attention.h"
#include "autograd/collectives.h"
#include "autograd/ops.h"

namespace memgrad::lra {

namespace {

constexpr const char* kPositionNames[] = {"learned", "sinusoidal", "alibi", "relative"};

// The index tensors of a packed batch, built on the host from cu_seqlens (int64 [S + 1]). With a
// CLS token each sequence grows by one slot in front of its tokens.
struct PackedLayout {
  std::vector<int64_t> cu;         // [S + 1] offsets of the encoder's row
  std::vector<int64_t> positions;  // [T'] each slot's position inside its sequence
  std::vector<int64_t> source;     // [T'] (cls only) the row of [cls; tokens] each slot takes, 0 = CLS
  std::vector<int64_t> starts;     // [S] the first slot of each sequence
};

PackedLayout packed_layout(const Tensor& cu_seqlens, bool cls) {
  MG_CHECK(cu_seqlens.dtype() == DType::int64 && cu_seqlens.dim() == 1 && cu_seqlens.device().is_cpu(), "lra model",
           "cu_seqlens must be int64 [S + 1] on the host, got {} {}", to_string(cu_seqlens.dtype()),
           str(cu_seqlens.shape()));
  const std::vector<int64_t> in = contiguous(cu_seqlens).to_vector<int64_t>();
  PackedLayout l;
  l.cu.push_back(0);
  for (size_t s = 0; s + 1 < in.size(); ++s) {
    l.starts.push_back(l.cu.back());
    if (cls) l.positions.push_back(0), l.source.push_back(0);
    for (int64_t t = in[s]; t < in[s + 1]; ++t) {
      l.positions.push_back(t - in[s] + (cls ? 1 : 0));
      if (cls) l.source.push_back(t + 1);
    }
    l.cu.push_back(static_cast<int64_t>(l.positions.size()));
  }
  return l;
}

Tensor index_tensor(const std::vector<int64_t>& v, Device d) {
  return to(from_vector(v, {static_cast<int64_t>(v.size())}), d);
}

// Mean pooling per sequence of h [T', D]: [S, T'] weights 1 / length on each sequence's slots, one
// product (no [S, longest, D] padded copy).
Tensor packed_mean(const Tensor& h, const std::vector<int64_t>& cu) {
  const int64_t S = static_cast<int64_t>(cu.size()) - 1, T = h.size(0);
  std::vector<float> w(static_cast<size_t>(S * T), 0.0f);
  for (int64_t s = 0; s < S; ++s)
    for (int64_t t = cu[s]; t < cu[s + 1]; ++t) w[s * T + t] = 1.0f / static_cast<float>(cu[s + 1] - cu[s]);
  return matmul(to(to(from_vector(w, {S, T}), h.dtype()), h.device()), h);  // [S, D]
}

}  // namespace

std::string position_name(PositionKind p) { return kPositionNames[static_cast<int>(p)]; }

PositionKind parse_position_kind(const std::string& s) {
  for (int i = 0; i < 4; ++i)
    if (s == kPositionNames[i]) return static_cast<PositionKind>(i);
  fail("lra model", "unknown position '{}' (expected learned, sinusoidal, alibi or relative)", escape_bytes(s, 40));
}

nn::TransformerConfig ModelConfig::encoder_config() const {
  nn::TransformerConfig e = encoder;
  e.attention.position = position == PositionKind::alibi      ? PositionBias::alibi
                         : position == PositionKind::relative ? PositionBias::relative
                                                              : PositionBias::none;
  e.attention.context_parallel = context_parallel;
  return e;
}

SequenceModel::SequenceModel(const ModelConfig& c) : config(c) {
  MG_CHECK(c.vocab > 0 && c.classes > 1 && c.max_len > 0, "lra model", "vocab {}, classes {}, max_len {}", c.vocab,
           c.classes, c.max_len);
  config.encoder = c.encoder_config();
  emb = register_module("emb", std::make_shared<nn::Embedding>(c.vocab, c.encoder.dim));
  if (c.position == PositionKind::learned)
    pos = register_module("pos", std::make_shared<nn::LearnedPositionalEncoding>(c.positions(), c.encoder.dim));
  if (c.position == PositionKind::sinusoidal)
    sin_pos = register_module("pos", std::make_shared<nn::SinusoidalPositionalEncoding>(c.positions(), c.encoder.dim));
  enc = register_module("enc", std::make_shared<nn::TransformerEncoder>(config.encoder));
  if (c.pooling == nn::Pooling::cls) cls = register_parameter("cls", randn({1, 1, c.encoder.dim}, DType::float32, nullptr, 0.0, 0.02));
}

Tensor SequenceModel::add_positions(const Tensor& x, const Tensor& positions) const {
  if (pos) return positions.defined() ? pos->forward(x, positions) : pos->forward(x);
  if (sin_pos) return positions.defined() ? sin_pos->forward(x, positions) : sin_pos->forward(x);
  return x;  // alibi / relative: positions enter inside attention
}

Tensor SequenceModel::encode(const Tensor& tokens, const Tensor& lengths, const Tensor& cu_seqlens) const {
  if (cu_seqlens.defined()) return encode_packed(tokens, cu_seqlens);
  if (config.context_parallel) return encode_context_parallel(tokens, lengths);
  Tensor x = emb->forward(tokens);  // [B, N, D]
  Tensor valid = lengths;           // [B] int64
  if (config.pooling == nn::Pooling::cls) {
    const int64_t B = x.size(0), D = x.size(2);
    x = cat({expand(cls, {B, 1, D}), x}, 1);  // [B, N + 1, D]: the CLS token at position 0
    valid = add(lengths, ones_like(lengths));
  }
  x = add_positions(x, Tensor());  // a new x: the embedding output is freed here, not after the encoder
  Tensor h = enc->forward(x, Tensor(), valid);  // [B, N(+1), D]
  return nn::pool(h, config.pooling, Tensor(), valid);                  // [B, D]
}

Tensor SequenceModel::encode_packed(const Tensor& tokens, const Tensor& cu_seqlens) const {
  MG_CHECK(tokens.dim() == 2 && tokens.size(0) == 1, "lra model", "packed tokens must be [1, total], got {}",
           str(tokens.shape()));
  const bool with_cls = config.pooling == nn::Pooling::cls;
  const PackedLayout l = packed_layout(cu_seqlens, with_cls);
  const Device dev = tokens.device();
  const int64_t D = config.encoder.dim, T = static_cast<int64_t>(l.positions.size());
  Tensor x = reshape(emb->forward(tokens), {tokens.size(1), D});  // [total, D]
  if (with_cls)  // each sequence's slots: its CLS token, then its tokens
    x = index_select(cat({reshape(cls, {1, D}), x}, 0), 0, index_tensor(l.source, dev));  // [T', D]
  x = add_positions(reshape(x, {1, T, D}), index_tensor(l.positions, dev));  // [1, T', D]
  Tensor cu = index_tensor(l.cu, Device::cpu());
  Tensor h = reshape(enc->forward(x, nn::AttentionMasks{.cu_seqlens_q = cu, .cu_seqlens_k = cu}), {T, D});  // [T', D]
  if (with_cls) return index_select(h, 0, index_tensor(l.starts, dev));  // [S, D]: each CLS token's output
  return packed_mean(h, l.cu);                                           // [S, D]
}

// The whole sequence has S slots (with CLS: slot 0 the CLS token, slot j token j - 1), each at
// position = its slot; this rank encodes its zigzag share of them (context_parallel_shard of the
// slot ids, the order ring attention expects) and contributes the sum of its pooled rows: all its
// rows for mean pooling (divided by S after the cross-rank sum), the CLS row where it holds it,
// none elsewhere (an empty sum, still in the graph: every rank runs all_reduce_sum's backward).
Tensor SequenceModel::encode_context_parallel(const Tensor& tokens, const Tensor& lengths) const {
  MG_CHECK(tokens.dim() == 2, "lra model", "tokens must be [B, N], got {}", str(tokens.shape()));
  const int64_t B = tokens.size(0), N = tokens.size(1), D = config.encoder.dim;
  for (int64_t len : memgrad::to(contiguous(lengths), Device::cpu()).to_vector<int64_t>())
    MG_CHECK(len == N, "lra model",
             "context parallelism needs sequences of one length (ring attention takes no key padding): a sequence "
             "of {} tokens in a batch padded to {}",
             len, N);
  const bool with_cls = config.pooling == nn::Pooling::cls;
  const Device dev = tokens.device();
  const int64_t S = N + (with_cls ? 1 : 0);
  const std::vector<int64_t> slots = context_parallel_shard(arange(S), 0).to_vector<int64_t>();  // global slot ids
  const bool holds_cls = with_cls && !slots.empty() && slots.front() == 0;  // chunk 0 is rank 0's first
  std::vector<int64_t> token_ids;
  for (size_t i = holds_cls ? 1 : 0; i < slots.size(); ++i) token_ids.push_back(slots[i] - (with_cls ? 1 : 0));
  Tensor x = emb->forward(index_select(tokens, 1, index_tensor(token_ids, dev)));  // [B, n (- 1), D]
  if (holds_cls) x = cat({expand(cls, {B, 1, D}), x}, 1);                           // [B, n, D]
  x = add_positions(x, index_tensor(slots, dev));  // (the embedding output freed here, as in encode)
  Tensor h = enc->forward(x);                      // [B, n, D]
  if (with_cls) return all_reduce_sum(sum(narrow(h, 1, 0, holds_cls ? 1 : 0), {1}));  // [B, D]
  return all_reduce_sum(sum(h, {1})) / static_cast<double>(S);                         // [B, D]
}

Classifier::Classifier(const ModelConfig& c) : SequenceModel(c) {
  const int64_t hidden = c.head_hidden > 0 ? c.head_hidden : c.encoder.dim;
  head = register_module("head", std::make_shared<nn::ClassificationHead>(c.encoder.dim, hidden, c.classes));
}

Tensor Classifier::forward(const Batch& b) const { return head->forward(encode(b.tokens, b.lengths, b.cu_seqlens)); }

RetrievalModel::RetrievalModel(const ModelConfig& c) : SequenceModel(c) {
  const int64_t hidden = c.head_hidden > 0 ? c.head_hidden : c.encoder.dim;
  head = register_module("head", std::make_shared<nn::RetrievalHead>(c.encoder.dim, hidden, c.classes));
}

Tensor RetrievalModel::forward(const Batch& b) const {
  MG_CHECK(b.tokens2.defined(), "lra model", "the retrieval model needs pair batches (tokens2)");
  Tensor u = encode(b.tokens, b.lengths, b.cu_seqlens);     // [B, D]  the same encoder for both towers
  Tensor v = encode(b.tokens2, b.lengths2, b.cu_seqlens2);  // [B, D]
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
  std::string extras;
  if (e.kv_heads > 0 && e.kv_heads != e.heads) extras += fmt::format(", {} kv heads", e.kv_heads);
  if (e.attention.window_left >= 0 || e.attention.window_right >= 0)
    extras += fmt::format(", window ({}, {})", e.attention.window_left, e.attention.window_right);
  if (e.attention.dropout_p > 0) extras += fmt::format(", attention dropout {}", e.attention.dropout_p);
  return fmt::format("{}{} layers, dim {}, {} heads, ff {}{}, {} attention{}{}, {} positions, {} pooling, {} parameters",
                     m.config.pair ? "two towers, " : "", e.layers, e.dim, e.heads, e.ff_hidden, ff_topk,
                     to_string(e.attention.kind),
                     e.attention.kind == AttentionKind::topk ? fmt::format(" (k={})", e.attention.top_k) : "", extras,
                     position_name(m.config.position), m.config.pooling == nn::Pooling::cls ? "cls" : "mean",
                     m.num_parameters());
}

}  // namespace memgrad::lra
