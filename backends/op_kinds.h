#pragma once
// The operation selectors and attention parameters shared by every backend. Plain C++ with no
// dependencies, so CUDA (.cu) files can include it too.
#include <cstdint>

#include "backends/attention_scores.h"
#include "backends/attention_visibility.h"

namespace memgrad {

enum class UnaryOp { neg, exp, log, sqrt, tanh, sigmoid, relu, gelu, abs, pow_scalar };
enum class BinaryOp { add, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge, logical_and, logical_or };
enum class ReduceOp { sum, max, min };
enum class RandomKind { uniform, normal, bernoulli };
// The activation a fused linear applies (autograd linear(); nn layers): none, exact GELU, ReLU.
enum class Activation { none, gelu, relu };

constexpr bool is_comparison(BinaryOp op) { return op >= BinaryOp::eq; }

// Attention kernels' parameters (autograd/attention.h documents the semantics).
struct AttentionParams {
  double scale = 1;
  bool causal = false;  // which keys each query sees: backends/attention_visibility.h
  CausalAlign causal_align = CausalAlign::bottom_right;
  int64_t window_left = -1, window_right = -1;  // sliding window; negative: unbounded
  int64_t q_chunk = 64;
  int64_t k_chunk = 256;
  int64_t top_k = 64;
  bool fused = true;   // GPU: fused kernels where the shapes allow (AttentionOptions::fused)
  DropoutRule dropout;  // attention dropout (backends/attention_scores.h); off by default

  // The visibility rule for Nq queries against Nk keys.
  Visibility visibility(int64_t Nq, int64_t Nk) const {
    return Visibility{Nq, Nk, causal, causal_align, window_left, window_right};
  }
};

}  // namespace memgrad
