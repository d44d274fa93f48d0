// View ops: new metadata over the same storage. Backward maps the gradient back to the input's shape.
#include <numeric>
#include <optional>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "backends/backend.h"

namespace memgrad {
namespace {

using Grads = std::vector<Tensor>;

// Strides that view (shape, strides) as `target` without copying, if possible (PyTorch's rule:
// each run of dims that is contiguous in memory may be regrouped freely).
std::optional<Strides> view_strides(const Shape& shape, const Strides& strides, const Shape& target) {
  if (numel(shape) == 0 || shape.empty()) return contiguous_strides(target);
  Strides out(target.size());
  int64_t view_d = static_cast<int64_t>(target.size()) - 1;
  int64_t chunk_base = strides.back(), tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    if (d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base)) {
      while (view_d >= 0 && (view_numel < tensor_numel || target[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base;
        view_numel *= target[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

// Resolves one -1 in a requested shape.
Shape infer_shape(const char* op, const Tensor& t, Shape shape) {
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      MG_CHECK(infer < 0, op, "only one dim can be -1 in {}", str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      MG_CHECK(shape[i] >= 0, op, "invalid shape {}", str(shape));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    MG_CHECK(known != 0 && t.numel() % known == 0, op, "cannot reshape {} into {}", str(t.shape()), str(shape));
    shape[infer] = t.numel() / known;
  }
  MG_CHECK(numel(shape) == t.numel(), op, "cannot reshape {} ({} elements) into {}", str(t.shape()), t.numel(),
           str(shape));
  return shape;
}

// A differentiable view of t with the given metadata; backward is `back(grad)`.
Tensor make_view(const char* op, const Tensor& t, const Shape& shape, const Strides& strides, int64_t offset,
                 std::function<Tensor(const Tensor&)> back) {
  (void)numel(shape, op);  // a view's element count must fit int64 too (expand can ask for 2^64)
  Tensor out = alias(t, shape, strides, offset);
  return finish(op, {t}, out, [back = std::move(back)](const Tensor& g) { return Grads{back(g)}; });
}

// Gradient of a strided sub-view: zeros of the input's shape with g copied into the view.
Tensor embed_in_zeros(const Tensor& g, const Shape& in_shape, int64_t dim, int64_t start, int64_t step) {
  Tensor z = zeros(in_shape, g.dtype(), g.device());
  Strides st = z.strides();
  int64_t off = start * st[dim];
  st[dim] *= step;
  Tensor v = alias(z, g.shape(), st, off);
  backend_for(g.device()).copy(g, v);
  return z;
}

}  // namespace

Tensor reshape(const Tensor& t, Shape shape) {
  shape = infer_shape("reshape", t, std::move(shape));
  if (auto st = view_strides(t.shape(), t.strides(), shape)) {
    Shape in = t.shape();
    return make_view("reshape", t, shape, *st, t.offset(), [in](const Tensor& g) { return reshape(g, in); });
  }
  return reshape(clone(t), shape);
}

Tensor view(const Tensor& t, Shape shape) {
  shape = infer_shape("view", t, std::move(shape));
  auto st = view_strides(t.shape(), t.strides(), shape);
  MG_CHECK(st.has_value(), "view", "shape {} with strides {} cannot be viewed as {} without a copy; use reshape",
           str(t.shape()), str(t.strides()), str(shape));
  Shape in = t.shape();
  return make_view("view", t, shape, *st, t.offset(), [in](const Tensor& g) { return reshape(g, in); });
}

Tensor flatten(const Tensor& t, int64_t start_dim, int64_t end_dim) {
  if (t.dim() == 0) return reshape(t, {1});
  int64_t s = wrap_dim(start_dim, t.dim(), "flatten", t.shape()), e = wrap_dim(end_dim, t.dim(), "flatten", t.shape());
  MG_CHECK(s <= e, "flatten", "start_dim {} after end_dim {} for shape {}", start_dim, end_dim, str(t.shape()));
  Shape out(t.shape().begin(), t.shape().begin() + s);
  int64_t n = 1;
  for (int64_t d = s; d <= e; ++d) n *= t.shape()[d];
  out.push_back(n);
  out.insert(out.end(), t.shape().begin() + e + 1, t.shape().end());
  return reshape(t, out);
}

Tensor transpose(const Tensor& t, int64_t d0, int64_t d1) {
  d0 = wrap_dim(d0, t.dim(), "transpose", t.shape());
  d1 = wrap_dim(d1, t.dim(), "transpose", t.shape());
  if (t.dim() == 0) return t;
  Shape s = t.shape();
  Strides st = t.strides();
  std::swap(s[d0], s[d1]);
  std::swap(st[d0], st[d1]);
  return make_view("transpose", t, s, st, t.offset(), [d0, d1](const Tensor& g) { return transpose(g, d0, d1); });
}

Tensor permute(const Tensor& t, const std::vector<int64_t>& dims) {
  MG_CHECK(static_cast<int64_t>(dims.size()) == t.dim(), "permute", "{} dims given for shape {}", dims.size(),
           str(t.shape()));
  Shape s(dims.size());
  Strides st(dims.size());
  std::vector<int64_t> inverse(dims.size(), -1);
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = wrap_dim(dims[i], t.dim(), "permute", t.shape());
    MG_CHECK(inverse[d] < 0, "permute", "dim {} repeated in {}", d, str(dims));
    inverse[d] = static_cast<int64_t>(i);
    s[i] = t.shape()[d];
    st[i] = t.strides()[d];
  }
  return make_view("permute", t, s, st, t.offset(), [inverse](const Tensor& g) { return permute(g, inverse); });
}

Tensor slice(const Tensor& t, int64_t dim, int64_t start, int64_t end, int64_t step) {
  MG_CHECK(t.dim() > 0, "slice", "cannot slice a 0-d tensor");
  dim = wrap_dim(dim, t.dim(), "slice", t.shape());
  MG_CHECK(step > 0, "slice", "step must be positive, got {}", step);
  int64_t n = t.shape()[dim];
  auto clamp = [n](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + n : i, 0, n); };
  start = clamp(start);
  end = std::max(clamp(end), start);
  Shape s = t.shape();
  Strides st = t.strides();
  s[dim] = (end - start + step - 1) / step;
  st[dim] *= step;
  Shape in = t.shape();
  return make_view("slice", t, s, st, t.offset() + start * t.strides()[dim],
                   [in, dim, start, step](const Tensor& g) { return embed_in_zeros(g, in, dim, start, step); });
}

Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length) {
  MG_CHECK(t.dim() > 0, "narrow", "cannot narrow a 0-d tensor");
  dim = wrap_dim(dim, t.dim(), "narrow", t.shape());
  const int64_t n = t.shape()[dim], first = start < 0 && start >= -n ? start + n : start;  // PyTorch: start may count back
  MG_CHECK(first >= 0 && length >= 0 && first + length <= n, "narrow", "range [{}, {}) is out of bounds for dim {} of shape {}",
           start, start + length, dim, str(t.shape()));
  start = first;
  return slice(t, dim, start, start + length);
}

std::vector<Tensor> split(const Tensor& t, const std::vector<int64_t>& sizes, int64_t dim) {
  MG_CHECK(t.dim() > 0, "split", "cannot split a 0-d tensor");
  dim = wrap_dim(dim, t.dim(), "split", t.shape());
  int64_t total = 0;
  for (int64_t n : sizes) {
    MG_CHECK(n >= 0, "split", "sizes must not be negative, got {}", str(sizes));
    total += n;
  }
  MG_CHECK(total == t.shape()[dim], "split", "sizes {} sum to {}, but dim {} of shape {} has {}", str(sizes), total,
           dim, str(t.shape()), t.shape()[dim]);
  std::vector<Tensor> parts;
  int64_t start = 0;
  for (int64_t n : sizes) {
    Shape s = t.shape();
    s[dim] = n;
    parts.push_back(alias(t, s, t.strides(), t.offset() + start * t.strides()[dim]));
    start += n;
  }
  const Shape in = t.shape();
  finish("split", {t}, parts, [in, dim, sizes](const Grads& g) {
    // every element of t lies in exactly one part, so the parts' gradients fill the whole tensor
    // (Node::apply gives a part without one zeros)
    Tensor out = empty(in, g[0].dtype(), g[0].device());
    int64_t first = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      Shape s = in;
      s[dim] = sizes[i];
      Tensor part = alias(out, s, out.strides(), first * out.strides()[dim]);
      backend_for(out.device()).copy(g[i], part);
      first += sizes[i];
    }
    return Grads{out};
  });
  return parts;
}

Tensor select(const Tensor& t, int64_t dim, int64_t index) {
  MG_CHECK(t.dim() > 0, "select", "cannot select from a 0-d tensor");
  dim = wrap_dim(dim, t.dim(), "select", t.shape());
  int64_t n = t.shape()[dim];
  MG_CHECK(index >= -n && index < n, "select", "index {} is out of range for dim {} of shape {}", index, dim,
           str(t.shape()));
  if (index < 0) index += n;
  return squeeze(narrow(t, dim, index, 1), dim);
}

Tensor expand(const Tensor& t, const Shape& shape) {
  MG_CHECK(shape.size() >= static_cast<size_t>(t.dim()), "expand", "cannot expand shape {} to {}", str(t.shape()),
           str(shape));
  Shape target = shape;
  size_t lead = shape.size() - t.dim();
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      MG_CHECK(i >= lead, "expand", "-1 is not allowed for the new leading dim {} in {}", i, str(shape));
      target[i] = t.shape()[i - lead];
    }
  }
  Strides st = broadcast_strides(t.shape(), t.strides(), target, "expand");
  Shape in = t.shape();
  return make_view("expand", t, target, st, t.offset(), [in](const Tensor& g) { return sum_to(g, in); });
}

Tensor squeeze(const Tensor& t) {
  Shape s;
  for (int64_t d : t.shape())
    if (d != 1) s.push_back(d);
  return reshape(t, s);
}

Tensor squeeze(const Tensor& t, int64_t dim) {
  dim = wrap_dim(dim, t.dim(), "squeeze", t.shape());
  if (t.dim() == 0 || t.shape()[dim] != 1) return t;
  Shape s = t.shape();
  Strides st = t.strides();
  s.erase(s.begin() + dim);
  st.erase(st.begin() + dim);
  Shape in = t.shape();
  return make_view("squeeze", t, s, st, t.offset(), [in](const Tensor& g) { return reshape(g, in); });
}

Tensor unsqueeze(const Tensor& t, int64_t dim) {
  dim = wrap_dim(dim, t.dim() + 1, "unsqueeze", t.shape());
  Shape s = t.shape();
  Strides st = t.strides();
  int64_t stride = dim < t.dim() ? st[dim] * s[dim] : 1;
  s.insert(s.begin() + dim, 1);
  st.insert(st.begin() + dim, stride);
  return make_view("unsqueeze", t, s, st, t.offset(), [dim](const Tensor& g) { return squeeze(g, dim); });
}

Tensor cat(const std::vector<Tensor>& ts, int64_t dim) {
  MG_CHECK(!ts.empty(), "cat", "needs at least one tensor");
  const Tensor& first = ts[0];
  dim = wrap_dim(dim, first.dim(), "cat", first.shape());
  MG_CHECK(first.dim() > 0, "cat", "cannot concatenate 0-d tensors; use stack");
  Shape out_shape = first.shape();
  out_shape[dim] = 0;
  for (const auto& t : ts) {
    MG_CHECK(t.dtype() == first.dtype() && t.device() == first.device(), "cat",
             "tensors differ in dtype or device: {} {} {} and {} {} {}", str(first.shape()), to_string(first.dtype()),
             first.device().str(), str(t.shape()), to_string(t.dtype()), t.device().str());
    bool same = t.dim() == first.dim();
    for (int64_t d = 0; same && d < t.dim(); ++d) same = d == dim || t.shape()[d] == first.shape()[d];
    MG_CHECK(same, "cat", "shapes {} and {} differ outside dim {}", str(first.shape()), str(t.shape()), dim);
    MG_CHECK(!__builtin_add_overflow(out_shape[dim], t.shape()[dim], &out_shape[dim]), "cat",
             "the sizes along dim {} add up to more than 2^63 - 1", dim);
  }
  Tensor out = empty(out_shape, first.dtype(), first.device());
  std::vector<int64_t> sizes;
  int64_t off = 0;
  for (const auto& t : ts) {
    Shape vs = out_shape;
    vs[dim] = t.shape()[dim];
    Tensor dst = alias(out, vs, out.strides(), off * out.strides()[dim]);
    backend_for(t.device()).copy(t, dst);
    sizes.push_back(t.shape()[dim]);
    off += t.shape()[dim];
  }
  finish("cat", ts, std::vector<Tensor>{out}, [sizes, dim](const Grads& g) {
    Grads out;
    int64_t o = 0;
    for (int64_t n : sizes) out.push_back(narrow(g[0], dim, o, n)), o += n;
    return out;
  });
  return out;
}

Tensor stack(const std::vector<Tensor>& ts, int64_t dim) {
  MG_CHECK(!ts.empty(), "stack", "needs at least one tensor");
  dim = wrap_dim(dim, ts[0].dim() + 1, "stack", ts[0].shape());
  std::vector<Tensor> us;
  for (const auto& t : ts) {
    MG_CHECK(t.shape() == ts[0].shape(), "stack", "shapes {} and {} differ", str(ts[0].shape()), str(t.shape()));
    MG_CHECK(t.dtype() == ts[0].dtype() && t.device() == ts[0].device(), "stack",
             "tensors differ in dtype or device: {} {} and {} {}", to_string(ts[0].dtype()), ts[0].device().str(),
             to_string(t.dtype()), t.device().str());
    us.push_back(unsqueeze(t, dim));
  }
  return cat(us, dim);
}

}  // namespace memgrad
