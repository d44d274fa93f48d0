#pragma once
// The models of the LRA comparison program (examples/lra_main.cpp).
//
//   Classifier      tokens -> embedding (+ a learned CLS token in front, with pooling = cls) +
//                   positions (a learned or sinusoidal table, or none: ALiBi / relative bias inside
//                   attention) -> TransformerEncoder -> pool: mean over the valid tokens, or
//                   the CLS token's output (LRA's ListOps setting) -> ClassificationHead -> logits
//   RetrievalModel  two documents through ONE shared encoder (two towers, tied weights), each mean
//                   pooled, then RetrievalHead on [u, v, u*v, u-v] -> logits [B, classes]
//
// Both take a whole lra::Batch, padded or packed (batch.h), so the trainer does not care which task
// it runs. A packed batch computes what the padded one does: positions restart in each sequence,
// attention stays inside each (cu_seqlens), pooling is per sequence. Parameter names
// ("emb.weight", "pos.table", "enc.0.attn.qkv.weight", "head.fc1.weight", ...) are the state-dict
// keys of the checkpoints.
#include <memory>
#include <string>

#include "examples/lra/batch.h"
#include "nn/heads.h"
#include "nn/positional.h"
#include "nn/transformer.h"

namespace memgrad::lra {

// Where token positions come from: a table added to the embeddings ("pos": learned, or the fixed
// sin/cos buffer), or a bias inside attention with no table (ALiBi's slopes, or each layer's learned
// T5 relative table "enc.<i>.attn.rel_table").
enum class PositionKind { learned, sinusoidal, alibi, relative };
std::string position_name(PositionKind p);
// "learned" | "sinusoidal" | "alibi" | "relative"; memgrad::Error naming the choices otherwise.
PositionKind parse_position_kind(const std::string& s);

struct ModelConfig {
  int64_t vocab = 16;
  int64_t classes = 10;
  int64_t max_len = 128;  // positions in the learned table (per document for pair tasks)
  bool pair = false;      // retrieval: the two-tower model
  int64_t head_hidden = 0;  // 0: encoder.dim
  // mean: average the encoder's output over the valid tokens. cls: prepend a learned token and
  // classify its output (LRA's pooling_mode "CLS"); sequences grow by one position.
  nn::Pooling pooling = nn::Pooling::mean;
  int64_t positions() const { return max_len + (pooling == nn::Pooling::cls ? 1 : 0); }
  PositionKind position = PositionKind::learned;
  // Context parallelism (lra train --context-parallel, docs/distributed.md): each sequence split
  // across memgrad::dist's ranks in the zigzag order of context_parallel_shard, ring attention in
  // every layer (encoder_config sets attention.context_parallel), each slot embedded at its global
  // position, and the pooling summed across the ranks (all_reduce_sum). Sequences must all have
  // one length (no padding, not packed). How this process runs the model, not what the model is:
  // not saved in checkpoints.
  bool context_parallel = false;
  // kind, heads, kv_heads, window, attention dropout, ...; its attention.position follows `position`
  // (encoder_config), whatever it says here.
  nn::TransformerConfig encoder;
  nn::TransformerConfig encoder_config() const;
};

class SequenceModel : public nn::Module {
 public:
  // logits [B, classes] of a batch (tokens2 used by pair models).
  virtual Tensor forward(const Batch& b) const = 0;
  // One sequence [B, N] -> pooled encoding [B, dim] (mean over the first lengths[b] tokens, or
  // the output at the CLS token). Packed (cu_seqlens int64 [B + 1] on the host): tokens [1, total].
  // With config.context_parallel every rank passes the whole batch and gets the whole pooled
  // encoding, having encoded only its share of the positions.
  Tensor encode(const Tensor& tokens, const Tensor& lengths, const Tensor& cu_seqlens = Tensor()) const;

  ModelConfig config;
  std::shared_ptr<nn::Embedding> emb;
  // "pos": one of them with position learned or sinusoidal, neither with alibi or relative
  std::shared_ptr<nn::LearnedPositionalEncoding> pos;
  std::shared_ptr<nn::SinusoidalPositionalEncoding> sin_pos;
  std::shared_ptr<nn::TransformerEncoder> enc;
  Tensor cls;  // [1, 1, dim], only with pooling = cls

 protected:
  explicit SequenceModel(const ModelConfig& c);

 private:
  Tensor add_positions(const Tensor& x, const Tensor& positions) const;  // positions undefined: 0..N-1
  Tensor encode_packed(const Tensor& tokens, const Tensor& cu_seqlens) const;
  Tensor encode_context_parallel(const Tensor& tokens, const Tensor& lengths) const;
};

class Classifier : public SequenceModel {
 public:
  explicit Classifier(const ModelConfig& c);
  Tensor forward(const Batch& b) const override;
  std::shared_ptr<nn::ClassificationHead> head;
};

class RetrievalModel : public SequenceModel {
 public:
  explicit RetrievalModel(const ModelConfig& c);
  Tensor forward(const Batch& b) const override;
  std::shared_ptr<nn::RetrievalHead> head;
};

// Switches a built (e.g. trained) model to another attention kind, topk's keys per query and
// feed-forward top-k, in every encoder layer and in m.config: a zero-shot swap, the weights are
// untouched (MultiHeadAttention::options, FeedForward::topk).
void set_inference_options(SequenceModel& m, AttentionKind kind, int64_t top_k, nn::FeedForwardTopK ff);

// Classifier, or RetrievalModel when c.pair. Initialised from the default generator (seed it first).
std::unique_ptr<SequenceModel> make_model(const ModelConfig& c);

// One line: "2 layers, dim 64, 4 heads, ff 128, chunked attention, mean pooling, 68,234 parameters"
// ("ff 128 (top-k 16, chunks of 1024 tokens)" with a top-k feed-forward).
std::string describe(const SequenceModel& m);

}  // namespace memgrad::lra
