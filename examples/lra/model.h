#pragma once
// The models of the LRA comparison program (examples/lra_main.cpp).
//
//   Classifier      tokens -> embedding (+ a learned CLS token in front, with pooling = cls) +
//                   learned positions -> TransformerEncoder -> pool: mean over the valid tokens, or
//                   the CLS token's output (LRA's ListOps setting) -> ClassificationHead -> logits
//   RetrievalModel  two documents through ONE shared encoder (two towers, tied weights), each mean
//                   pooled, then RetrievalHead on [u, v, u*v, u-v] -> logits [B, classes]
//
// Both take a whole lra::Batch, so the trainer does not care which task it runs. Parameter names
// ("emb.weight", "pos.table", "enc.0.attn.qkv.weight", "head.fc1.weight", ...) are the state-dict
// keys of the checkpoints.
#include <memory>
#include <string>

#include "examples/lra/batch.h"
#include "nn/heads.h"
#include "nn/positional.h"
#include "nn/transformer.h"

namespace memgrad::lra {

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
  nn::TransformerConfig encoder;
};

class SequenceModel : public nn::Module {
 public:
  // logits [B, classes] of a batch (tokens2 used by pair models).
  virtual Tensor forward(const Batch& b) const = 0;
  // One sequence [B, N] -> pooled encoding [B, dim] (mean over the first lengths[b] tokens, or
  // the output at the CLS token).
  Tensor encode(const Tensor& tokens, const Tensor& lengths) const;

  ModelConfig config;
  std::shared_ptr<nn::Embedding> emb;
  std::shared_ptr<nn::LearnedPositionalEncoding> pos;
  std::shared_ptr<nn::TransformerEncoder> enc;
  Tensor cls;  // [1, 1, dim], only with pooling = cls

 protected:
  explicit SequenceModel(const ModelConfig& c);
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
