#pragma once
// The kernel interface every device implements, and the one place that picks the device.
// Kernels see only tensors and their metadata: they never know about autograd.
// Outputs are allocated by the caller (contiguous, right shape and dtype); inputs may be any view.
#include <cstdint>
#include <vector>

#include "backends/op_kinds.h"
#include "core/tensor.h"

namespace memgrad {

// The optional per-pair inputs of attention, each undefined when not given (autograd/attention.h
// validates them; backends/attention_scores.h states how they enter a score). Float tensors have
// q's dtype and live on q's device unless said otherwise.
struct AttentionMods {
  Tensor key_valid;     // bool [B, Nk] contiguous, true = may attend (key padding)
  Tensor mask;          // bool 4-d view [B|1, H|1, Nq, Nk] (size-1 dims broadcast), true = may attend
  Tensor bias;          // 4-d view [B|1, H|1, Nq, Nk]: added to the scores
  Tensor alibi_slopes;  // [H] contiguous
  Tensor rel_table;     // [H, buckets] contiguous: the T5 relative position bias
  Tensor rel_bucket;    // int32 [2 * max_distance + 1] contiguous: bucket of relative position r at r + max_distance
  int64_t rel_max_distance = 0;
  // Packed sequences: int64 [S + 1] on the CPU whatever q's device, nondecreasing from 0 to Nq and
  // Nk (B = 1); sequence s is Segment s (backends/attention_visibility.h).
  Tensor cu_seqlens_q, cu_seqlens_k;
};

// The gradients of the differentiable per-pair inputs, each defined when wanted, contiguous and
// zeroed: dbias has the 4-d shape of AttentionMods::bias (summed over its broadcast dims),
// drel_table that of rel_table.
struct AttentionModGrads {
  Tensor dbias, drel_table;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // Creation.
  virtual void fill(Tensor& out, double value) = 0;
  virtual void arange(Tensor& out, double start, double step) = 0;
  // uniform in [a, b), normal(mean a, std b), bernoulli(p = a) as 0/1; Philox counters from `offset`.
  virtual void random(Tensor& out, RandomKind kind, double a, double b, uint64_t seed, uint64_t offset) = 0;
  // dst = src (same shape; any strides; converts dtype). dst may be a view.
  virtual void copy(const Tensor& src, Tensor& dst) = 0;
  // Copies across devices; both contiguous.
  virtual void copy_across(const Tensor& src, Tensor& dst) { copy(src, dst); }

  // Elementwise. Inputs are already broadcast (expanded views) to out's shape.
  virtual void unary(UnaryOp op, const Tensor& x, Tensor& out, double scalar) = 0;
  // out = grad * d op(x) / dx, given x and y = op(x).
  virtual void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& grad, Tensor& out,
                              double scalar) = 0;
  // out may be a or b itself (the same memory and strides): each element is read before it is
  // written (the engine sums gradients in place this way, autograd/engine.cpp).
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) = 0;
  virtual void where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) = 0;
  virtual bool all_finite(const Tensor& x) = 0;

  // Reduces over `dims` (sorted, unique); out has x's shape with those dims set to 1.
  virtual void reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, Tensor& out) = 0;
  // Max or min over one dim with its index (int64); outputs have that dim set to 1.
  virtual void arg_reduce(ReduceOp op, const Tensor& x, int64_t dim, Tensor& values, Tensor& indices) = 0;

  // out[..., M, N] = a[..., M, K] @ b[..., K, N]; a and b have out's batch dims (maybe expanded).
  // accumulate: out += a @ b instead (the gemm's beta = 1: a sum over blocks of rows, as
  // feed_forward's weight gradients, needs no temporary and no add pass).
  virtual void matmul(const Tensor& a, const Tensor& b, Tensor& out, bool accumulate = false) = 0;

  // The elementwise halves of the fused linear (autograd/ops/linear.cpp), around its gemm. Every
  // tensor is contiguous; rows [R, C] (C the output features), bias [C] or undefined (none).
  // linear_epilogue: y += bias on each row, then out = act(y); out may be y itself (in place), a
  // separate tensor keeps the pre-activation y (what gelu's derivative needs).
  virtual void linear_epilogue(Activation act, Tensor& y, const Tensor& bias, Tensor& out) = 0;
  // linear_epilogue_backward, in one pass over grad: grad_pre = grad * act'(pre), where `saved` is
  // the pre-activation for gelu and the output for relu (relu(pre) > 0 exactly where pre > 0);
  // for none grad_pre is undefined (it is grad) and `saved` unused; grad_pre may be grad itself (in
  // place: feed_forward's backward turns dH into dPre). grad_bias [C], when defined, gets the
  // column sums of grad_pre (overwritten; in a fixed order, whatever the thread count). act_out
  // [R, C], when defined (gelu or relu, `saved` the pre-activation), gets act(pre) in the same
  // pass: feed_forward's dW2 needs the activation its forward did not keep, and gelu's value and
  // derivative share Phi(pre), so one pass does what linear_epilogue and this would do in two.
  virtual void linear_epilogue_backward(Activation act, const Tensor& saved, const Tensor& grad, Tensor& grad_pre,
                                        Tensor& grad_bias, Tensor& act_out) = 0;

  // Softmax over the last dim.
  virtual void softmax(const Tensor& x, Tensor& out, bool log) = 0;
  // grad_in from y = softmax(x) (or log_softmax) and grad of y.
  virtual void softmax_backward(const Tensor& y, const Tensor& grad, Tensor& out, bool log) = 0;

  // Over the last dim of x [R, C] (any leading dims); weight and bias [C] may be undefined.
  virtual void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, Tensor& out,
                          Tensor& mean, Tensor& rstd) = 0;
  // grad_x may be grad itself (the same contiguous memory): each row's grad is read before its
  // grad_x is written, and grad_weight/grad_bias are summed first (the input norm of linear() and
  // feed_forward() computes dX over dY that way, autograd/ops/linear.cpp).
  virtual void layer_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                   const Tensor& rstd, Tensor& grad_x, Tensor& grad_weight, Tensor& grad_bias) = 0;

  // out = src.index_select(dim, idx); dst.index_add_(dim, idx, src).
  virtual void index_select(const Tensor& src, int64_t dim, const Tensor& idx, Tensor& out) = 0;
  virtual void index_add(Tensor& dst, int64_t dim, const Tensor& idx, const Tensor& src) = 0;
  // out[i][j] = src[i][idx[i][j]] along dim (torch.gather); dst.scatter_add_(dim, idx, src).
  virtual void gather(const Tensor& src, int64_t dim, const Tensor& idx, Tensor& out) = 0;
  virtual void scatter_add(Tensor& dst, int64_t dim, const Tensor& idx, const Tensor& src) = 0;

  // logits [N, C], target [N]: losses [N] (0 where ignored) and logsumexp [N].
  virtual void cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index, double label_smoothing,
                             Tensor& losses, Tensor& lse) = 0;
  // grad_logits = scale_i * (softmax - target distribution), scale [N] (0 where ignored).
  virtual void cross_entropy_backward(const Tensor& logits, const Tensor& target, const Tensor& lse,
                                      const Tensor& scale, int64_t ignore_index, double label_smoothing,
                                      Tensor& grad_logits) = 0;

  // Attention (autograd/attention.h states the semantics; backends/attention_visibility.h and
  // backends/attention_scores.h the rules every kernel applies). q [B,H,Nq,D], k [B,Hkv,Nk,D],
  // v [B,Hkv,Nk,Dv] in the input layout below (attention_layout_ok), Hkv dividing H: query head h
  // reads key/value head h / (H / Hkv) in place (grouped-query attention). m holds the optional
  // per-pair inputs (AttentionMods, below); p the scalars. out [B,H,Nq,Dv] may be any view in the
  // input layout (autograd passes a view of a [B,Nq,H,Dv] tensor, so that merging the heads needs
  // no copy); the other outputs are contiguous. In backward, out and grad_out may be any view.
  // Chunked: out [B,H,Nq,Dv] and lse [B,H,Nq] (+inf for a row with no visible key).
  virtual void attention_chunked_forward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMods& m,
                                         const AttentionParams& p, Tensor& out, Tensor& lse) = 0;
  // dq, dk, dv and the defined members of g come zeroed; the kernel accumulates into them.
  virtual void attention_chunked_backward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMods& m,
                                          const Tensor& out, const Tensor& lse, const Tensor& grad_out,
                                          const AttentionParams& p, Tensor& dq, Tensor& dk, Tensor& dv,
                                          AttentionModGrads& g) = 0;
  // Top-k: out [B,H,Nq,Dv], idx int32 [B,H,Nq,kk] (key indices into the row, -1 in unused slots),
  // probs [B,H,Nq,kk] (the softmax over the kept keys, before dropout), lse [B,H,Nq] (the
  // logsumexp of the kept scores; +inf when none is kept) or undefined when not wanted.
  virtual void attention_topk_forward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMods& m,
                                      const AttentionParams& p, Tensor& out, Tensor& idx, Tensor& probs,
                                      Tensor& lse) = 0;
  virtual void attention_topk_backward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMods& m,
                                       const Tensor& idx, const Tensor& probs, const Tensor& grad_out,
                                       const AttentionParams& p, Tensor& dq, Tensor& dk, Tensor& dv,
                                       AttentionModGrads& g) = 0;

  // Sparse rows: the kernels of topk_linear and sparse_linear (the top-k feed-forward layer,
  // autograd/ops/sparse_linear.cpp). Every tensor is contiguous and 2-d; float tensors share one
  // dtype; idx is int64 [R, k] with every entry in [0, F) (the caller guarantees it: the kernels
  // do not check). A row r of x / out / coef is one token.
  //
  // row_topk: s [R, F] (1 <= k <= F) gets bias [F] (undefined: none) added to each row in place;
  // then per row the k largest entries, ordered higher first, NaN above +inf, equal values to
  // the lower column (cpu/topk_select.h), are written in ascending column order: idx [R, k] and
  // values [R, k] = s[r, idx[r, :]].
  virtual void row_topk(Tensor& s, const Tensor& bias, Tensor& values, Tensor& idx) = 0;
  // gather_rows_sum: out[r, :] = sum_j coef[r, j] * table[idx[r, j], :]; table [F, D], coef [R, k],
  // out [R, D] (overwritten; 0 when k = 0).
  virtual void gather_rows_sum(const Tensor& table, const Tensor& idx, const Tensor& coef, Tensor& out) = 0;
  // gather_rows_dot: out[r, j] = table[idx[r, j], :] . x[r, :]; table [F, D], x [R, D], out [R, k].
  virtual void gather_rows_dot(const Tensor& table, const Tensor& idx, const Tensor& x, Tensor& out) = 0;
  // scatter_rows_add: table[idx[r, j], :] += coef[r, j] * x[r, :] for every (r, j), repeated
  // indices accumulating (race-free on the CPU; atomic on the GPU, so float sums may round in any
  // order there); table [F, D], coef [R, k], x [R, D].
  virtual void scatter_rows_add(Tensor& table, const Tensor& idx, const Tensor& coef, const Tensor& x) = 0;

  // Optimizer steps (nn/optim), in place, with PyTorch's update formulas. param and the state
  // tensors are contiguous and share param's shape and dtype; grad may be any view of that shape.
  // SGD: d = grad + weight_decay * param; buf = first_step ? d : momentum * buf + (1 - dampening) * d;
  // d = nesterov ? d + momentum * buf : buf; param -= lr * d. momentum_buf is unused (may be
  // undefined) when momentum == 0.
  virtual void sgd_step(Tensor& param, const Tensor& grad, Tensor& momentum_buf, double lr, double momentum,
                        double dampening, double weight_decay, bool nesterov, bool first_step) = 0;
  // Adam (decoupled = false: L2 added to grad) or AdamW (decoupled: param *= 1 - lr * weight_decay),
  // then the moments and the bias-corrected update; `step` counts from 1 (this step included).
  virtual void adam_step(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, double lr,
                         double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                         int64_t step) = 0;
};

// ---- Attention input layout (backends/attention_layout.cpp) ----
// The attention kernels of every backend read q, k, v [B, H, N, D] in place when the view has
//   - unit stride in the last dim (any stride when D <= 1),
//   - non-negative strides,
//   - rows that do not overlap and fit a BLAS leading dim: D <= row stride <= INT_MAX (when N > 1);
// stride 0 (broadcast) and any other stride in the B and H dims are read in place, and a view
// with no element is always accepted. Anything else (rows broadcast with stride 0, a transposed
// last dim, negative strides) is copied once: attention() copies it through autograd (so the
// saved tensor is the copy), and the kernels call attention_input on what they are given.
bool attention_layout_ok(const Tensor& t);
// The leading dim of t's rows for BLAS / cuBLAS: the row stride, or max(D, 1) when there is at
// most one row or D = 0 (that row's stride is then arbitrary).
int64_t attention_row_ld(const Tensor& t);
// t when attention_layout_ok(t), else a contiguous copy on t's device (no autograd history).
Tensor attention_input(const Tensor& t);

// The dispatch point: the backend of a device. Errors clearly when the device is not built in.
Backend& backend_for(Device d);
void register_backend(DeviceType type, Backend* b);

// The backend shared by several tensors; errors name `op`, the devices and the shapes when they differ.
Backend& backend_of(const char* op, std::initializer_list<const Tensor*> tensors);

}  // namespace memgrad
