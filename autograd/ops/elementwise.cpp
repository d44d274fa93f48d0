// Elementwise ops with numpy broadcasting.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "backends/backend.h"

namespace memgrad {
namespace {

using Grads = std::vector<Tensor>;

// Runs a binary kernel on a and b broadcast to their common shape.
Tensor binary_forward(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = op_name(op);
  Backend& be = backend_of(name, {&a, &b});
  MG_CHECK(a.dtype() == b.dtype(), name, "dtype mismatch: {} {} and {} {}", to_string(a.dtype()), str(a.shape()),
           to_string(b.dtype()), str(b.shape()));
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor ea = alias(a, shape, broadcast_strides(a.shape(), a.strides(), shape, name), a.offset());
  Tensor eb = alias(b, shape, broadcast_strides(b.shape(), b.strides(), shape, name), b.offset());
  Tensor out = empty(shape, is_comparison(op) ? DType::boolean : a.dtype(), a.device());
  be.binary(op, ea, eb, out);
  return out;
}

Tensor unary_op(const char* name, UnaryOp op, const Tensor& x, double scalar = 0) {
  if (op != UnaryOp::relu && op != UnaryOp::abs) check_float(x.dtype(), name);  // relu and abs take integers too
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  backend_for(x.device()).unary(op, x, out, scalar);
  if (!is_floating(x.dtype())) return out;
  // save only what the derivative needs: the output for these, the input for the rest
  bool from_y = op == UnaryOp::exp || op == UnaryOp::sqrt || op == UnaryOp::tanh || op == UnaryOp::sigmoid;
  Tensor sx = from_y ? Tensor() : saved(x), sy = from_y ? saved(out) : Tensor();
  return finish(name, {x}, out, [op, sx, sy, scalar](const Tensor& g) {
    const Tensor& ref = sx.defined() ? sx : sy;
    Tensor gin = empty(ref.shape(), ref.dtype(), ref.device());
    backend_for(ref.device()).unary_backward(op, sx.defined() ? sx : sy, sy.defined() ? sy : sx, g, gin, scalar);
    return Grads{gin};
  });
}

Tensor scalar_like(const Tensor& t, double v) { return scalar(v, t.dtype(), t.device()); }

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::add, a, b);
  Shape sa = a.shape(), sb = b.shape();
  return finish("add", {a, b}, out, [sa, sb](const Tensor& g) { return Grads{sum_to(g, sa), sum_to(g, sb)}; });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::sub, a, b);
  Shape sa = a.shape(), sb = b.shape();
  return finish("sub", {a, b}, out, [sa, sb](const Tensor& g) { return Grads{sum_to(g, sa), sum_to(neg(g), sb)}; });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::mul, a, b);
  bool need_a = a.requires_grad(), need_b = b.requires_grad();
  Tensor sa = need_b ? saved(a) : Tensor(), sb = need_a ? saved(b) : Tensor();
  Shape sha = a.shape(), shb = b.shape();
  return finish("mul", {a, b}, out, [=](const Tensor& g) {
    return Grads{need_a ? sum_to(mul(g, sb), sha) : Tensor(), need_b ? sum_to(mul(g, sa), shb) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::div, a, b);
  bool need_b = b.requires_grad();
  Tensor sb = saved(b), so = need_b ? saved(out) : Tensor();
  Shape sha = a.shape(), shb = b.shape();
  // d(a/b)/da = 1/b; d(a/b)/db = -out/b
  return finish("div", {a, b}, out, [=](const Tensor& g) {
    Tensor ga = div(g, sb);
    return Grads{sum_to(ga, sha), need_b ? sum_to(neg(mul(ga, so)), shb) : Tensor()};
  });
}

Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::pow, a, b);
  Tensor sa = saved(a), sb = saved(b), so = saved(out);
  bool need_b = b.requires_grad();
  // d(a^b)/da = b a^(b-1); d(a^b)/db = a^b log a
  return finish("pow", {a, b}, out, [=](const Tensor& g) {
    Tensor ga = mul(g, mul(sb, pow(sa, sub(sb, scalar_like(sb, 1.0)))));
    if (!need_b) return Grads{sum_to(ga, sa.shape()), Tensor()};
    Tensor zero = scalar_like(sa, 0.0);
    Tensor gb = where(eq(sa, zero), zero, mul(so, log(sa)));  // 0^b: PyTorch's convention, not 0 * -inf
    return Grads{sum_to(ga, sa.shape()), sum_to(mul(g, gb), sb.shape())};
  });
}

Tensor pow(const Tensor& a, double exponent) { return unary_op("pow", UnaryOp::pow_scalar, a, exponent); }

namespace {
// maximum/minimum: the gradient goes to the chosen input, split in half on ties (as PyTorch).
Tensor extremum(BinaryOp op, const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(op, a, b);
  Tensor sa = saved(a), sb = saved(b);
  return finish(op_name(op), {a, b}, out, [=](const Tensor& g) {
    Tensor a_wins = op == BinaryOp::maximum ? gt(sa, sb) : lt(sa, sb);
    Tensor tie = eq(sa, sb);
    Tensor half = mul(g, scalar_like(g, 0.5));
    Tensor ga = where(a_wins, g, where(tie, half, zeros_like(g)));
    Tensor gb = sub(g, ga);
    return Grads{sum_to(ga, sa.shape()), sum_to(gb, sb.shape())};
  });
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) { return extremum(BinaryOp::maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum(BinaryOp::minimum, a, b); }

Tensor neg(const Tensor& t) {
  Tensor out = empty(t.shape(), t.dtype(), t.device());
  backend_for(t.device()).unary(UnaryOp::neg, t, out, 0);
  return finish("neg", {t}, out, [](const Tensor& g) { return Grads{neg(g)}; });
}
Tensor exp(const Tensor& t) { return unary_op("exp", UnaryOp::exp, t); }
Tensor log(const Tensor& t) { return unary_op("log", UnaryOp::log, t); }
Tensor sqrt(const Tensor& t) { return unary_op("sqrt", UnaryOp::sqrt, t); }
Tensor tanh(const Tensor& t) { return unary_op("tanh", UnaryOp::tanh, t); }
Tensor sigmoid(const Tensor& t) { return unary_op("sigmoid", UnaryOp::sigmoid, t); }
Tensor relu(const Tensor& t) { return unary_op("relu", UnaryOp::relu, t); }
Tensor gelu(const Tensor& t) { return unary_op("gelu", UnaryOp::gelu, t); }
Tensor abs(const Tensor& t) { return unary_op("abs", UnaryOp::abs, t); }

Tensor eq(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::ge, a, b); }
namespace {
Tensor logical(BinaryOp op, const Tensor& a, const Tensor& b) {
  MG_CHECK(a.dtype() == DType::boolean && b.dtype() == DType::boolean, op_name(op),
           "needs bool tensors, got {} {} and {} {}", to_string(a.dtype()), str(a.shape()), to_string(b.dtype()),
           str(b.shape()));
  return binary_forward(op, a, b);
}
}  // namespace

Tensor logical_and(const Tensor& a, const Tensor& b) { return logical(BinaryOp::logical_and, a, b); }
Tensor logical_or(const Tensor& a, const Tensor& b) { return logical(BinaryOp::logical_or, a, b); }
Tensor logical_not(const Tensor& a) {
  MG_CHECK(a.dtype() == DType::boolean, "logical_not", "needs a bool tensor, got {} {}", to_string(a.dtype()),
           str(a.shape()));
  return eq(a, scalar(0.0, DType::boolean, a.device()));
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, double b) { return add(a, scalar_like(a, b)); }
Tensor operator-(const Tensor& a, double b) { return sub(a, scalar_like(a, b)); }
Tensor operator*(const Tensor& a, double b) { return mul(a, scalar_like(a, b)); }
Tensor operator/(const Tensor& a, double b) { return div(a, scalar_like(a, b)); }
Tensor operator+(double a, const Tensor& b) { return add(scalar_like(b, a), b); }
Tensor operator-(double a, const Tensor& b) { return sub(scalar_like(b, a), b); }
Tensor operator*(double a, const Tensor& b) { return mul(scalar_like(b, a), b); }
Tensor operator/(double a, const Tensor& b) { return div(scalar_like(b, a), b); }

}  // namespace memgrad
