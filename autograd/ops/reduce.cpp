// Reductions over dims, with keepdim.
#include <algorithm>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "backends/backend.h"

namespace memgrad {
namespace {

using Grads = std::vector<Tensor>;

// Wrapped, sorted, unique dims; all dims when empty.
std::vector<int64_t> normalize_dims(const char* op, const Tensor& t, std::vector<int64_t> dims) {
  if (dims.empty()) {
    for (int64_t d = 0; d < t.dim(); ++d) dims.push_back(d);
    return dims;
  }
  for (auto& d : dims) d = wrap_dim(d, t.dim(), op, t.shape());
  std::sort(dims.begin(), dims.end());
  MG_CHECK(std::adjacent_find(dims.begin(), dims.end()) == dims.end(), op, "repeated dim in {} for shape {}",
           str(dims), str(t.shape()));
  if (t.dim() == 0) dims.clear();
  return dims;
}

Shape kept_shape(const Shape& s, const std::vector<int64_t>& dims) {
  Shape k = s;
  for (int64_t d : dims) k[d] = 1;
  return k;
}

Shape squeezed_shape(const Shape& s, const std::vector<int64_t>& dims, bool keepdim) {
  if (keepdim) return kept_shape(s, dims);
  Shape out;
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d)
    if (!std::binary_search(dims.begin(), dims.end(), d)) out.push_back(s[d]);
  return out;
}

// Runs a reduce kernel; returns the result with reduced dims kept as size 1.
Tensor reduce_keep(ReduceOp op, const Tensor& t, const std::vector<int64_t>& dims) {
  Tensor out = empty(kept_shape(t.shape(), dims), t.dtype(), t.device());
  if (out.numel() > 0) backend_for(t.device()).reduce(op, t, dims, out);  // an empty result needs no kernel
  return out;
}

// max and min have no value over an empty dim (a 0-d input has one element).
void check_nonempty(const char* op, const Tensor& t, const std::vector<int64_t>& dims) {
  bool ok = t.numel() > 0;
  if (!dims.empty()) {
    ok = true;
    for (int64_t d : dims) ok &= t.shape()[d] > 0;
  }
  MG_CHECK(ok, op, "cannot reduce over an empty dim of shape {}", str(t.shape()));
}

// Removes kept dims without autograd (a metadata change of a fresh contiguous tensor).
Tensor drop_dims(const Tensor& t, const Shape& shape) { return alias(t, shape, contiguous_strides(shape), t.offset()); }

Tensor extreme(const char* name, ReduceOp op, const Tensor& t, std::vector<int64_t> dims, bool keepdim) {
  dims = normalize_dims(name, t, std::move(dims));
  check_nonempty(name, t, dims);
  Tensor kept = reduce_keep(op, t, dims);
  Tensor out = drop_dims(kept, squeezed_shape(t.shape(), dims, keepdim));
  Tensor st = saved(t), sk = saved(kept);
  Shape ks = kept.shape();
  // the gradient is shared evenly by the elements equal to the extreme
  return finish(name, {t}, out, [st, sk, ks](const Tensor& g) {
    Tensor mask = eq(st, sk);
    Tensor share = div(reshape(g, ks), sum_to(to(mask, st.dtype()), ks));
    return Grads{where(mask, expand(share, st.shape()), zeros_like(st))};
  });
}

}  // namespace

Tensor sum(const Tensor& t, std::vector<int64_t> dims, bool keepdim) {
  dims = normalize_dims("sum", t, std::move(dims));
  Tensor out = drop_dims(reduce_keep(ReduceOp::sum, t, dims), squeezed_shape(t.shape(), dims, keepdim));
  Shape in = t.shape(), ks = kept_shape(t.shape(), dims);
  return finish("sum", {t}, out, [in, ks](const Tensor& g) { return Grads{expand(reshape(g, ks), in)}; });
}

Tensor mean(const Tensor& t, std::vector<int64_t> dims, bool keepdim) {
  dims = normalize_dims("mean", t, std::move(dims));
  check_float(t.dtype(), "mean");
  int64_t count = 1;
  for (int64_t d : dims) count *= t.shape()[d];
  MG_CHECK(count > 0, "mean", "mean over an empty dim of shape {}", str(t.shape()));
  return div(sum(t, dims, keepdim), scalar(static_cast<double>(count), t.dtype(), t.device()));
}

Tensor amax(const Tensor& t, std::vector<int64_t> dims, bool keepdim) {
  return extreme("amax", ReduceOp::max, t, std::move(dims), keepdim);
}
Tensor amin(const Tensor& t, std::vector<int64_t> dims, bool keepdim) {
  return extreme("amin", ReduceOp::min, t, std::move(dims), keepdim);
}

namespace {
ValuesIndices arg_extreme(const char* name, ReduceOp op, const Tensor& t, int64_t dim, bool keepdim) {
  dim = wrap_dim(dim, t.dim(), name, t.shape());
  std::vector<int64_t> dims = t.dim() == 0 ? std::vector<int64_t>{} : std::vector<int64_t>{dim};
  check_nonempty(name, t, dims);
  Shape ks = kept_shape(t.shape(), dims);
  Tensor values = empty(ks, t.dtype(), t.device()), idx = empty(ks, DType::int64, t.device());
  if (t.dim() == 0) {
    backend_for(t.device()).copy(t, values);
    backend_for(t.device()).fill(idx, 0);
  } else if (values.numel() > 0) {
    backend_for(t.device()).arg_reduce(op, t, dim, values, idx);
  }
  Shape os = squeezed_shape(t.shape(), dims, keepdim);
  Tensor v = drop_dims(values, os), ix = drop_dims(idx, os);
  Tensor sidx = saved(idx);
  Shape in = t.shape();
  finish(name, {t}, std::vector<Tensor>{v}, [sidx, ks, in, dim](const Grads& g) {
    Tensor gin = zeros(in, g[0].dtype(), g[0].device());
    if (in.empty()) return Grads{reshape(g[0], in)};
    if (gin.numel() > 0) backend_for(gin.device()).scatter_add(gin, dim, sidx, contiguous(reshape(g[0], ks)));
    return Grads{gin};
  });
  return {v, ix};
}
}  // namespace

ValuesIndices max(const Tensor& t, int64_t dim, bool keepdim) {
  return arg_extreme("max", ReduceOp::max, t, dim, keepdim);
}
ValuesIndices min(const Tensor& t, int64_t dim, bool keepdim) {
  return arg_extreme("min", ReduceOp::min, t, dim, keepdim);
}
Tensor argmax(const Tensor& t, int64_t dim, bool keepdim) {
  NoGradGuard g;
  return arg_extreme("argmax", ReduceOp::max, t, dim, keepdim).indices;
}

Tensor sum_to(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  MG_CHECK(shape.size() <= static_cast<size_t>(t.dim()), "sum_to", "cannot sum shape {} to {}", str(t.shape()),
           str(shape));
  size_t lead = t.dim() - shape.size();
  std::vector<int64_t> dims;
  for (size_t d = 0; d < static_cast<size_t>(t.dim()); ++d) {
    if (d < lead) dims.push_back(static_cast<int64_t>(d));
    else if (shape[d - lead] == 1 && t.shape()[d] != 1) dims.push_back(static_cast<int64_t>(d));
    else
      MG_CHECK(shape[d - lead] == t.shape()[d], "sum_to", "cannot sum shape {} to {}", str(t.shape()), str(shape));
  }
  if (dims.empty()) return reshape(t, shape);
  return reshape(sum(t, dims, true), shape);
}

}  // namespace memgrad
