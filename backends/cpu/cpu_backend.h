#pragma once
// The CPU backend: OpenMP loops and OpenBLAS. Each group of kernels lives in its own file.
#include "backends/backend.h"

namespace memgrad::cpu {

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }

  // cpu_elementwise.cpp
  void fill(Tensor& out, double value) override;
  void arange(Tensor& out, double start, double step) override;
  void random(Tensor& out, RandomKind kind, double a, double b, uint64_t seed, uint64_t offset) override;
  void copy(const Tensor& src, Tensor& dst) override;
  void unary(UnaryOp op, const Tensor& x, Tensor& out, double scalar) override;
  void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& grad, Tensor& out,
                      double scalar) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) override;
  void where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) override;
  bool all_finite(const Tensor& x) override;

  // cpu_reduce.cpp
  void reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, Tensor& out) override;
  void arg_reduce(ReduceOp op, const Tensor& x, int64_t dim, Tensor& values, Tensor& indices) override;

  // cpu_matmul.cpp
  void matmul(const Tensor& a, const Tensor& b, Tensor& out, bool accumulate = false) override;

  // cpu_linear.cpp
  void linear_epilogue(Activation act, Tensor& y, const Tensor& bias, Tensor& out) override;
  void linear_epilogue_backward(Activation act, const Tensor& saved, const Tensor& grad, Tensor& grad_pre,
                                Tensor& grad_bias, Tensor& act_out) override;

  // cpu_softmax.cpp
  void softmax(const Tensor& x, Tensor& out, bool log) override;
  void softmax_backward(const Tensor& y, const Tensor& grad, Tensor& out, bool log) override;

  // cpu_layer_norm.cpp
  void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, Tensor& out, Tensor& mean,
                  Tensor& rstd) override;
  void layer_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, const Tensor& mean,
                           const Tensor& rstd, Tensor& grad_x, Tensor& grad_weight, Tensor& grad_bias) override;

  // cpu_index.cpp
  void index_select(const Tensor& src, int64_t dim, const Tensor& idx, Tensor& out) override;
  void index_add(Tensor& dst, int64_t dim, const Tensor& idx, const Tensor& src) override;
  void gather(const Tensor& src, int64_t dim, const Tensor& idx, Tensor& out) override;
  void scatter_add(Tensor& dst, int64_t dim, const Tensor& idx, const Tensor& src) override;

  // cpu_loss.cpp
  void cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index, double label_smoothing,
                     Tensor& losses, Tensor& lse) override;
  void cross_entropy_backward(const Tensor& logits, const Tensor& target, const Tensor& lse, const Tensor& scale,
                              int64_t ignore_index, double label_smoothing, Tensor& grad_logits) override;

  // cpu_attention_chunked.cpp
  void attention_chunked_forward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMods& m,
                                 const AttentionParams& p, Tensor& out, Tensor& lse) override;
  void attention_chunked_backward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMods& m,
                                  const Tensor& out, const Tensor& lse, const Tensor& grad_out,
                                  const AttentionParams& p, Tensor& dq, Tensor& dk, Tensor& dv,
                                  AttentionModGrads& g) override;
  // cpu_attention_topk.cpp
  void attention_topk_forward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMods& m,
                              const AttentionParams& p, Tensor& out, Tensor& idx, Tensor& probs, Tensor& lse) override;
  void attention_topk_backward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMods& m,
                               const Tensor& idx, const Tensor& probs, const Tensor& grad_out, const AttentionParams& p,
                               Tensor& dq, Tensor& dk, Tensor& dv, AttentionModGrads& g) override;

  // cpu_sparse_rows.cpp
  void row_topk(Tensor& s, const Tensor& bias, Tensor& values, Tensor& idx) override;
  void gather_rows_sum(const Tensor& table, const Tensor& idx, const Tensor& coef, Tensor& out) override;
  void gather_rows_dot(const Tensor& table, const Tensor& idx, const Tensor& x, Tensor& out) override;
  void scatter_rows_add(Tensor& table, const Tensor& idx, const Tensor& coef, const Tensor& x) override;

  // cpu_optim.cpp
  void sgd_step(Tensor& param, const Tensor& grad, Tensor& momentum_buf, double lr, double momentum, double dampening,
                double weight_decay, bool nesterov, bool first_step) override;
  void adam_step(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, double lr, double beta1,
                 double beta2, double eps, double weight_decay, bool decoupled, int64_t step) override;
};

// A contiguous copy of x (x itself when already contiguous).
Tensor contiguous_copy(const Tensor& x);

// Prints once how to fix OpenBLAS's fallback to generic kernels on this CPU (cpu_blas_check.cpp).
void check_openblas_core();

}  // namespace memgrad::cpu
