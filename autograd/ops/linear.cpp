// linear(): the fused Linear layer as one autograd node. Forward: the gemm writes x W^T into the
// pre-activation, then one pass (backend linear_epilogue) adds the bias and applies the
// activation. Backward: one pass (linear_epilogue_backward) applies act' to the incoming gradient
// and sums the bias gradient, then dX = G W and dW = G^T X by gemm. Against matmul + add + gelu it
// saves one [T, out] pass and one [T, out] tensor each way.
// feed_forward(): two of them with the activation between, as one node that saves the
// pre-activation alone; backward recomputes the hidden activation with one more pass.
// Both may normalize x first (InputNorm, autograd/ops.h): the input side below computes
// layer_norm(x) into a temporary the product reads, and backward recomputes it rather than keep it.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/ops/layer_norm_check.h"
#include "autograd/ops/rows.h"
#include "backends/backend.h"

namespace memgrad {
namespace {
using Grads = std::vector<Tensor>;
using rows::leading, rows::row_block, rows::rows_of, rows::with_last;

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

void check_norm(const Tensor& x, const InputNorm& n, const char* op) {
  if (!n.on) {
    MG_CHECK(!n.weight.defined() && !n.bias.defined(), op, "input norm weight or bias given with norm.on = false");
    return;
  }
  ops_detail::check_layer_norm_params(x, n.weight, n.bias, n.eps, op, "input norm ");
}

// The input side of the first product, in forward: x's rows, or layer_norm(x) written into a new
// tensor with its statistics. Not captured by the backward closures (SavedInput is).
struct InputRows {
  Tensor rows;       // [R, in]
  Tensor mu, rstd;   // [R] each, with a norm
};

InputRows input_rows(Backend& be, const Tensor& x, const InputNorm& n, int64_t in) {
  if (!n.on) return {rows_of(x, in), Tensor(), Tensor()};
  const int64_t R = numel(leading(x.shape()));
  InputRows r{empty({R, in}, x.dtype(), x.device()), empty({R}, x.dtype(), x.device()),
              empty({R}, x.dtype(), x.device())};
  be.layer_norm(x, n.weight, n.bias, n.eps, r.rows, r.mu, r.rstd);
  return r;
}

// What backward keeps of the input side: x when some gradient needs it, and with a norm its
// parameters and statistics (never the normalized rows).
struct SavedInput {
  Shape x_shape;
  int64_t in = 0;
  bool norm = false;
  double eps = 0;
  bool need_x = false, need_nw = false, need_nb = false;
  Tensor x, nw, nb, mu, rstd;

  // Whether backward needs dL/d(rows): for x's gradient or, through the norm, its parameters'.
  bool wants_row_grad() const { return need_x || need_nw || need_nb; }

  // x as contiguous rows [R, in]: x's storage when it is contiguous, else one copy.
  Tensor x_rows() const { return rows_of(x, in); }
  // The rows the product read [R, in], for dW: x's, or layer_norm(x) recomputed (the forward's
  // kernel on the same input: the same values).
  Tensor rows() const { return rows(x_rows(), 0, numel(leading(x_shape))); }
  // Rows r0 .. r0 + n - 1 of that [n, in], from xrows = x_rows() (made once for all blocks).
  Tensor rows(const Tensor& xrows, int64_t r0, int64_t n) const {
    const Tensor xr = row_block(xrows, r0, n);  // [n, in]
    if (!norm) return xr;
    Tensor y = empty({n, in}, x.dtype(), x.device()), mu2 = empty({n}, x.dtype(), x.device()),
           rstd2 = empty({n}, x.dtype(), x.device());
    backend_for(x.device()).layer_norm(xr, nw, nb, eps, y, mu2, rstd2);
    return y;
  }

  struct Grads3 {
    Tensor x, nw, nb;
  };
  // From gy = dL/d(rows) [R, in] (undefined when !wants_row_grad()): the gradients of x [x_shape]
  // and, with a norm, of its weight and bias [in]. gy is the caller's own contiguous temporary:
  // the norm's dX overwrites it (backend.h lets layer_norm_backward do that), so no second [R, in].
  Grads3 backward(const Tensor& gy) const {
    if (!norm) return {need_x ? reshape(gy, x_shape) : Tensor(), Tensor(), Tensor()};
    if (!gy.defined()) return {};
    Grads3 g{need_x ? reshape(gy, x_shape) : Tensor(),
             need_nw ? empty({in}, x.dtype(), x.device()) : Tensor(),
             need_nb ? empty({in}, x.dtype(), x.device()) : Tensor()};
    backend_for(x.device()).layer_norm_backward(gy, x, nw, mu, rstd, g.x, g.nw, g.nb);
    return g;
  }
};

// Call right before finish(): the saved() records belong to that node. rows_again: dW needs the
// product's input in backward.
SavedInput save_input(const Tensor& x, const InputNorm& n, const InputRows& r, int64_t in, bool rows_again) {
  SavedInput s;
  s.x_shape = x.shape(), s.in = in, s.norm = n.on, s.eps = n.eps;
  s.need_x = x.requires_grad();
  s.need_nw = n.on && n.weight.defined() && n.weight.requires_grad();
  s.need_nb = n.on && n.bias.defined() && n.bias.requires_grad();
  if (!n.on) {
    if (rows_again) s.x = saved(x);
    return s;
  }
  if (!rows_again && !s.wants_row_grad()) return s;
  s.x = saved(x), s.nw = saved(n.weight), s.mu = saved(r.mu), s.rstd = saved(r.rstd);
  if (rows_again) s.nb = saved(n.bias);
  return s;
}

// Rows per block of feed_forward's [rows, hidden] work: `transients` [rows, hidden] tensors of
// about kFeedForwardBlockBytes together (autograd/ops.h).
int64_t feed_forward_block_rows(int64_t hidden, DType dtype, int64_t R, int64_t transients = 1) {
  const int64_t row_bytes = std::max<int64_t>(transients * hidden * static_cast<int64_t>(itemsize(dtype)), 1);
  return std::clamp<int64_t>(kFeedForwardBlockBytes / row_bytes, 1, std::max<int64_t>(R, 1));
}

// acc += part (acc undefined: part).
void accumulate(Tensor& acc, const Tensor& part) { acc = acc.defined() ? add(acc, part) : part; }

// The node's inputs: x, the op's parameters, then the norm's weight and bias when it is on.
std::vector<Tensor> node_inputs(const Tensor& x, std::vector<Tensor> params, const InputNorm& n) {
  params.insert(params.begin(), x);
  if (n.on) params.push_back(n.weight), params.push_back(n.bias);
  return params;
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Activation act, const InputNorm& norm) {
  Backend& be = backend_of("linear", {&x, &weight, &bias, &norm.weight, &norm.bias});
  check_linear(x, weight, bias);
  check_norm(x, norm, "linear");
  const int64_t out_f = weight.shape()[0], in = weight.shape()[1];
  const Shape out_shape = with_last(leading(x.shape()), out_f);
  const int64_t R = numel(leading(x.shape()));
  Tensor out = empty(out_shape, x.dtype(), x.device());                                 // [..., out]
  Tensor pre = act == Activation::gelu ? empty(out_shape, x.dtype(), x.device()) : out;  // x W^T + b  [..., out]
  InputRows xr = input_rows(be, x, norm, in);  // [R, in]: x, or layer_norm(x)
  {
    Tensor pre2 = alias(pre, {R, out_f}, {out_f, 1}, 0), out2 = alias(out, {R, out_f}, {out_f, 1}, 0);  // [R, out]
    be.matmul(xr.rows, transpose(detach(weight), 0, 1), pre2);  // [R, in] x [in, out]
    if (act != Activation::none || bias.defined())
      be.linear_epilogue(act, pre2, bias.defined() ? contiguous(detach(bias)) : Tensor(), out2);
  }
  xr.rows = Tensor();  // a normalized input is not kept

  const bool need_w = weight.requires_grad(), need_b = bias.defined() && bias.requires_grad();
  // what act' reads: the pre-activation for gelu, the output for relu (> 0 exactly where pre > 0)
  Tensor sa = act == Activation::gelu ? saved(pre) : (act == Activation::relu ? saved(out) : Tensor());
  const SavedInput si = save_input(x, norm, xr, in, need_w);
  Tensor sw = si.wants_row_grad() ? saved(weight) : Tensor();
  return finish("linear", node_inputs(x, {weight, bias}, norm), out, [=](const Tensor& g) {  // g [..., out]
    Backend& b = backend_for(g.device());
    Tensor g2 = rows_of(g, out_f);  // [R, out]
    Tensor gpre = act == Activation::none ? g2 : empty({R, out_f}, g.dtype(), g.device());  // g * act'  [R, out]
    Tensor gb = need_b ? empty({out_f}, g.dtype(), g.device()) : Tensor();                    // [out]
    if (act != Activation::none || need_b) {
      Tensor none;
      b.linear_epilogue_backward(act, sa.defined() ? rows_of(sa, out_f) : none, g2,
                                 act == Activation::none ? none : gpre, gb, none);
    }
    Tensor gw;
    if (need_w) gw = matmul(transpose(gpre, 0, 1), si.rows());  // [out, R] x [R, in]
    const Tensor gy = si.wants_row_grad() ? matmul(gpre, sw) : Tensor();  // [R, out] x [out, in]
    gpre = Tensor();  // spent: released before the norm's backward allocates dX
    const SavedInput::Grads3 gi = si.backward(gy);
    Grads r{gi.x, gw, gb};
    if (si.norm) r.push_back(gi.nw), r.push_back(gi.nb);
    return r;
  });
}

Tensor feed_forward(const Tensor& x, const Tensor& w1, const Tensor& b1, const Tensor& w2, const Tensor& b2,
                    Activation act, const InputNorm& norm) {
  Backend& be = backend_of("feed_forward", {&x, &w1, &b1, &w2, &b2, &norm.weight, &norm.bias});
  check_linear(x, w1, b1, "feed_forward");
  check_norm(x, norm, "feed_forward");
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
  InputRows xr = input_rows(be, x, norm, in);  // [R, in]: x, or layer_norm(x)
  be.matmul(xr.rows, transpose(detach(w1), 0, 1), pre);  // [R, in] x [in, hidden]
  xr.rows = Tensor();  // a normalized input is not kept
  {
    // The activation and the second product by blocks of rows (as backward): act(pre) exists for
    // one block at a time, not as a second [R, hidden] beside the saved pre-activation.
    const Tensor bias1 = b1.defined() ? contiguous(detach(b1)) : Tensor(), none;
    const Tensor w2t = transpose(detach(w2), 0, 1);  // [hidden, out]
    if (act != Activation::gelu && b1.defined())  // relu and none leave y without the bias: added first
      be.linear_epilogue(Activation::none, pre, bias1, pre);
    Tensor out2 = alias(out, {R, out_f}, {out_f, 1}, 0);  // [R, out]
    const int64_t rb = feed_forward_block_rows(hidden, x.dtype(), R);
    for (int64_t r0 = 0; r0 < R; r0 += rb) {
      const int64_t n = std::min(rb, R - r0);
      Tensor prer = row_block(pre, r0, n), outr = row_block(out2, r0, n);  // [n, hidden], [n, out]
      Tensor h = act == Activation::none ? prer : empty({n, hidden}, x.dtype(), x.device());  // act(pre)
      if (act == Activation::gelu)
        be.linear_epilogue(act, prer, bias1, h);  // pre += b1 (kept: gelu's contract), h = gelu(pre)
      else if (act == Activation::relu)
        be.linear_epilogue(act, prer, none, h);
      be.matmul(h, w2t, outr);  // [n, hidden] x [hidden, out]
    }
    if (b2.defined()) be.linear_epilogue(Activation::none, out2, contiguous(detach(b2)), out2);
  }
  const bool need_w1 = w1.requires_grad(), need_b1 = b1.defined() && b1.requires_grad();
  const bool need_w2 = w2.requires_grad(), need_b2 = b2.defined() && b2.requires_grad();
  Tensor spre = saved(pre);
  const SavedInput si = save_input(x, norm, xr, in, need_w1);
  const bool need_pre = si.wants_row_grad() || need_w1 || need_b1;  // the gradient reaches the first linear
  Tensor sw1 = si.wants_row_grad() ? saved(w1) : Tensor(), sw2 = need_pre ? saved(w2) : Tensor();
  return finish("feed_forward", node_inputs(x, {w1, b1, w2, b2}, norm), out, [=](const Tensor& g) {  // g [..., out]
    Backend& b = backend_for(g.device());
    Tensor g2 = rows_of(g, out_f), none;  // [R, out]
    Tensor gb2 = need_b2 ? empty({out_f}, g.dtype(), g.device()) : Tensor();  // [out]
    if (need_b2) b.linear_epilogue_backward(Activation::none, none, g2, none, gb2, none);
    // By blocks of rows: the [rows, hidden] transients (the recomputed activation, dH turned into
    // dPre in place) and the recomputed normalized input exist for one block at a time, and only
    // dY [R, in] is whole; the weight and bias gradients are summed over the blocks in order.
    // Where both are wanted, the activation is recomputed in act' 's pass (linear_epilogue_backward's
    // act_out: gelu's value and derivative share Phi(pre)), and dW2 follows it; the block then
    // holds two [rows, hidden] transients (dPre and the activation), so it has half the rows.
    const bool two = need_w2 && need_pre && act != Activation::none;
    const int64_t rb = feed_forward_block_rows(hidden, g.dtype(), R, two ? 2 : 1);
    // [hidden, in], [hidden], [out, hidden]; the weights' gradients summed in place (gemm beta = 1)
    Tensor gw1 = need_w1 ? empty({hidden, in}, g.dtype(), g.device()) : Tensor(), gb1;
    Tensor gw2 = need_w2 ? empty({out_f, hidden}, g.dtype(), g.device()) : Tensor();
    Tensor gy = si.wants_row_grad() ? empty({R, in}, g.dtype(), g.device()) : Tensor();  // dL/d(rows) [R, in]
    const Tensor xrows = need_w1 ? si.x_rows() : Tensor();  // [R, in]
    for (int64_t r0 = 0; r0 < R && (need_w2 || need_pre); r0 += rb) {
      const int64_t n = std::min(rb, R - r0);
      const Tensor g2r = row_block(g2, r0, n), prer = row_block(spre, r0, n);  // [n, out], [n, hidden]
      // h = act(pre), the hidden activation recomputed (what the forward did not keep) [n, hidden]
      Tensor h = act == Activation::none || !need_w2 ? Tensor() : empty({n, hidden}, g.dtype(), g.device());
      if (need_pre) {
        Tensor gp = matmul(g2r, sw2);  // dH = G W2  [n, out] x [out, hidden], then dPre in place
        Tensor gbp = need_b1 ? empty({hidden}, g.dtype(), g.device()) : Tensor();
        // act' reads the pre-activation (relu's pre > 0 exactly where its output is); h in the same pass
        if (act != Activation::none || need_b1)
          b.linear_epilogue_backward(act, act == Activation::none ? none : prer, gp, act == Activation::none ? none : gp,
                                     gbp, h);
        if (need_b1) accumulate(gb1, gbp);
        if (need_w1) b.matmul(transpose(gp, 0, 1), si.rows(xrows, r0, n), gw1, r0 > 0);  // [hidden, n] x [n, in]
        if (gy.defined()) {
          Tensor gyr = row_block(gy, r0, n);
          b.matmul(gp, sw1, gyr);  // [n, hidden] x [hidden, in]
        }
      } else if (h.defined()) {
        Tensor pre_in = prer;  // read only: linear_epilogue writes y only to add a bias
        b.linear_epilogue(act, pre_in, none, h);
      }
      if (need_w2)  // dW2 += G^T act(pre)  [out, n] x [n, hidden]
        b.matmul(transpose(g2r, 0, 1), act == Activation::none ? prer : h, gw2, r0 > 0);
    }
    if (R == 0) {  // no rows: the parameters' gradients are sums of nothing
      if (need_w1) b.fill(gw1, 0.0);
      if (need_b1) gb1 = zeros({hidden}, g.dtype(), g.device());
      if (need_w2) b.fill(gw2, 0.0);
    }
    const SavedInput::Grads3 gi = si.backward(gy);
    Grads r{gi.x, gw1, gb1, gw2, gb2};
    if (si.norm) r.push_back(gi.nw), r.push_back(gi.nb);
    return r;
  });
}

}  // namespace memgrad
