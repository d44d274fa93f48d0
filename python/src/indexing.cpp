// Tensor indexing (views from ints, slices, None and Ellipsis; PyTorch's gathering rules for int
// tensors, arrays and lists),
// assignment through an index, and the in-place copy_/fill_/zero_ (the library's in-place ops).
#include "common.h"

namespace memgrad::python {

namespace {

struct Indexed {
  Tensor value;
  bool is_view = true;  // false once an index tensor gathered elements (a copy)
};

bool is_ellipsis(py::handle h) { return h.ptr() == Py_Ellipsis; }

// The IndexError of index i outside [-n, n) on dim `dim`, for ints and index tensors alike.
py::index_error out_of_range(int64_t i, int64_t dim, int64_t n) {
  return py::index_error(fmt::format("index {} is out of range for dim {} of size {}", i, dim, n));
}

// idx (int32/int64, any shape) as int64 in [0, n): negative entries count from the end; an entry
// outside [-n, n) is an IndexError naming it, as for an int index.
Tensor wrap_index(const Tensor& idx, int64_t n, int64_t dim) {
  check_index_dtype(idx.dtype(), "index");
  Tensor ix = to(idx, DType::int64);
  if (ix.numel() == 0) return ix;
  const int64_t lo = to(amin(ix), Device::cpu()).item<int64_t>(), hi = to(amax(ix), Device::cpu()).item<int64_t>();
  for (int64_t v : {lo, hi})
    if (v < -n || v >= n) throw out_of_range(v, dim, n);
  if (lo >= 0) return ix;
  return where(lt(ix, scalar(0, DType::int64, ix.device())), add(ix, scalar(static_cast<double>(n), DType::int64, ix.device())), ix);
}

// One index tensor (k dims, shape S) on dim d of t: t's dim d replaced by S.
Tensor gather_one(const Tensor& t, int64_t d, const Tensor& idx) {
  Tensor flat = index_select(t, d, reshape(wrap_index(idx, t.size(d), d), {idx.numel()}));
  Shape out(t.shape().begin(), t.shape().begin() + d);
  out.insert(out.end(), idx.shape().begin(), idx.shape().end());
  out.insert(out.end(), t.shape().begin() + d + 1, t.shape().end());
  return reshape(flat, out);
}

// Several index tensors on dims dims[k] of t (PyTorch's rules, which are numpy's for tensors):
// they broadcast together to a shape S and pick the elements t[.., i_0[s], .., i_1[s], ..]; S
// takes the place of the indexed dims when they were adjacent in the index, else comes first.
Tensor gather_many(const Tensor& t, const std::vector<int64_t>& dims, std::vector<Tensor> idx, bool adjacent) {
  Shape S;
  for (const Tensor& ix : idx) S = broadcast_shapes(S, ix.shape(), "index");
  int64_t P = 1;  // the indexed dims' sizes, flattened row-major
  for (int64_t d : dims) P *= t.size(d);
  Tensor flat_ix = zeros(S, DType::int64, t.device());  // [S]: sum_k i_k * stride_k
  int64_t stride = P;
  for (size_t k = 0; k < dims.size() && flat_ix.numel() > 0; ++k) {  // (nothing picked: no index checked, as in PyTorch)
    stride = t.size(dims[k]) == 0 ? 0 : stride / t.size(dims[k]);
    flat_ix = add(flat_ix, mul(expand(wrap_index(idx[k], t.size(dims[k]), dims[k]), S),
                               scalar(static_cast<double>(stride), DType::int64, t.device())));
  }
  std::vector<int64_t> order(dims.begin(), dims.end()), rest_shape;  // indexed dims first, then the rest
  for (int64_t d = 0; d < t.dim(); ++d)
    if (std::find(dims.begin(), dims.end(), d) == dims.end()) order.push_back(d), rest_shape.push_back(t.size(d));
  Shape moved{P};
  moved.insert(moved.end(), rest_shape.begin(), rest_shape.end());
  Tensor picked = index_select(reshape(permute(t, order), moved), 0, reshape(flat_ix, {flat_ix.numel()}));
  Shape out = S;
  out.insert(out.end(), rest_shape.begin(), rest_shape.end());
  Tensor r = reshape(picked, out);  // [S, rest]
  if (!adjacent || dims.front() == 0) return r;
  // S back where the first indexed dim was: after the dims that came before it
  const int64_t ns = static_cast<int64_t>(S.size()), before = dims.front();
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < before; ++i) perm.push_back(ns + i);
  for (int64_t i = 0; i < ns; ++i) perm.push_back(i);
  for (int64_t i = ns + before; i < r.dim(); ++i) perm.push_back(i);
  return permute(r, perm);
}

// The int coordinates of mask's true elements, one int64 tensor [count] per mask dim, on `device`
// (PyTorch's rule: a boolean mask indexes as the int tensors of its nonzero()). Read on the host.
std::vector<Tensor> mask_coords(const Tensor& mask, Device device) {
  const std::vector<bool> m = contiguous(to(mask, Device::cpu())).to_vector<bool>();
  const int64_t k = mask.dim();
  std::vector<std::vector<int64_t>> coords(static_cast<size_t>(k));
  for (int64_t f = 0; f < static_cast<int64_t>(m.size()); ++f) {
    if (!m[static_cast<size_t>(f)]) continue;
    for (int64_t j = k - 1, rest = f; j >= 0; --j) {  // row-major unravel
      coords[static_cast<size_t>(j)].push_back(rest % mask.size(j));
      rest /= mask.size(j);
    }
  }
  std::vector<Tensor> out;
  for (auto& c : coords) out.push_back(to(from_vector<int64_t>(c, {static_cast<int64_t>(c.size())}), device));
  return out;
}

// One entry of an index: a Python int, slice, None or ..., or a tensor (from a tensor, an array or
// a list; int or bool).
struct IndexItem {
  py::handle h;
  Tensor tensor;  // defined for tensor entries
  bool is_mask() const { return tensor.defined() && tensor.dtype() == DType::boolean; }
};

std::vector<IndexItem> parse_index(py::handle idx) {
  py::tuple items = py::isinstance<py::tuple>(idx) ? py::reinterpret_borrow<py::tuple>(idx) : py::make_tuple(idx);
  std::vector<IndexItem> out;
  for (py::handle it : items) {
    IndexItem e{it, Tensor()};
    if (PyBool_Check(it.ptr()))
      throw py::index_error("boolean indices are not supported (use memgrad.where or masked_fill)");
    const bool basic = it.is_none() || is_ellipsis(it) || PySlice_Check(it.ptr()) ||
                       (PyIndex_Check(it.ptr()) && !py::isinstance<py::array>(it));
    if (!basic) {
      e.tensor = as_tensor(it);
      if (e.is_mask() && e.tensor.dim() == 0)
        throw py::index_error("0-d boolean masks are not supported (use memgrad.where or masked_fill)");
      if (!e.is_mask()) check_index_dtype(e.tensor.dtype(), "index");
    }
    out.push_back(e);
  }
  return out;
}

// PyTorch's indexing: ints (and 0-d int tensors) select, slices and None and ... make views; int
// tensors, arrays and lists of any shape gather (a copy): one on its dim, several together; a
// boolean mask over k dims gathers as its true elements' coordinates (k int tensors).
Indexed apply_index(const Tensor& t, py::handle idx) {
  const std::vector<IndexItem> items = parse_index(idx);
  int64_t consumed = 0, ellipses = 0;  // dims the entries index, and the number of ...
  for (const IndexItem& e : items) {
    if (is_ellipsis(e.h)) ++ellipses;
    else if (!e.h.is_none()) consumed += e.is_mask() ? e.tensor.dim() : 1;
  }
  if (ellipses > 1) throw py::index_error("an index can only have a single ellipsis ('...')");
  if (consumed > t.dim())
    throw py::index_error(fmt::format("too many indices for a tensor of dimension {} (shape {})", t.dim(), str(t.shape())));
  Indexed r{t, true};
  int64_t d = 0;  // the dim of r the next index applies to
  std::vector<int64_t> gather_dims;  // dims of r that index tensors apply to, and those tensors
  std::vector<Tensor> gather_idx;
  // whether a slice, None or a non-empty ... stands between two index tensors (ints do not count)
  bool gap = false, broken = false;
  const auto select_int = [&](int64_t i) {
    const int64_t n = r.value.size(d);
    if (i < -n || i >= n) throw out_of_range(i, d, n);
    r.value = select(r.value, d, i);
  };
  for (const IndexItem& e : items) {
    py::handle it = e.h;
    const bool spacer = it.is_none() || PySlice_Check(it.ptr()) || (is_ellipsis(it) && t.dim() > consumed);
    if (spacer && !gather_idx.empty()) gap = true;
    if (it.is_none()) {
      r.value = unsqueeze(r.value, d++);
    } else if (is_ellipsis(it)) {
      d += t.dim() - consumed;
    } else if (!e.tensor.defined() && PySlice_Check(it.ptr())) {
      Py_ssize_t start, stop, step;
      if (PySlice_Unpack(it.ptr(), &start, &stop, &step) < 0) throw py::error_already_set();
      MG_CHECK(step > 0, "index", "slice steps must be positive (views keep non-negative strides), got {}", step);
      PySlice_AdjustIndices(r.value.size(d), &start, &stop, step);
      r.value = slice(r.value, d++, start, stop, step);
    } else if (!e.tensor.defined()) {  // an int
      Py_ssize_t i = PyNumber_AsSsize_t(it.ptr(), PyExc_IndexError);
      if (i == -1 && PyErr_Occurred()) throw py::error_already_set();
      select_int(i);
    } else if (e.is_mask()) {
      const Tensor& m = e.tensor;
      for (int64_t j = 0; j < m.dim(); ++j)
        if (m.size(j) != r.value.size(d + j))
          throw py::index_error(fmt::format("the boolean mask of shape {} does not match dims {}..{} of shape {}",
                                            str(m.shape()), d, d + m.dim() - 1, str(r.value.shape())));
      broken = broken || gap;
      for (Tensor& c : mask_coords(m, r.value.device())) gather_dims.push_back(d++), gather_idx.push_back(c);
    } else if (e.tensor.dim() == 0) {  // a 0-d integer array or tensor acts as an int
      select_int(e.tensor.dtype() == DType::int32 ? e.tensor.item<int32_t>() : e.tensor.item<int64_t>());
    } else {
      broken = broken || gap;
      gather_dims.push_back(d++);
      gather_idx.push_back(e.tensor);
    }
  }
  if (gather_idx.empty()) return r;
  r.is_view = false;
  if (gather_idx.size() == 1) {
    r.value = gather_one(r.value, gather_dims[0], gather_idx[0]);
    return r;
  }
  r.value = gather_many(r.value, gather_dims, gather_idx, !broken);
  return r;
}

// dst[...] = value through the library's in-place op, which checks the write (grad mode, expanded
// views), broadcasts and converts value, and bumps the storage version (autograd/ops.h, copy_).
void assign(const Tensor& dst, py::handle value) {
  Tensor src = as_tensor(value, dst.dtype());
  copy_(dst, src);
}

// t[mask] = value for a mask over t's leading dims: value (a scalar, or a tensor that broadcasts to
// the trailing dims, the same for every selected element) is written where mask is true, through
// the one in-place write (assign). A value per selected element is not supported.
void assign_masked(const Tensor& t, const Tensor& mask, py::handle value) {
  const int64_t k = mask.dim();
  if (k > t.dim()) throw py::index_error(fmt::format("too many indices for a tensor of dimension {} (shape {})", t.dim(), str(t.shape())));
  for (int64_t j = 0; j < k; ++j)
    if (mask.size(j) != t.size(j))
      throw py::index_error(fmt::format("the boolean mask of shape {} does not match dims 0..{} of shape {}",
                                        str(mask.shape()), k - 1, str(t.shape())));
  Tensor v = as_tensor(value, t.dtype());
  Shape vs = v.shape();  // leading 1s dropped: [1, 3] is one row for every selected element
  while (!vs.empty() && vs.front() == 1 && static_cast<int64_t>(vs.size()) > t.dim() - k) vs.erase(vs.begin());
  v = reshape(v, vs);
  MG_CHECK(v.dim() <= t.dim() - k, "setitem",
           "a masked assignment takes a value that broadcasts to the trailing dims {} (the same for every selected "
           "element), got shape {}", str(Shape(t.shape().begin() + k, t.shape().end())), str(v.shape()));
  Shape ms = mask.shape();
  ms.resize(static_cast<size_t>(t.dim()), 1);  // [mask dims, 1, ..]
  // recorded like any op: a value that requires grad makes copy_ refuse in grad mode, never a cut gradient
  assign(t, py::cast(where(reshape(to(mask, t.device()), ms), to(v, t.device()), t)));
}

}  // namespace

void bind_indexing(py::class_<Tensor>& cls) {
  cls.def("__getitem__", [](const Tensor& t, py::handle idx) { return apply_index(t, idx).value; },
          "Ints, slices (positive steps), None and ... give views; int tensors, arrays or lists gather "
          "(a copy; several broadcast together, as in PyTorch).")
      .def("__setitem__", [](const Tensor& t, py::handle idx, py::handle value) {
        const std::vector<IndexItem> items = parse_index(idx);
        if (items.size() == 1 && items[0].is_mask()) return assign_masked(t, items[0].tensor, value);
        Indexed r = apply_index(t, idx);
        MG_CHECK(r.is_view, "setitem",
                 "assignment through an index tensor is not supported (use a slice, or a boolean mask alone)");
        assign(r.value, value);
      })
      .def("copy_", [](py::object self, py::handle src) {
        assign(self.cast<Tensor>(), src);
        return self;
      }, py::arg("src"), "Copies src (broadcast, converted) into this tensor in place.")
      .def("fill_", [](py::object self, py::handle value) {
        if (!is_scalar(value)) throw py::type_error("fill_ needs a scalar");
        assign(self.cast<Tensor>(), value);  // exact for any int64 value (a double would round)
        return self;
      }, py::arg("value"))
      .def("zero_", [](py::object self) {
        zero_(self.cast<Tensor>());
        return self;
      });
}

}  // namespace memgrad::python
