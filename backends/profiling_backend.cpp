#include "backends/profiling_backend.h"

#include <map>
#include <memory>
#include <mutex>

#include "backends/profiler.h"

namespace memgrad {
namespace {

// Entry names of the op families, "<method>.<op>", made from backends/op_kinds.h's lists.
#define MEMGRAD_ENTRY(prefix, n) prefix #n,
#define MEMGRAD_UNARY_ENTRY(n) MEMGRAD_ENTRY("unary.", n)
#define MEMGRAD_UNARY_BACKWARD_ENTRY(n) MEMGRAD_ENTRY("unary_backward.", n)
#define MEMGRAD_BINARY_ENTRY(n) MEMGRAD_ENTRY("binary.", n)
#define MEMGRAD_REDUCE_ENTRY(n) MEMGRAD_ENTRY("reduce.", n)
#define MEMGRAD_ARG_REDUCE_ENTRY(n) MEMGRAD_ENTRY("arg_reduce.", n)
#define MEMGRAD_EPILOGUE_ENTRY(n) MEMGRAD_ENTRY("linear_epilogue.", n)
#define MEMGRAD_EPILOGUE_BACKWARD_ENTRY(n) MEMGRAD_ENTRY("linear_epilogue_backward.", n)
constexpr const char* kUnary[] = {MEMGRAD_UNARY_OPS(MEMGRAD_UNARY_ENTRY)};
constexpr const char* kUnaryBackward[] = {MEMGRAD_UNARY_OPS(MEMGRAD_UNARY_BACKWARD_ENTRY)};
constexpr const char* kBinary[] = {MEMGRAD_BINARY_OPS(MEMGRAD_BINARY_ENTRY)};
constexpr const char* kReduce[] = {MEMGRAD_REDUCE_OPS(MEMGRAD_REDUCE_ENTRY)};
constexpr const char* kArgReduce[] = {MEMGRAD_REDUCE_OPS(MEMGRAD_ARG_REDUCE_ENTRY)};
constexpr const char* kEpilogue[] = {MEMGRAD_ACTIVATIONS(MEMGRAD_EPILOGUE_ENTRY)};
constexpr const char* kEpilogueBackward[] = {MEMGRAD_ACTIVATIONS(MEMGRAD_EPILOGUE_BACKWARD_ENTRY)};

template <class E, int N>
const char* entry(const char* const (&names)[N], E e) {
  return enum_name(names, e);
}

// Every method: time the inner call (profiler::KernelTimer, exclusive of nested calls), GPU calls
// to completion.
class ProfilingBackend final : public Backend {
 public:
  ProfilingBackend(Backend& inner, Device d) : in_(inner), device_(d) {}
  const char* name() const override { return in_.name(); }

  void fill(Tensor& out, double value) override { timed("fill", [&] { in_.fill(out, value); }); }
  void arange(Tensor& out, double start, double step) override {
    timed("arange", [&] { in_.arange(out, start, step); });
  }
  void random(Tensor& out, RandomKind kind, double a, double b, uint64_t seed, uint64_t offset) override {
    timed("random", [&] { in_.random(out, kind, a, b, seed, offset); });
  }
  void copy(const Tensor& src, Tensor& dst) override { timed("copy", [&] { in_.copy(src, dst); }); }
  void copy_across(const Tensor& src, Tensor& dst) override {
    timed("copy_across", [&] { in_.copy_across(src, dst); });
  }
  void unary(UnaryOp op, const Tensor& x, Tensor& out, double scalar) override {
    timed(entry(kUnary, op), [&] { in_.unary(op, x, out, scalar); });
  }
  void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& grad, Tensor& out,
                      double scalar) override {
    timed(entry(kUnaryBackward, op), [&] { in_.unary_backward(op, x, y, grad, out, scalar); });
  }
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) override {
    timed(entry(kBinary, op), [&] { in_.binary(op, a, b, out); });
  }
  void where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) override {
    timed("where", [&] { in_.where(cond, a, b, out); });
  }
  bool all_finite(const Tensor& x) override {
    bool r = false;
    timed("all_finite", [&] { r = in_.all_finite(x); });
    return r;
  }
  void reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, Tensor& out) override {
    timed(entry(kReduce, op), [&] { in_.reduce(op, x, dims, out); });
  }
  void arg_reduce(ReduceOp op, const Tensor& x, int64_t dim, Tensor& values, Tensor& indices) override {
    timed(entry(kArgReduce, op), [&] { in_.arg_reduce(op, x, dim, values, indices); });
  }
  void matmul(const Tensor& a, const Tensor& b, Tensor& out, bool accumulate = false) override {
    timed("matmul", [&] { in_.matmul(a, b, out, accumulate); });
  }
  void linear_epilogue(Activation act, Tensor& y, const Tensor& bias, Tensor& out) override {
    timed(entry(kEpilogue, act), [&] { in_.linear_epilogue(act, y, bias, out); });
  }
  void linear_epilogue_backward(Activation act, const Tensor& saved, const Tensor& grad, Tensor& grad_pre,
                                Tensor& grad_bias, Tensor& act_out) override {
    timed(entry(kEpilogueBackward, act), [&] { in_.linear_epilogue_backward(act, saved, grad, grad_pre, grad_bias, act_out); });
  }
  void softmax(const Tensor& x, Tensor& out, bool log) override {
    timed(log ? "log_softmax" : "softmax", [&] { in_.softmax(x, out, log); });
  }
  void softmax_backward(const Tensor& y, const Tensor& grad, Tensor& out, bool log) override {
    timed(log ? "log_softmax_backward" : "softmax_backward", [&] { in_.softmax_backward(y, grad, out, log); });
  }
  void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, Tensor& out, Tensor& mean,
                  Tensor& rstd) override {
    timed("layer_norm", [&] { in_.layer_norm(x, weight, bias, eps, out, mean, rstd); });
  }
  void layer_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, const Tensor& mean,
                           const Tensor& rstd, Tensor& grad_x, Tensor& grad_weight, Tensor& grad_bias) override {
    timed("layer_norm_backward",
          [&] { in_.layer_norm_backward(grad, x, weight, mean, rstd, grad_x, grad_weight, grad_bias); });
  }
  void index_select(const Tensor& src, int64_t dim, const Tensor& idx, Tensor& out) override {
    timed("index_select", [&] { in_.index_select(src, dim, idx, out); });
  }
  void index_add(Tensor& dst, int64_t dim, const Tensor& idx, const Tensor& src) override {
    timed("index_add", [&] { in_.index_add(dst, dim, idx, src); });
  }
  void gather(const Tensor& src, int64_t dim, const Tensor& idx, Tensor& out) override {
    timed("gather", [&] { in_.gather(src, dim, idx, out); });
  }
  void scatter_add(Tensor& dst, int64_t dim, const Tensor& idx, const Tensor& src) override {
    timed("scatter_add", [&] { in_.scatter_add(dst, dim, idx, src); });
  }
  void cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index, double label_smoothing,
                     Tensor& losses, Tensor& lse) override {
    timed("cross_entropy", [&] { in_.cross_entropy(logits, target, ignore_index, label_smoothing, losses, lse); });
  }
  void cross_entropy_backward(const Tensor& logits, const Tensor& target, const Tensor& lse, const Tensor& scale,
                              int64_t ignore_index, double label_smoothing, Tensor& grad_logits) override {
    timed("cross_entropy_backward", [&] {
      in_.cross_entropy_backward(logits, target, lse, scale, ignore_index, label_smoothing, grad_logits);
    });
  }
  void attention_chunked_forward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMods& m,
                                 const AttentionParams& p, Tensor& out, Tensor& lse) override {
    timed("attention_chunked_forward", [&] { in_.attention_chunked_forward(q, k, v, m, p, out, lse); });
  }
  void attention_chunked_backward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMods& m,
                                  const Tensor& out, const Tensor& lse, const Tensor& grad_out,
                                  const AttentionParams& p, Tensor& dq, Tensor& dk, Tensor& dv,
                                  AttentionModGrads& g) override {
    timed("attention_chunked_backward",
          [&] { in_.attention_chunked_backward(q, k, v, m, out, lse, grad_out, p, dq, dk, dv, g); });
  }
  void attention_topk_forward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMods& m,
                              const AttentionParams& p, Tensor& out, Tensor& idx, Tensor& probs,
                              Tensor& lse) override {
    timed("attention_topk_forward", [&] { in_.attention_topk_forward(q, k, v, m, p, out, idx, probs, lse); });
  }
  void attention_topk_backward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMods& m,
                               const Tensor& idx, const Tensor& probs, const Tensor& grad_out,
                               const AttentionParams& p, Tensor& dq, Tensor& dk, Tensor& dv,
                               AttentionModGrads& g) override {
    timed("attention_topk_backward",
          [&] { in_.attention_topk_backward(q, k, v, m, idx, probs, grad_out, p, dq, dk, dv, g); });
  }
  void row_topk(Tensor& s, const Tensor& bias, Tensor& values, Tensor& idx) override {
    timed("row_topk", [&] { in_.row_topk(s, bias, values, idx); });
  }
  void gather_rows_sum(const Tensor& table, const Tensor& idx, const Tensor& coef, Tensor& out) override {
    timed("gather_rows_sum", [&] { in_.gather_rows_sum(table, idx, coef, out); });
  }
  void gather_rows_dot(const Tensor& table, const Tensor& idx, const Tensor& x, Tensor& out) override {
    timed("gather_rows_dot", [&] { in_.gather_rows_dot(table, idx, x, out); });
  }
  void scatter_rows_add(Tensor& table, const Tensor& idx, const Tensor& coef, const Tensor& x) override {
    timed("scatter_rows_add", [&] { in_.scatter_rows_add(table, idx, coef, x); });
  }
  void sgd_step(Tensor& param, const Tensor& grad, Tensor& momentum_buf, double lr, double momentum,
                double dampening, double weight_decay, bool nesterov, bool first_step) override {
    timed("sgd_step", [&] {
      in_.sgd_step(param, grad, momentum_buf, lr, momentum, dampening, weight_decay, nesterov, first_step);
    });
  }
  void adam_step(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, double lr, double beta1,
                 double beta2, double eps, double weight_decay, bool decoupled, int64_t step) override {
    timed("adam_step", [&] {
      in_.adam_step(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, decoupled, step);
    });
  }

 private:
  template <class F>
  void timed(const char* what, F&& call) {
    profiler::KernelTimer timer(what);
    call();
    if (device_.is_cuda()) synchronize(device_);
  }

  Backend& in_;
  Device device_;
};

}  // namespace

Backend& profiling_backend(Backend& inner, Device d) {
  static std::mutex m;
  static std::map<Backend*, std::unique_ptr<ProfilingBackend>> wrappers;  // never freed: handed out by reference
  std::lock_guard<std::mutex> lock(m);
  auto& w = wrappers[&inner];
  if (!w) w = std::make_unique<ProfilingBackend>(inner, d);
  return *w;
}

}  // namespace memgrad
