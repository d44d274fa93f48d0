// In-place writes: the one place that decides whether a write into an existing tensor is allowed,
// and that counts it in the storage's version (core/storage.h) so that backward notices tensors
// saved before the write (autograd/node.h). Contract in autograd/ops.h.
#include <cmath>

#include "autograd/ops.h"
#include "backends/backend.h"

namespace memgrad {

namespace {

// Refuses writes that autograd cannot follow or that would be ill-defined.
void check_writable(const Tensor& t, const char* op) {
  MG_CHECK(t.defined(), op, "cannot write into an undefined tensor");
  MG_CHECK(!(grad_enabled() && t.requires_grad()), op,
           "cannot write in place into a tensor that requires grad (shape {}) while grad mode is on: autograd would "
           "not see the change. Use an out-of-place op, or NoGradGuard (Python: memgrad.no_grad()) for updates "
           "such as initialisation",
           str(t.shape()));
  for (int64_t d = 0; d < t.dim(); ++d)
    MG_CHECK(t.strides()[d] != 0 || t.shape()[d] <= 1, op,
             "cannot write into an expanded view (stride 0 in dim {} of shape {}): several of its elements share one "
             "memory location; clone() it first",
             d, str(t.shape()));
}

void check_source(const Tensor& src, const char* op) {
  MG_CHECK(src.defined(), op, "the source tensor is undefined");
  MG_CHECK(!(grad_enabled() && src.requires_grad()), op,
           "the source (shape {}) requires grad, and an in-place write does not pass gradients on: use an "
           "out-of-place op, or detach() the source",
           str(src.shape()));
}

// src as a view of dst's shape, dtype and device that does not overlap dst's memory.
Tensor prepare_source(const Tensor& dst, Tensor src, const char* op) {
  NoGradGuard no_grad;
  if (!(src.device() == dst.device())) src = to(src, dst.device());
  if (src.shares_storage(dst)) src = clone(src);  // overlapping views: read everything before writing
  const Shape shape = broadcast_shapes(dst.shape(), src.shape(), op);
  MG_CHECK(shape == dst.shape(), op, "a source of shape {} cannot be written into a tensor of shape {}",
           str(src.shape()), str(dst.shape()));
  return expand(src, dst.shape());
}

// Writes `value` (any view of t's shape; converted to t's dtype) into t and counts the write.
Tensor write(const Tensor& t, const Tensor& value) {
  Tensor dst = t;
  backend_for(t.device()).copy(value, dst);
  t.storage()->bump_version();
  return t;
}

// t = op(t, other) for the elementwise ops, through a temporary (any view of t, broadcasting).
template <class F>
Tensor update(const Tensor& t, const Tensor& other, const char* op, F&& f) {
  check_writable(t, op);
  check_source(other, op);
  Tensor src = prepare_source(t, other, op);
  NoGradGuard no_grad;
  Tensor result = f(t, to(src, t.dtype()));
  MG_CHECK(result.shape() == t.shape(), op, "result of shape {} for a tensor of shape {}", str(result.shape()),
           str(t.shape()));
  return write(t, result);
}

// A number that scales an integer tensor must be an integer (PyTorch refuses 2.5 too): converting
// it to the tensor's dtype would truncate it without a word.
void check_integral_scale(const Tensor& t, double value, const char* what, const char* op) {
  MG_CHECK(!is_integral(t.dtype()) || value == std::trunc(value), op, "{} {} is not an integer, and the tensor is {}",
           what, value, to_string(t.dtype()));
}

}  // namespace

Tensor copy_(const Tensor& t, const Tensor& src) {
  check_writable(t, "copy_");
  check_source(src, "copy_");
  return write(t, prepare_source(t, src, "copy_"));
}

Tensor fill_(const Tensor& t, double value) {
  check_writable(t, "fill_");
  if (t.is_contiguous()) {  // the fill kernel writes contiguous outputs
    Tensor dst = t;
    backend_for(t.device()).fill(dst, value);
    t.storage()->bump_version();
    return t;
  }
  return write(t, expand(scalar(value, t.dtype(), t.device()), t.shape()));
}

Tensor zero_(const Tensor& t) { return fill_(t, 0.0); }

Tensor add_(const Tensor& t, const Tensor& other, double alpha) {
  check_integral_scale(t, alpha, "alpha", "add_");
  return update(t, other, "add_", [alpha](const Tensor& a, const Tensor& b) {
    return alpha == 1 ? add(a, b) : add(a, mul(b, scalar(alpha, b.dtype(), b.device())));
  });
}
Tensor sub_(const Tensor& t, const Tensor& other) {
  return update(t, other, "sub_", [](const Tensor& a, const Tensor& b) { return sub(a, b); });
}
Tensor mul_(const Tensor& t, const Tensor& other) {
  return update(t, other, "mul_", [](const Tensor& a, const Tensor& b) { return mul(a, b); });
}
Tensor mul_(const Tensor& t, double value) {
  check_integral_scale(t, value, "the factor", "mul_");
  return mul_(t, scalar(value, t.dtype(), t.device()));
}
Tensor div_(const Tensor& t, const Tensor& other) {
  return update(t, other, "div_", [](const Tensor& a, const Tensor& b) { return div(a, b); });
}

}  // namespace memgrad
