// linear(): the fused Linear layer as one autograd node. Forward: the gemm writes x W^T into the
// pre-activation, then one pass (backend linear_epilogue) adds the bias and applies the
// activation. Backward: one pass (linear_epilogue_backward) applies act' to the incoming gradient
// and sums the bias gradient, then dX = G W and dW = G^T X by gemm. Against matmul + add + gelu it
// saves one [T, out] pass and one [T, out] tensor each way.
// feed_forward(): two of them with the activation between, as one node that saves the
// pre-activation alone; backward recomputes the hidden activation with one more pass.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/ops/rows.h"
#include "backends/backend.h"

namespace memgrad {
namespace {
using Grads = std::vector<Tensor>;
using rows::leading, rows::rows_of, rows::with_last;

void check_linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const char* op = "linear") {
  auto shapes = [&] {
    return fmt::format("x {} {}, weight {} {}, bias {}", str(x.shape()), to_string(x.dtype()), str(weight.shape()),
                       to_string(weight.dtype()),
                       bias.defined() ? str(bias.shape()) + " " + to_string(bias.dtype()) : "none");
  };
  check_float(x.dtype(), op);
  MG_CHECK(x.dim() >= 1 && weight.dim() == 2 && weight.shape()[1] == x.shape().back(), op,
           "expected x [..., in] and weight [out, in], got {}", shapes());
  MG_CHECK(weight.dtype() == x.dtype() && (!bias.defined() || bias.dtype() == x.dtype()), op, "dtypes differ: {}",
           shapes());
  MG_CHECK(!bias.defined() || bias.shape() == Shape{weight.shape()[0]}, op, "bias must be [out] = [{}]: {}",
           weight.shape()[0], shapes());
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Activation act) {
  Backend& be = backend_of("linear", {&x, &weight, &bias});
  check_linear(x, weight, bias);
  const int64_t out_f = weight.shape()[0], in = weight.shape()[1];
  const Shape out_shape = with_last(leading(x.shape()), out_f);
  const int64_t R = numel(leading(x.shape()));
  Tensor out = empty(out_shape, x.dtype(), x.device());                                 // [..., out]
  Tensor pre = act == Activation::gelu ? empty(out_shape, x.dtype(), x.device()) : out;  // x W^T + b  [..., out]
  {
    Tensor pre2 = alias(pre, {R, out_f}, {out_f, 1}, 0), out2 = alias(out, {R, out_f}, {out_f, 1}, 0);  // [R, out]
    be.matmul(rows_of(x, in), transpose(detach(weight), 0, 1), pre2);  // [R, in] x [in, out]
    if (act != Activation::none || bias.defined())
      be.linear_epilogue(act, pre2, bias.defined() ? contiguous(detach(bias)) : Tensor(), out2);
  }

  const bool need_x = x.requires_grad(), need_w = weight.requires_grad(), need_b = bias.defined() && bias.requires_grad();
  const Shape x_shape = x.shape();
  // what act' reads: the pre-activation for gelu, the output for relu (> 0 exactly where pre > 0)
  Tensor sa = act == Activation::gelu ? saved(pre) : (act == Activation::relu ? saved(out) : Tensor());
  Tensor sx = need_w ? saved(x) : Tensor(), sw = need_x ? saved(weight) : Tensor();
  return finish("linear", {x, weight, bias}, out, [=](const Tensor& g) {  // g [..., out]
    Backend& b = backend_for(g.device());
    Tensor g2 = rows_of(g, out_f);  // [R, out]
    Tensor gpre = act == Activation::none ? g2 : empty({R, out_f}, g.dtype(), g.device());  // g * act'  [R, out]
    Tensor gb = need_b ? empty({out_f}, g.dtype(), g.device()) : Tensor();                    // [out]
    if (act != Activation::none || need_b) {
      Tensor none;
      b.linear_epilogue_backward(act, sa.defined() ? rows_of(sa, out_f) : none, g2,
                                 act == Activation::none ? none : gpre, gb);
    }
    Tensor gx, gw;
    if (need_x) gx = reshape(matmul(gpre, sw), x_shape);               // [R, out] x [out, in] -> [..., in]
    if (need_w) gw = matmul(transpose(gpre, 0, 1), rows_of(sx, in));  // [out, R] x [R, in]
    return Grads{gx, gw, gb};
  });
}

Tensor feed_forward(const Tensor& x, const Tensor& w1, const Tensor& b1, const Tensor& w2, const Tensor& b2,
                    Activation act) {
  Backend& be = backend_of("feed_forward", {&x, &w1, &b1, &w2, &b2});
  check_linear(x, w1, b1, "feed_forward");
  const int64_t in = w1.shape()[1], hidden = w1.shape()[0];
  MG_CHECK(w2.dim() == 2 && w2.shape()[1] == hidden, "feed_forward",
           "w2 must be [out, hidden] with hidden = {} (w1 {}), got {}", hidden, str(w1.shape()), str(w2.shape()));
  MG_CHECK(w2.dtype() == x.dtype() && (!b2.defined() || b2.dtype() == x.dtype()), "feed_forward",
           "dtypes differ: x {}, w2 {}, b2 {}", to_string(x.dtype()), to_string(w2.dtype()),
           b2.defined() ? to_string(b2.dtype()) : "none");
  MG_CHECK(!b2.defined() || b2.shape() == Shape{w2.shape()[0]}, "feed_forward", "b2 must be [out] = [{}], got {}",
           w2.shape()[0], str(b2.shape()));
  const int64_t out_f = w2.shape()[0], R = numel(leading(x.shape()));
  Tensor pre = empty({R, hidden}, x.dtype(), x.device());  // x W1^T + b1  [R, hidden]
  Tensor out = empty(with_last(leading(x.shape()), out_f), x.dtype(), x.device());  // [..., out]
  {
    Tensor h = act == Activation::none ? pre : empty({R, hidden}, x.dtype(), x.device());  // act(pre), freed here
    be.matmul(rows_of(x, in), transpose(detach(w1), 0, 1), pre);  // [R, in] x [in, hidden]
    const Tensor bias1 = b1.defined() ? contiguous(detach(b1)) : Tensor(), none;
    if (act == Activation::gelu) {
      be.linear_epilogue(act, pre, bias1, h);  // pre += b1 (kept: gelu's contract), h = gelu(pre)
    } else {  // relu and none leave y without the bias: added first, so that pre holds it
      if (b1.defined()) be.linear_epilogue(Activation::none, pre, bias1, pre);
      if (act == Activation::relu) be.linear_epilogue(act, pre, none, h);
    }
    Tensor out2 = alias(out, {R, out_f}, {out_f, 1}, 0);
    be.matmul(h, transpose(detach(w2), 0, 1), out2);  // [R, hidden] x [hidden, out]
    if (b2.defined()) be.linear_epilogue(Activation::none, out2, contiguous(detach(b2)), out2);
  }
  const bool need_x = x.requires_grad(), need_w1 = w1.requires_grad(), need_b1 = b1.defined() && b1.requires_grad();
  const bool need_w2 = w2.requires_grad(), need_b2 = b2.defined() && b2.requires_grad();
  const bool need_pre = need_x || need_w1 || need_b1;  // the gradient reaches the first linear
  const Shape x_shape = x.shape();
  Tensor spre = saved(pre), sx = need_w1 ? saved(x) : Tensor(), sw1 = need_x ? saved(w1) : Tensor();
  Tensor sw2 = need_pre ? saved(w2) : Tensor();
  return finish("feed_forward", {x, w1, b1, w2, b2}, out, [=](const Tensor& g) {  // g [..., out]
    Backend& b = backend_for(g.device());
    Tensor g2 = rows_of(g, out_f), none;  // [R, out]
    Tensor gb2 = need_b2 ? empty({out_f}, g.dtype(), g.device()) : Tensor();  // [out]
    if (need_b2) b.linear_epilogue_backward(Activation::none, none, g2, none, gb2);
    // dH = G W2, then dPre = dH * act'(pre), dH released: at most two [R, hidden] tensors at once
    Tensor gpre, gb1;  // [R, hidden], [hidden]
    if (need_pre) {
      Tensor gh = matmul(g2, sw2);  // [R, out] x [out, hidden]
      // act' reads the pre-activation: relu's pre > 0 exactly where its output is
      gpre = act == Activation::none ? gh : empty({R, hidden}, g.dtype(), g.device());
      gb1 = need_b1 ? empty({hidden}, g.dtype(), g.device()) : Tensor();
      if (act != Activation::none || need_b1)
        b.linear_epilogue_backward(act, act == Activation::none ? none : spre, gh, act == Activation::none ? none : gpre,
                                   gb1);
    }
    Tensor gw2;
    if (need_w2) {  // dW2 = G^T act(pre), the hidden activation recomputed (the one pass saving it avoids)
      Tensor pre_in = spre;  // read only: linear_epilogue writes y only to add a bias
      Tensor h = act == Activation::none ? spre : empty({R, hidden}, g.dtype(), g.device());  // [R, hidden]
      if (act != Activation::none) b.linear_epilogue(act, pre_in, none, h);
      gw2 = matmul(transpose(g2, 0, 1), h);  // [out, R] x [R, hidden]
    }
    Tensor gx, gw1;
    if (need_x) gx = reshape(matmul(gpre, sw1), x_shape);               // [R, hidden] x [hidden, in]
    if (need_w1) gw1 = matmul(transpose(gpre, 0, 1), rows_of(sx, in));  // [hidden, R] x [R, in]
    return Grads{gx, gw1, gb1, gw2, gb2};
  });
}

}  // namespace memgrad
