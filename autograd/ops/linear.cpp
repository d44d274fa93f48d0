// linear(): the fused Linear layer as one autograd node. Forward: the gemm writes x W^T into the
// pre-activation, then one pass (backend linear_epilogue) adds the bias and applies the
// activation. Backward: one pass (linear_epilogue_backward) applies act' to the incoming gradient
// and sums the bias gradient, then dX = G W and dW = G^T X by gemm. Against matmul + add + gelu it
// saves one [T, out] pass and one [T, out] tensor each way.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/ops/rows.h"
#include "backends/backend.h"

namespace memgrad {
namespace {
using Grads = std::vector<Tensor>;
using rows::leading, rows::rows_of, rows::with_last;

void check_linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  auto shapes = [&] {
    return fmt::format("x {} {}, weight {} {}, bias {}", str(x.shape()), to_string(x.dtype()), str(weight.shape()),
                       to_string(weight.dtype()),
                       bias.defined() ? str(bias.shape()) + " " + to_string(bias.dtype()) : "none");
  };
  check_float(x.dtype(), "linear");
  MG_CHECK(x.dim() >= 1 && weight.dim() == 2 && weight.shape()[1] == x.shape().back(), "linear",
           "expected x [..., in] and weight [out, in], got {}", shapes());
  MG_CHECK(weight.dtype() == x.dtype() && (!bias.defined() || bias.dtype() == x.dtype()), "linear",
           "dtypes differ: {}", shapes());
  MG_CHECK(!bias.defined() || bias.shape() == Shape{weight.shape()[0]}, "linear", "bias must be [out] = [{}]: {}",
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

}  // namespace memgrad
