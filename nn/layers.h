#pragma once
// Basic layers. Shapes: x [..., in] means any number of leading dims.
#include <cstdint>
#include <memory>

#include "autograd/ops.h"
#include "backends/op_kinds.h"
#include "core/random.h"
#include "nn/module.h"

namespace memgrad::nn {

using memgrad::Activation;  // none, gelu, relu (backends/op_kinds.h)

// Options every layer with parameters takes: their dtype and the generator that initialises them.
struct ParamOptions {
  DType dtype = DType::float32;
  Generator* gen = nullptr;  // the default generator when null
};

// y = x W^T + b; W [out, in] (PyTorch's layout and default init). One fused op (autograd linear()).
class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias = true, ParamOptions p = {});
  Tensor forward(const Tensor& x) const;  // [..., in] -> [..., out]
  // act(x W^T + b) in the same op: the activation applied in the pass that adds the bias. With
  // norm.on, the product reads layer_norm(x) inside the op (autograd InputNorm).
  Tensor forward(const Tensor& x, Activation act, const InputNorm& norm = {}) const;
  Tensor weight, bias;
  int64_t in_features, out_features;
};

// Rows of a [num, dim] table, N(0, 1) init.
class Embedding : public Module {
 public:
  Embedding(int64_t num, int64_t dim, ParamOptions p = {});
  Tensor forward(const Tensor& ids) const;  // int [...] -> [..., dim]
  Tensor weight;
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t dim, double eps = 1e-5, ParamOptions p = {});
  Tensor forward(const Tensor& x) const;  // over the last dim
  // This norm for a following linear or feed-forward to apply inside its op (autograd InputNorm):
  // the normalized activation is then recomputed in backward instead of saved.
  InputNorm as_input_norm() const { return {.on = true, .weight = weight, .bias = bias, .eps = eps}; }
  Tensor weight, bias;
  double eps;
};

// Zeroes elements with probability p in training mode (scaling the rest), identity in eval mode.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.1, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) const;
  double p;

 private:
  Generator* gen_;
};


// Linear -> activation -> dropout -> Linear.
//
// Top-k feed-forward (Gupta et al. 2021, "Memory-efficient Transformers via Top-k Attention"):
// with 0 < top_k < hidden, each token keeps only its top_k largest entries of x W1^T + b1, the
// activation and dropout apply to those alone, and fc2 sums the matching top_k columns of W2.
// Tokens are processed `chunk` at a time, so no [tokens, hidden] tensor exists beyond one chunk,
// and backward keeps only the top_k indices and activations per token (ops topk_linear and
// sparse_linear, autograd/ops.h). top_k = 0 (the default) or top_k > hidden runs the dense
// kernels; top_k = hidden runs the top-k path keeping every unit, which equals the dense layer
// (values and gradients, up to rounding). Both fields may be changed after construction (a
// zero-shot swap of a trained dense layer to top-k).
struct FeedForwardTopK {
  int64_t top_k = 0;     // 0: dense
  int64_t chunk = 1024;  // tokens per chunk of the top-k path
};

class FeedForward : public Module {
 public:
  FeedForward(int64_t dim, int64_t hidden, double dropout = 0.0, Activation act = Activation::gelu,
              ParamOptions p = {}, FeedForwardTopK topk = {});
  // [..., dim] -> [..., dim]. With norm.on, of layer_norm(x): inside the fused op where it runs
  // (dense, dropout off), else a layer_norm() first.
  Tensor forward(const Tensor& x, const InputNorm& norm = {}) const;
  std::shared_ptr<Linear> fc1, fc2;
  std::shared_ptr<Dropout> drop;
  Activation activation;
  FeedForwardTopK topk;
};

Tensor activate(const Tensor& x, Activation act);  // none: x itself

}  // namespace memgrad::nn
