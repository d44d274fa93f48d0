// Differentiable collectives (autograd/collectives.h).
#include "autograd/collectives.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "dist/dist.h"

namespace memgrad {

Tensor all_reduce_sum(const Tensor& x) {
  constexpr const char* op = "all_reduce_sum";
  MG_CHECK(x.defined(), op, "needs a defined tensor");
  const bool grad = any_requires_grad({x});
  const int64_t n = x.numel();
  Tensor y;  // [x.shape]
  {
    NoGradGuard no_grad;
    // [n + 1]: x's elements, then 1 where this rank's x requires a gradient; one all-reduce
    // carries both, and the last element counts the ranks that will run backward through it.
    Tensor flat = cat({reshape(contiguous(x), {n}), full({1}, grad ? 1.0 : 0.0, x.dtype(), x.device())}, 0);
    dist::all_reduce(flat, dist::Reduce::sum);
    const double with_grad = to(to(narrow(flat, 0, n, 1), Device::cpu()), DType::float64).item<double>();
    MG_CHECK(with_grad == 0 || with_grad == dist::world_size(), op,
             "{} of {} ranks pass an input that requires a gradient, this rank's {}: all or none must (every rank "
             "runs backward through the op, whose gradient is all-reduced)",
             std::llround(with_grad), dist::world_size(), grad ? "does" : "does not");
    y = reshape(narrow(flat, 0, 0, n), x.shape());
  }
  return finish(op, {x}, y, [](const Tensor& g) {
    Tensor s = clone(g);  // [x.shape]; g itself may be shared with other nodes
    dist::all_reduce(s, dist::Reduce::sum);
    return std::vector<Tensor>{s};
  });
}

}  // namespace memgrad
