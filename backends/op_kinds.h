#pragma once
// The operation selectors and attention parameters shared by every backend. Plain C++ with no
// dependencies, so CUDA (.cu) files can include it too.
#include <cstdint>

#include "backends/attention_scores.h"
#include "backends/attention_visibility.h"

namespace memgrad {

// Each family of kernel selectors is listed once, here: its enum, its names (op_name, for error
// messages) and the profiler's entry names ("unary.gelu", backends/profiling_backend.cpp) are made
// from the list, so a new member needs no other list kept in step. Order matters where noted.
#define MEMGRAD_UNARY_OPS(X) X(neg) X(exp) X(log) X(sqrt) X(tanh) X(sigmoid) X(relu) X(gelu) X(abs) X(pow_scalar)
// the comparisons last, from eq on (is_comparison)
#define MEMGRAD_BINARY_OPS(X) \
  X(add) X(sub) X(mul) X(div) X(pow) X(maximum) X(minimum) X(eq) X(ne) X(lt) X(le) X(gt) X(ge) X(logical_and) X(logical_or)
#define MEMGRAD_REDUCE_OPS(X) X(sum) X(max) X(min)
// The activation a fused linear applies (autograd linear(); nn layers): none, exact GELU, ReLU.
#define MEMGRAD_ACTIVATIONS(X) X(none) X(gelu) X(relu)
#define MEMGRAD_ENUMERATOR(n) n,
#define MEMGRAD_NAME(n) #n,

enum class UnaryOp { MEMGRAD_UNARY_OPS(MEMGRAD_ENUMERATOR) };
enum class BinaryOp { MEMGRAD_BINARY_OPS(MEMGRAD_ENUMERATOR) };
enum class ReduceOp { MEMGRAD_REDUCE_OPS(MEMGRAD_ENUMERATOR) };
enum class Activation { MEMGRAD_ACTIVATIONS(MEMGRAD_ENUMERATOR) };
enum class RandomKind { uniform, normal, bernoulli };

inline constexpr const char* kUnaryOpNames[] = {MEMGRAD_UNARY_OPS(MEMGRAD_NAME)};
inline constexpr const char* kBinaryOpNames[] = {MEMGRAD_BINARY_OPS(MEMGRAD_NAME)};
inline constexpr const char* kReduceOpNames[] = {MEMGRAD_REDUCE_OPS(MEMGRAD_NAME)};
inline constexpr const char* kActivationNames[] = {MEMGRAD_ACTIVATIONS(MEMGRAD_NAME)};
// names[e], or "?" for a value outside the enum (a cast from a bad integer)
template <class E, int N>
constexpr const char* enum_name(const char* const (&names)[N], E e) {
  const int i = static_cast<int>(e);
  return i >= 0 && i < N ? names[i] : "?";
}
constexpr const char* op_name(UnaryOp op) { return enum_name(kUnaryOpNames, op); }
constexpr const char* op_name(BinaryOp op) { return enum_name(kBinaryOpNames, op); }
constexpr const char* op_name(ReduceOp op) { return enum_name(kReduceOpNames, op); }
constexpr const char* op_name(Activation act) { return enum_name(kActivationNames, act); }

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
