// Softmax, selection, normalisation and dropout.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/ops/layer_norm_check.h"
#include "backends/backend.h"

namespace memgrad {
namespace {

using Grads = std::vector<Tensor>;

// A view of t with dims d and the last swapped, without autograd (the kernels work on the last dim).
Tensor swap_last(const Tensor& t, int64_t d) {
  if (t.dim() == 0 || d == t.dim() - 1) return t;
  Shape s = t.shape();
  Strides st = t.strides();
  std::swap(s[d], s.back());
  std::swap(st[d], st.back());
  return alias(t, s, st, t.offset());
}

Tensor softmax_impl(const char* name, const Tensor& t, int64_t dim, bool log) {
  check_float(t.dtype(), name);
  dim = wrap_dim(dim, t.dim(), name, t.shape());
  Tensor x = swap_last(t, dim);
  Tensor y = empty(x.shape(), x.dtype(), x.device());  // softmax over the last dim of x
  backend_for(t.device()).softmax(x, y, log);
  Tensor out = swap_last(y, dim);
  Tensor sy = saved(y);
  return finish(name, {t}, out, [sy, dim, log](const Tensor& g) {
    Tensor gin = empty(sy.shape(), sy.dtype(), sy.device());
    backend_for(sy.device()).softmax_backward(sy, swap_last(g, dim), gin, log);
    return Grads{swap_last(gin, dim)};
  });
}

}  // namespace

Tensor softmax(const Tensor& t, int64_t dim) { return softmax_impl("softmax", t, dim, false); }
Tensor log_softmax(const Tensor& t, int64_t dim) { return softmax_impl("log_softmax", t, dim, true); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  Backend& be = backend_of("where", {&cond, &a, &b});
  MG_CHECK(cond.dtype() == DType::boolean, "where", "condition must be bool, got {} {}", to_string(cond.dtype()),
           str(cond.shape()));
  MG_CHECK(a.dtype() == b.dtype(), "where", "dtype mismatch: {} {} and {} {}", to_string(a.dtype()), str(a.shape()),
           to_string(b.dtype()), str(b.shape()));
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  auto expanded = [&](const Tensor& t) {
    return alias(t, shape, broadcast_strides(t.shape(), t.strides(), shape, "where"), t.offset());
  };
  Tensor out = empty(shape, a.dtype(), a.device());
  be.where(expanded(cond), expanded(a), expanded(b), out);
  Tensor sc = saved(cond);
  Shape sa = a.shape(), sb = b.shape();
  return finish("where", {a, b}, out, [sc, sa, sb](const Tensor& g) {
    Tensor z = zeros({}, g.dtype(), g.device());
    return Grads{sum_to(where(sc, g, z), sa), sum_to(where(sc, z, g), sb)};
  });
}

Tensor masked_fill(const Tensor& t, const Tensor& mask, double value) {
  MG_CHECK(broadcast_shapes(t.shape(), mask.shape(), "masked_fill") == t.shape(), "masked_fill",
           "mask of shape {} does not broadcast to the input's shape {}", str(mask.shape()), str(t.shape()));
  return where(mask, scalar(value, t.dtype(), t.device()), t);
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  Backend& be = backend_of("layer_norm", {&x, &weight, &bias});
  check_float(x.dtype(), "layer_norm");
  MG_CHECK(x.dim() >= 1, "layer_norm", "input must have at least one dim, got shape {}", str(x.shape()));
  ops_detail::check_layer_norm_params(x, weight, bias, eps, "layer_norm");
  Shape rows(x.shape().begin(), x.shape().end() - 1);
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  Tensor mu = empty(rows, x.dtype(), x.device()), rstd = empty(rows, x.dtype(), x.device());
  be.layer_norm(x, weight, bias, eps, out, mu, rstd);
  Tensor sx = saved(x), sw = saved(weight), smu = saved(mu), srs = saved(rstd);
  bool need_x = x.requires_grad(), need_w = weight.defined() && weight.requires_grad(),
       need_b = bias.defined() && bias.requires_grad();
  return finish("layer_norm", {x, weight, bias}, out, [=](const Tensor& g) {
    Tensor gx = need_x ? empty_like(sx) : Tensor();
    Tensor gw = need_w ? empty_like(sw) : Tensor();
    Tensor gb = need_b ? empty({sx.shape().back()}, sx.dtype(), sx.device()) : Tensor();
    backend_for(sx.device()).layer_norm_backward(g, sx, sw, smu, srs, gx, gw, gb);
    return Grads{gx, gw, gb};
  });
}

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  MG_CHECK(p >= 0 && p <= 1, "dropout", "p must be in [0, 1], got {}", p);
  if (!training || p == 0) return x;
  if (p == 1) return mul(x, zeros({}, x.dtype(), x.device()));
  check_float(x.dtype(), "dropout");
  Generator& g = gen ? *gen : default_generator();
  Tensor keep = empty(x.shape(), x.dtype(), x.device());
  backend_for(x.device()).random(keep, RandomKind::bernoulli, 1 - p, 0, g.seed(), g.advance(x.numel()));
  Tensor scale = mul(keep, scalar(1.0 / (1.0 - p), x.dtype(), x.device()));  // 0 or 1/(1-p)
  return mul(x, scale);
}

}  // namespace memgrad
