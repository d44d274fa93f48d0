#pragma once
// The CUDA backend: device kernels (backends/cuda/*.cu) and cuBLAS, all on one stream (the legacy
// default stream), so kernels run in issue order and the caching allocator can reuse a freed block
// at once. Host-side code (checks, dtype dispatch, shapes) lives in the .cpp files; the .cu files
// hold only kernels and their launchers, declared in *_kernels.h headers that nvcc can include.
// Each group of kernels lives in its own pair of files, as on the CPU.
#include <cublas_v2.h>

#include "backends/attention_mods.h"
#include "backends/backend.h"

namespace memgrad::cuda {

// The attention options the CUDA kernels implement (backends/attention_mods.h): all of them, on the
// block-wise paths (cuda_attention_chunked.cpp, cuda_attention_topk.cpp); the fused kernels take a
// subset (kFlashAttentionFeatures, kTopkFusedFeatures) and hand the rest to the block-wise paths.
inline constexpr unsigned kCudaAttentionFeatures = attn_all_features;

class CudaBackend final : public Backend {
 public:
  const char* name() const override { return "cuda"; }

  // cuda_elementwise.cpp
  void fill(Tensor& out, double value) override;
  void arange(Tensor& out, double start, double step) override;
  void random(Tensor& out, RandomKind kind, double a, double b, uint64_t seed, uint64_t offset) override;
  void copy(const Tensor& src, Tensor& dst) override;
  void copy_across(const Tensor& src, Tensor& dst) override;
  void unary(UnaryOp op, const Tensor& x, Tensor& out, double scalar) override;
  void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& grad, Tensor& out,
                      double scalar) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) override;
  void where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) override;
  bool all_finite(const Tensor& x) override;
  void linear_epilogue(Activation act, Tensor& y, const Tensor& bias, Tensor& out) override;
  void linear_epilogue_backward(Activation act, const Tensor& saved, const Tensor& grad, Tensor& grad_pre,
                                Tensor& grad_bias, Tensor& act_out) override;

  // cuda_reduce.cpp
  void reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, Tensor& out) override;
  void arg_reduce(ReduceOp op, const Tensor& x, int64_t dim, Tensor& values, Tensor& indices) override;

  // cuda_matmul.cpp (cuBLAS)
  void matmul(const Tensor& a, const Tensor& b, Tensor& out, bool accumulate = false) override;

  // cuda_softmax.cpp
  void softmax(const Tensor& x, Tensor& out, bool log) override;
  void softmax_backward(const Tensor& y, const Tensor& grad, Tensor& out, bool log) override;

  // cuda_layer_norm.cpp
  void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, Tensor& out, Tensor& mean,
                  Tensor& rstd) override;
  void layer_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, const Tensor& mean,
                           const Tensor& rstd, Tensor& grad_x, Tensor& grad_weight, Tensor& grad_bias) override;

  // cuda_index.cpp
  void index_select(const Tensor& src, int64_t dim, const Tensor& idx, Tensor& out) override;
  void index_add(Tensor& dst, int64_t dim, const Tensor& idx, const Tensor& src) override;
  void gather(const Tensor& src, int64_t dim, const Tensor& idx, Tensor& out) override;
  void scatter_add(Tensor& dst, int64_t dim, const Tensor& idx, const Tensor& src) override;

  // cuda_loss.cpp
  void cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index, double label_smoothing,
                     Tensor& losses, Tensor& lse) override;
  void cross_entropy_backward(const Tensor& logits, const Tensor& target, const Tensor& lse, const Tensor& scale,
                              int64_t ignore_index, double label_smoothing, Tensor& grad_logits) override;

  // cuda_attention_chunked.cpp (kCudaAttentionFeatures: the options these kernels implement)
  void attention_chunked_forward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMods& m,
                                 const AttentionParams& p, Tensor& out, Tensor& lse) override;
  void attention_chunked_backward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMods& m,
                                  const Tensor& out, const Tensor& lse, const Tensor& grad_out,
                                  const AttentionParams& p, Tensor& dq, Tensor& dk, Tensor& dv,
                                  AttentionModGrads& g) override;
  // cuda_attention_topk.cpp
  void attention_topk_forward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMods& m,
                              const AttentionParams& p, Tensor& out, Tensor& idx, Tensor& probs, Tensor& lse) override;
  void attention_topk_backward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMods& m,
                               const Tensor& idx, const Tensor& probs, const Tensor& grad_out, const AttentionParams& p,
                               Tensor& dq, Tensor& dk, Tensor& dv, AttentionModGrads& g) override;

  // cuda_sparse_rows.cpp
  void row_topk(Tensor& s, const Tensor& bias, Tensor& values, Tensor& idx) override;
  void gather_rows_sum(const Tensor& table, const Tensor& idx, const Tensor& coef, Tensor& out) override;
  void gather_rows_dot(const Tensor& table, const Tensor& idx, const Tensor& x, Tensor& out) override;
  void scatter_rows_add(Tensor& table, const Tensor& idx, const Tensor& coef, const Tensor& x) override;

  // cuda_optim.cpp
  void sgd_step(Tensor& param, const Tensor& grad, Tensor& momentum_buf, double lr, double momentum, double dampening,
                double weight_decay, bool nesterov, bool first_step) override;
  void adam_step(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, double lr, double beta1,
                 double beta2, double eps, double weight_decay, bool decoupled, int64_t step) override;
};

// The backend, created on first use; null when no GPU is present (cuda_context.cpp).
Backend* backend_if_available();

// The cuBLAS handle of cuda:0, created once (on the default stream).
cublasHandle_t cublas();

// A contiguous copy of x on its device (x itself when already contiguous).
Tensor contiguous_copy(const Tensor& x);

}  // namespace memgrad::cuda
