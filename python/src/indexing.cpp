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

// idx (int32/int64, any shape) as int64 in [0, n): negative entries count from the end; an entry
// outside [-n, n) is an IndexError naming it, as for an int index.
Tensor wrap_index(const Tensor& idx, int64_t n, int64_t dim) {
  check_index_dtype(idx.dtype(), "index");
  Tensor ix = to(idx, DType::int64);
  if (ix.numel() == 0) return ix;
  const int64_t lo = to(amin(ix), Device::cpu()).item<int64_t>(), hi = to(amax(ix), Device::cpu()).item<int64_t>();
  for (int64_t v : {lo, hi})
    if (v < -n || v >= n) throw py::index_error(fmt::format("index {} is out of range for dim {} of size {}", v, dim, n));
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

// PyTorch's indexing: ints (and 0-d int tensors) select, slices and None and ... make views; int
// tensors, arrays and lists of any shape gather (a copy): one on its dim, several together.
Indexed apply_index(const Tensor& t, py::handle idx) {
  py::tuple items = py::isinstance<py::tuple>(idx) ? py::reinterpret_borrow<py::tuple>(idx) : py::make_tuple(idx);
  int64_t consumed = 0, ellipses = 0;
  for (py::handle it : items) {
    if (is_ellipsis(it)) ++ellipses;
    else if (!it.is_none()) ++consumed;
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
    if (i < -n || i >= n) throw py::index_error(fmt::format("index {} is out of range for dim {} of size {}", i, d, n));
    r.value = select(r.value, d, i);
  };
  for (py::handle it : items) {
    const bool spacer = it.is_none() || PySlice_Check(it.ptr()) || (is_ellipsis(it) && t.dim() > consumed);
    if (spacer && !gather_idx.empty()) gap = true;
    if (it.is_none()) {
      r.value = unsqueeze(r.value, d++);
    } else if (is_ellipsis(it)) {
      d += t.dim() - consumed;
    } else if (PyBool_Check(it.ptr())) {
      throw py::index_error("boolean indices are not supported (use memgrad.where or masked_fill)");
    } else if (PyIndex_Check(it.ptr()) && !py::isinstance<py::array>(it)) {
      Py_ssize_t i = PyNumber_AsSsize_t(it.ptr(), PyExc_IndexError);
      if (i == -1 && PyErr_Occurred()) throw py::error_already_set();
      select_int(i);
    } else if (PySlice_Check(it.ptr())) {
      Py_ssize_t start, stop, step;
      if (PySlice_Unpack(it.ptr(), &start, &stop, &step) < 0) throw py::error_already_set();
      MG_CHECK(step > 0, "index", "slice steps must be positive (views keep non-negative strides), got {}", step);
      PySlice_AdjustIndices(r.value.size(d), &start, &stop, step);
      r.value = slice(r.value, d++, start, stop, step);
    } else {
      Tensor ix = as_tensor(it);
      if (ix.dtype() == DType::boolean)
        throw py::index_error("boolean mask indexing is not supported (use memgrad.where or masked_fill)");
      check_index_dtype(ix.dtype(), "index");
      if (ix.dim() == 0) {  // a 0-d integer array or tensor acts as an int
        select_int(ix.dtype() == DType::int32 ? ix.item<int32_t>() : ix.item<int64_t>());
        continue;
      }
      broken = broken || gap;
      gather_dims.push_back(d++);
      gather_idx.push_back(ix);
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

}  // namespace

void bind_indexing(py::class_<Tensor>& cls) {
  cls.def("__getitem__", [](const Tensor& t, py::handle idx) { return apply_index(t, idx).value; },
          "Ints, slices (positive steps), None and ... give views; int tensors, arrays or lists gather "
          "(a copy; several broadcast together, as in PyTorch).")
      .def("__setitem__", [](const Tensor& t, py::handle idx, py::handle value) {
        Indexed r = apply_index(t, idx);
        MG_CHECK(r.is_view, "setitem", "assignment through an index tensor is not supported (use a slice)");
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
