#pragma once
// The argument rule of a LayerNorm over the last dim, in one place for layer_norm()
// (ops/nn_ops.cpp) and the input norm of linear() and feed_forward() (InputNorm, ops/linear.cpp):
// weight and bias, when given, are [C] of x's dtype; eps is positive. `what` prefixes the messages
// ("" or "input norm ").
#include "autograd/ops.h"

namespace memgrad::ops_detail {

inline void check_layer_norm_params(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                                    const char* op, const char* what = "") {
  const int64_t C = x.shape().back();
  for (const Tensor* p : {&weight, &bias})
    if (p->defined())
      MG_CHECK(p->shape() == Shape{C} && p->dtype() == x.dtype(), op,
               "{}weight/bias of shape {} {} for input {} {} (expected [{}])", what, str(p->shape()),
               to_string(p->dtype()), str(x.shape()), to_string(x.dtype()), C);
  MG_CHECK(eps > 0, op, "{}eps must be positive, got {}", what, eps);
}

}  // namespace memgrad::ops_detail
