// Tensor indexing (views from ints, slices, None and Ellipsis; index_select for an int tensor),
// assignment through an index, and the in-place copy_/fill_/zero_ (the library's in-place ops).
#include "common.h"

namespace memgrad::python {

namespace {

struct Indexed {
  Tensor value;
  bool is_view = true;  // false once an index tensor gathered rows (a copy)
};

bool is_ellipsis(py::handle h) { return h.ptr() == Py_Ellipsis; }

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
  for (py::handle it : items) {
    if (it.is_none()) {
      r.value = unsqueeze(r.value, d++);
    } else if (is_ellipsis(it)) {
      d += t.dim() - consumed;
    } else if (PyBool_Check(it.ptr())) {
      throw py::index_error("boolean indices are not supported (use memgrad.where or masked_fill)");
    } else if (PyIndex_Check(it.ptr()) && !py::isinstance<py::array>(it)) {
      Py_ssize_t i = PyNumber_AsSsize_t(it.ptr(), PyExc_IndexError);
      if (i == -1 && PyErr_Occurred()) throw py::error_already_set();
      int64_t n = r.value.size(d);
      if (i < -n || i >= n)
        throw py::index_error(fmt::format("index {} is out of range for dim {} of size {}", i, d, n));
      r.value = select(r.value, d, i);
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
      if (ix.dim() == 0) {  // a 0-d integer array or tensor acts as an int
        check_index_dtype(ix.dtype(), "index");
        int64_t i = ix.dtype() == DType::int32 ? ix.item<int32_t>() : ix.item<int64_t>();
        int64_t n = r.value.size(d);
        if (i < -n || i >= n)
          throw py::index_error(fmt::format("index {} is out of range for dim {} of size {}", i, d, n));
        r.value = select(r.value, d, i);
        continue;
      }
      MG_CHECK(ix.dim() == 1, "index", "index tensors must be 1-d, got shape {}", str(ix.shape()));
      r.value = index_select(r.value, d++, ix);
      r.is_view = false;
    }
  }
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
          "Ints, slices (positive steps), None and ... give views; a 1-d int tensor, array or list gathers "
          "rows (a copy).")
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
