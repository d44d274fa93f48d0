#pragma once
// Position encodings added to token embeddings x [B, N, D].
#include "nn/layers.h"

namespace memgrad::nn {

// A learned [max_len, dim] table, N(0, 0.02) init.
class LearnedPositionalEncoding : public Module {
 public:
  LearnedPositionalEncoding(int64_t max_len, int64_t dim, ParamOptions p = {});
  Tensor forward(const Tensor& x) const;  // x + table[:N]
  // x [B, N, D] + table[positions]: positions int [N], each token's own position (packed
  // sequences restart at 0 in each sequence).
  Tensor forward(const Tensor& x, const Tensor& positions) const;
  Tensor table;
};

// The fixed sin/cos table of Vaswani et al. (a buffer: saved in state dicts, not trained).
class SinusoidalPositionalEncoding : public Module {
 public:
  SinusoidalPositionalEncoding(int64_t max_len, int64_t dim, DType dtype = DType::float32);
  Tensor forward(const Tensor& x) const;
  Tensor forward(const Tensor& x, const Tensor& positions) const;  // as LearnedPositionalEncoding's
  Tensor table;
};

}  // namespace memgrad::nn
