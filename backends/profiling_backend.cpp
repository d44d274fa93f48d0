#include "backends/profiling_backend.h"

#include <map>
#include <memory>
#include <mutex>

#include "backends/profiler.h"

namespace memgrad {
namespace {

// Entry names of the op families: "<method>.<op>" (a switch, so a new op without a name warns).
const char* op_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::neg: return "unary.neg";
    case UnaryOp::exp: return "unary.exp";
    case UnaryOp::log: return "unary.log";
    case UnaryOp::sqrt: return "unary.sqrt";
    case UnaryOp::tanh: return "unary.tanh";
    case UnaryOp::sigmoid: return "unary.sigmoid";
    case UnaryOp::relu: return "unary.relu";
    case UnaryOp::gelu: return "unary.gelu";
    case UnaryOp::abs: return "unary.abs";
    case UnaryOp::pow_scalar: return "unary.pow_scalar";
  }
  return "unary";
}

const char* backward_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::neg: return "unary_backward.neg";
    case UnaryOp::exp: return "unary_backward.exp";
    case UnaryOp::log: return "unary_backward.log";
    case UnaryOp::sqrt: return "unary_backward.sqrt";
    case UnaryOp::tanh: return "unary_backward.tanh";
    case UnaryOp::sigmoid: return "unary_backward.sigmoid";
    case UnaryOp::relu: return "unary_backward.relu";
    case UnaryOp::gelu: return "unary_backward.gelu";
    case UnaryOp::abs: return "unary_backward.abs";
    case UnaryOp::pow_scalar: return "unary_backward.pow_scalar";
  }
  return "unary_backward";
}

const char* op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::add: return "binary.add";
    case BinaryOp::sub: return "binary.sub";
    case BinaryOp::mul: return "binary.mul";
    case BinaryOp::div: return "binary.div";
    case BinaryOp::pow: return "binary.pow";
    case BinaryOp::maximum: return "binary.maximum";
    case BinaryOp::minimum: return "binary.minimum";
    case BinaryOp::eq: return "binary.eq";
    case BinaryOp::ne: return "binary.ne";
    case BinaryOp::lt: return "binary.lt";
    case BinaryOp::le: return "binary.le";
    case BinaryOp::gt: return "binary.gt";
    case BinaryOp::ge: return "binary.ge";
    case BinaryOp::logical_and: return "binary.logical_and";
    case BinaryOp::logical_or: return "binary.logical_or";
  }
  return "binary";
}

const char* op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "reduce.sum";
    case ReduceOp::max: return "reduce.max";
    case ReduceOp::min: return "reduce.min";
  }
  return "reduce";
}

const char* epilogue_name(Activation act, bool backward) {
  switch (act) {
    case Activation::none: return backward ? "linear_epilogue_backward.none" : "linear_epilogue.none";
    case Activation::gelu: return backward ? "linear_epilogue_backward.gelu" : "linear_epilogue.gelu";
    case Activation::relu: return backward ? "linear_epilogue_backward.relu" : "linear_epilogue.relu";
  }
  return backward ? "linear_epilogue_backward" : "linear_epilogue";
}

const char* arg_name(ReduceOp op) { return op == ReduceOp::max ? "arg_reduce.max" : "arg_reduce.min"; }

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
    timed(op_name(op), [&] { in_.unary(op, x, out, scalar); });
  }
  void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& grad, Tensor& out,
                      double scalar) override {
    timed(backward_name(op), [&] { in_.unary_backward(op, x, y, grad, out, scalar); });
  }
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) override {
    timed(op_name(op), [&] { in_.binary(op, a, b, out); });
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
    timed(op_name(op), [&] { in_.reduce(op, x, dims, out); });
  }
  void arg_reduce(ReduceOp op, const Tensor& x, int64_t dim, Tensor& values, Tensor& indices) override {
    timed(arg_name(op), [&] { in_.arg_reduce(op, x, dim, values, indices); });
  }
  void matmul(const Tensor& a, const Tensor& b, Tensor& out) override {
    timed("matmul", [&] { in_.matmul(a, b, out); });
  }
  void linear_epilogue(Activation act, Tensor& y, const Tensor& bias, Tensor& out) override {
    timed(epilogue_name(act, false), [&] { in_.linear_epilogue(act, y, bias, out); });
  }
  void linear_epilogue_backward(Activation act, const Tensor& saved, const Tensor& grad, Tensor& grad_pre,
                                Tensor& grad_bias) override {
    timed(epilogue_name(act, true), [&] { in_.linear_epilogue_backward(act, saved, grad, grad_pre, grad_bias); });
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
