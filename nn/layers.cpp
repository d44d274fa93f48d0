#include "nn/layers.h"

#include <cmath>

#include "autograd/ops.h"
#include "nn/init.h"

namespace memgrad::nn {

Linear::Linear(int64_t in, int64_t out, bool use_bias, ParamOptions p) : in_features(in), out_features(out) {
  MG_CHECK(in > 0 && out > 0, "Linear", "features must be positive, got in={} out={}", in, out);
  weight = register_parameter("weight", empty({out, in}, p.dtype));
  init::kaiming_uniform_(weight, std::sqrt(5.0), p.gen);  // U(-1/sqrt(in), 1/sqrt(in))
  if (use_bias) {
    bias = register_parameter("bias", empty({out}, p.dtype));
    double b = 1.0 / std::sqrt(static_cast<double>(in));
    init::uniform_(bias, -b, b, p.gen);
  }
}

Tensor Linear::forward(const Tensor& x) const { return forward(x, Activation::none); }

Tensor Linear::forward(const Tensor& x, Activation act, const InputNorm& norm) const {
  const auto scope = trace_scope();  // memory-trace attribution (core/memory_trace.h)
  MG_CHECK(x.dim() >= 1 && x.shape().back() == in_features, "Linear",
           "input of shape {} for a layer with {} input features", str(x.shape()), in_features);
  return linear(x, weight, bias, act, norm);  // [..., out]
}

Embedding::Embedding(int64_t num, int64_t dim, ParamOptions p) {
  MG_CHECK(num > 0 && dim > 0, "Embedding", "sizes must be positive, got num={} dim={}", num, dim);
  weight = register_parameter("weight", empty({num, dim}, p.dtype));
  init::normal_(weight, 0.0, 1.0, p.gen);
}

Tensor Embedding::forward(const Tensor& ids) const {
  const auto scope = trace_scope();  // memory-trace attribution (core/memory_trace.h)
  return embedding(weight, ids);
}

LayerNorm::LayerNorm(int64_t dim, double eps_, ParamOptions p) : eps(eps_) {
  weight = register_parameter("weight", ones({dim}, p.dtype));
  bias = register_parameter("bias", zeros({dim}, p.dtype));
}

Tensor LayerNorm::forward(const Tensor& x) const {
  const auto scope = trace_scope();  // memory-trace attribution (core/memory_trace.h)
  return layer_norm(x, weight, bias, eps);
}

Dropout::Dropout(double p_, Generator* gen) : p(p_), gen_(gen) {
  MG_CHECK(p >= 0 && p <= 1, "Dropout", "p must be in [0, 1], got {}", p);
}

Tensor Dropout::forward(const Tensor& x) const {
  const auto scope = trace_scope();  // memory-trace attribution (core/memory_trace.h)
  return dropout(x, p, is_training(), gen_);
}

Tensor activate(const Tensor& x, Activation act) {
  switch (act) {
    case Activation::gelu: return gelu(x);
    case Activation::relu: return relu(x);
    case Activation::none: break;
  }
  return x;
}

FeedForward::FeedForward(int64_t dim, int64_t hidden, double p_drop, Activation act, ParamOptions p,
                         FeedForwardTopK tk)
    : activation(act), topk(tk) {
  fc1 = register_module("fc1", std::make_shared<Linear>(dim, hidden, true, p));
  drop = register_module("drop", std::make_shared<Dropout>(p_drop, p.gen));
  fc2 = register_module("fc2", std::make_shared<Linear>(hidden, dim, true, p));
}

Tensor FeedForward::forward(const Tensor& x_in, const InputNorm& norm) const {
  const auto scope = trace_scope();  // memory-trace attribution (core/memory_trace.h)
  MG_CHECK(topk.top_k >= 0 && topk.chunk >= 1, "FeedForward", "top_k must be >= 0 and chunk >= 1, got {} and {}",
           topk.top_k, topk.chunk);
  const int64_t hidden = fc1->out_features;
  MG_CHECK(x_in.dim() >= 1 && x_in.shape().back() == fc1->in_features, "FeedForward",
           "input of shape {} for a layer with {} input features", str(x_in.shape()), fc1->in_features);
  if (topk.top_k == 0 || topk.top_k > hidden) {
    // Without dropout at work, one node that keeps the pre-activation alone and recomputes the
    // hidden activation in backward (autograd/ops.h), instead of keeping both.
    if (drop->p == 0 || !drop->is_training())
      return feed_forward(x_in, fc1->weight, fc1->bias, fc2->weight, fc2->bias, activation, norm);
    return fc2->forward(drop->forward(fc1->forward(x_in, activation, norm)));
  }
  const Tensor x = norm.on ? layer_norm(x_in, norm.weight, norm.bias, norm.eps) : x_in;  // [..., dim]
  // [..., dim] -> the top_k units of each token: values and their indices  [..., top_k]
  auto [v, idx] = topk_linear(x, fc1->weight, fc1->bias, topk.top_k, topk.chunk);
  Tensor y = sparse_linear(drop->forward(activate(v, activation)), idx, fc2->weight);  // [..., dim]
  return fc2->bias.defined() ? y + fc2->bias : y;
}

}  // namespace memgrad::nn
