// Conversions between Python objects and memgrad types, and numpy interop (see common.h).
#include <string>

#include "common.h"
#include "core/escape.h"

namespace memgrad::python {

namespace {

bool interpreter_gone() {
#if PY_VERSION_HEX >= 0x030D0000
  return !Py_IsInitialized() || Py_IsFinalizing();
#else
  return !Py_IsInitialized() || _Py_IsFinalizing();
#endif
}

py::module_ numpy() { return py::module_::import("numpy"); }

int64_t to_int(py::handle h) {
  PyObject* i = PyNumber_Index(h.ptr());  // ints and numpy integers; floats raise TypeError
  if (!i) throw py::error_already_set();
  int64_t v = PyLong_AsLongLong(i);
  Py_DECREF(i);
  if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
  return v;
}

}  // namespace

int64_t int_arg(py::handle h, const char* op, const char* what) {
  const auto bad = [&] {
    return py::type_error(fmt::format("[{}] {} must be an int, got {}", op, what, py::repr(h).cast<std::string>()));
  };
  if (!PyIndex_Check(h.ptr()) || py::isinstance<py::bool_>(h)) throw bad();
  try {
    return to_int(h);  // (numpy arrays have __index__ but refuse it unless they hold one integer)
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_TypeError)) throw;
    throw bad();
  }
}

double float_arg(py::handle h, const char* op, const char* what) {
  if (py::isinstance<py::bool_>(h) || !(PyIndex_Check(h.ptr()) || PyFloat_Check(h.ptr()) || is_scalar(h)))
    throw py::type_error(fmt::format("[{}] {} must be a number, got {}", op, what, py::repr(h).cast<std::string>()));
  return py::float_(py::reinterpret_borrow<py::object>(h)).cast<double>();
}

namespace {

// The memgrad dtype of a numpy dtype, when it is one memgrad has (native byte order).
std::optional<DType> match_numpy(const py::dtype& d) {
  if (d.equal(py::dtype::of<float>())) return DType::float32;
  if (d.equal(py::dtype::of<double>())) return DType::float64;
  if (d.equal(py::dtype::of<int32_t>())) return DType::int32;
  if (d.equal(py::dtype::of<int64_t>())) return DType::int64;
  if (d.equal(py::dtype::of<bool>())) return DType::boolean;
  return std::nullopt;
}

// The dtype of d in native byte order (d itself when it has none or is native).
py::dtype native_order(const py::dtype& d) { return py::reinterpret_borrow<py::dtype>(d.attr("newbyteorder")("=")); }

// The nearest memgrad dtype for a numpy dtype memgrad lacks (float16 -> float32, small or
// unsigned ints -> int64; a byte-swapped dtype memgrad has -> that dtype); nullopt for anything
// else (complex, strings, objects).
std::optional<DType> nearest_numpy(const py::dtype& d) {
  if (auto t = match_numpy(native_order(d))) return t;  // '>i4' is int32, not the nearest int64
  switch (d.kind()) {
    case 'f': return d.itemsize() <= 4 ? DType::float32 : DType::float64;
    case 'i':
    case 'u': return DType::int64;
    case 'b': return DType::boolean;
    default: return std::nullopt;
  }
}

[[noreturn]] void unsupported(py::handle what) {
  throw Error(fmt::format("[tensor] unsupported dtype {} (memgrad has float32, float64, int32, int64 and bool)",
                          escape_bytes(py::str(what).cast<std::string>(), 80)));
}

// repr() of a value for a message: escaped and short.
std::string shown(py::handle h) { return escape_bytes(py::repr(h).cast<std::string>(), 80); }
// "uint64": an array's dtype for a message.
std::string dtype_str(const py::array& a) { return escape_bytes(py::str(a.dtype()).cast<std::string>(), 40); }

// a converted to `target` (a memgrad dtype) the way numpy's astype does, but never silently
// wrapping: an integer target refuses values outside its range (a uint64 above int64's maximum, an
// int64 beyond int32's) and NaN or infinite floats; the error names the first such value. Floats
// to integers truncate toward zero, as in numpy and PyTorch; everything else converts exactly or
// rounds (int64 -> float32, float64 -> float32).
py::array convert_checked(py::array a, DType target) {
  auto m = match_numpy(a.dtype());
  if (m && *m == target) return a;
  const char kind = a.dtype().kind();
  MG_CHECK(kind == 'b' || kind == 'i' || kind == 'u' || kind == 'f', "tensor",
           "cannot convert {} to {} (memgrad has float32, float64, int32, int64 and bool)", shown(a),
           to_string(target));
  const auto size = static_cast<py::ssize_t>(itemsize(target));
  const bool always_fits = kind == 'b' || (kind == 'i' && a.itemsize() <= size) || (kind == 'u' && a.itemsize() < size);
  if ((target == DType::int32 || target == DType::int64) && !always_fits && a.size() > 0) {
    py::module_ np = numpy();
    py::object info = np.attr("iinfo")(numpy_dtype(target));
    py::object lo = info.attr("min"), hi = info.attr("max");
    py::array checked = a;
    if (kind == 'f') {
      py::array finite = np.attr("isfinite")(a);
      if (!finite.attr("all")().cast<bool>())
        fail("tensor", "value {} of the {} array cannot be converted to {}",
             shown(a.attr("__getitem__")(np.attr("logical_not")(finite)).attr("flat")[py::int_(0)].attr("item")()),
             dtype_str(a), to_string(target));
      checked = np.attr("trunc")(a);
    }
    // min and max as Python numbers: Python compares ints and floats exactly (numpy would round
    // the bound to the array's dtype first)
    py::object mn = checked.attr("min")().attr("item")(), mx = checked.attr("max")().attr("item")();
    for (const py::object& v : {mn, mx})
      MG_CHECK(!(v < lo) && !(v > hi), "tensor", "value {} of the {} array is out of range for {} ([{}, {}])", shown(v),
               dtype_str(a), to_string(target), shown(lo), shown(hi));
  }
  return a.attr("astype")(numpy_dtype(target));
}

// numpy array of h with memgrad-compatible dtype (`dtype` when given), converted by
// convert_checked.
py::array as_array(py::handle h, std::optional<DType> dtype) {
  py::array a;
  try {
    a = py::reinterpret_borrow<py::array>(numpy().attr("asarray")(h));
  } catch (py::error_already_set& e) {  // ragged or mixed sequences: numpy's reason, under memgrad's name
    if (!e.matches(PyExc_ValueError) && !e.matches(PyExc_TypeError)) throw;
    throw Error(fmt::format("[tensor] cannot make a tensor from {}: {}", shown(h), e.value().attr("args")[py::int_(0)].cast<std::string>()));
  }
  if (dtype) return convert_checked(a, *dtype);
  auto t = nearest_numpy(a.dtype());
  if (!t) unsupported(a.dtype());
  return convert_checked(a, *t);
}

}  // namespace

std::shared_ptr<void> py_shared(py::object o) {
  PyObject* p = o.release().ptr();
  return std::shared_ptr<void>(p, [](void* q) {
    if (interpreter_gone()) return;  // the interpreter is finalising: leak rather than crash
    py::gil_scoped_acquire gil;
    Py_DECREF(static_cast<PyObject*>(q));
  });
}

DType to_dtype(py::handle h) {
  if (py::isinstance<DType>(h)) return h.cast<DType>();
  if (py::isinstance<py::str>(h)) {
    std::string s = h.cast<std::string>();
    if (s == "float32" || s == "float") return DType::float32;
    if (s == "float64" || s == "double") return DType::float64;
    if (s == "int32" || s == "int") return DType::int32;
    if (s == "int64" || s == "long") return DType::int64;
    if (s == "bool" || s == "boolean") return DType::boolean;
    throw Error(fmt::format("[dtype] unknown dtype '{}' (float32, float64, int32, int64 or bool)", s));
  }
  if (h.ptr() == reinterpret_cast<PyObject*>(&PyFloat_Type)) return DType::float32;
  if (h.ptr() == reinterpret_cast<PyObject*>(&PyBool_Type)) return DType::boolean;
  if (h.ptr() == reinterpret_cast<PyObject*>(&PyLong_Type)) return DType::int64;
  py::dtype d;
  try {
    d = py::dtype::from_args(py::reinterpret_borrow<py::object>(h));
  } catch (py::error_already_set&) {
    throw Error(fmt::format("[dtype] cannot interpret {} as a dtype", py::repr(h).cast<std::string>()));
  }
  auto t = match_numpy(d);
  if (!t) unsupported(d);
  return *t;
}

std::optional<DType> to_dtype_opt(py::handle h) {
  if (h.is_none()) return std::nullopt;
  return to_dtype(h);
}

Device to_device(py::handle h) {
  if (h.is_none()) return Device::cpu();
  if (py::isinstance<Device>(h)) return h.cast<Device>();
  if (py::isinstance<py::str>(h)) return Device::parse(h.cast<std::string>());
  throw Error(fmt::format("[device] cannot interpret {} as a device ('cpu', 'cuda:0')", py::repr(h).cast<std::string>()));
}

namespace {

// to_shape and to_dims; `what` names the argument in errors ("a shape", "dim").
Shape ints_of(py::handle h, const char* op, const char* what) {
  const auto bad = [&] {
    return py::type_error(fmt::format("[{}] {} must be an int or a sequence of ints, got {}", op, what,
                                      py::repr(h).cast<std::string>()));
  };
  if (py::isinstance<py::bool_>(h)) throw bad();
  const bool array = py::isinstance<py::array>(h);
  if (PyIndex_Check(h.ptr()) && (!array || py::reinterpret_borrow<py::array>(h).ndim() == 0)) return {int_arg(h, op, what)};
  if (py::isinstance<Tensor>(h)) {  // an integer tensor of 0 or 1 dims holds the values
    const Tensor t = h.cast<Tensor>();
    if (is_floating(t.dtype()) || t.dtype() == DType::boolean || t.dim() > 1) throw bad();
    std::vector<int64_t> v = contiguous(to(to(t, Device::cpu()), DType::int64)).to_vector<int64_t>();
    return Shape(v.begin(), v.end());
  }
  if (!py::isinstance<py::sequence>(h) || py::isinstance<py::str>(h) || py::isinstance<py::bytes>(h)) throw bad();
  Shape s;
  for (py::handle item : py::reinterpret_borrow<py::sequence>(h)) {
    if (py::isinstance<py::bool_>(item) || !PyIndex_Check(item.ptr())) throw bad();
    s.push_back(int_arg(item, op, what));
  }
  return s;
}

}  // namespace

Shape to_shape(py::handle h, const char* op) { return ints_of(h, op, "a shape"); }

Shape shape_from_args(const py::args& args, const char* op) {
  if (args.size() == 1) {  // f((2, 3)), f(array), f(tensor): one shape; f(2): one size
    const py::handle a = args[0];
    const bool array = py::isinstance<py::array>(a) && py::reinterpret_borrow<py::array>(a).ndim() > 0;
    if (!PyIndex_Check(a.ptr()) || array) return to_shape(a, op);
  }
  Shape s;
  for (py::handle a : args) s.push_back(int_arg(a, op, "each size"));
  return s;
}

std::vector<int64_t> to_dims(py::handle h, const char* op) {
  if (h.is_none()) return {};
  return ints_of(h, op, "dim");
}

std::string to_path(py::handle h, const char* op) {
  py::object encoded;
  try {
    encoded = py::module_::import("os").attr("fsencode")(h);
  } catch (py::error_already_set&) {
    throw py::type_error(fmt::format("[{}] a path must be str, bytes or os.PathLike, got {}", op, Py_TYPE(h.ptr())->tp_name));
  }
  std::string path = encoded.cast<std::string>();
  MG_CHECK(path.find('\0') == std::string::npos, op, "the path '{}' holds a NUL byte", escape_bytes(path));
  return path;
}

void check_shape(const Shape& s, DType dtype, const char* op) { (void)memgrad::check_shape(s, itemsize(dtype), op); }

py::dtype numpy_dtype(DType t) {
  switch (t) {
    case DType::float32: return py::dtype::of<float>();
    case DType::float64: return py::dtype::of<double>();
    case DType::int32: return py::dtype::of<int32_t>();
    case DType::int64: return py::dtype::of<int64_t>();
    case DType::boolean: return py::dtype::of<bool>();
  }
  throw Error("[numpy] unknown dtype");
}

Tensor from_numpy(py::array a, bool* copied) {
  memory::CategoryScope user(memory::Category::user);  // a copy of the user's array (core/memory_trace.h)
  auto dtype = match_numpy(a.dtype());
  bool swapped = false;  // a supported dtype in non-native byte order: copied in native order
  if (!dtype) {
    py::dtype native = native_order(a.dtype());
    dtype = match_numpy(native);
    if (!dtype) unsupported(a.dtype());
    a = a.attr("astype")(native);
    swapped = true;
  }
  const int64_t item = static_cast<int64_t>(itemsize(*dtype));
  auto shareable = [&](const py::array& x) {
    if (!x.writeable() || !(x.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_)) return false;
    for (py::ssize_t i = 0; i < x.ndim(); ++i)
      if (x.strides(i) < 0 || x.strides(i) % item != 0) return false;
    return true;
  };
  if (copied) *copied = swapped;
  if (!shareable(a)) {
    a = numpy().attr("array")(a, py::arg("copy") = true, py::arg("order") = "C");
    if (copied) *copied = true;
  }
  Shape shape(a.shape(), a.shape() + a.ndim());
  if (numel(shape) == 0) return empty(shape, *dtype);
  Strides strides(static_cast<size_t>(a.ndim()));
  int64_t extent = item;  // bytes from the first element to the end of the last
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    strides[i] = a.strides(i) / item;
    extent += (shape[i] - 1) * a.strides(i);
  }
  void* data = a.mutable_data();
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(data, static_cast<size_t>(extent), Device::cpu(), py_shared(a));
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->dtype = *dtype;
  return Tensor(std::move(impl));
}

py::array to_numpy(const Tensor& t) {
  MG_CHECK(t.device().is_cpu(), "numpy", "the tensor is on {}: copy it to the cpu first (t.to('cpu'))",
           t.device().str());
  const auto item = static_cast<py::ssize_t>(itemsize(t.dtype()));
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end()), strides;
  for (int64_t s : t.strides()) strides.push_back(s * item);
  // The array's base owns a reference to the storage (not to the tensor: Module.to() may swap a
  // tensor's storage while the array lives).
  auto* keep = new std::shared_ptr<Storage>(t.storage());
  py::capsule base(keep, [](void* p) { delete static_cast<std::shared_ptr<Storage>*>(p); });
  return py::array(numpy_dtype(t.dtype()), std::move(shape), std::move(strides), t.raw_data(), base);
}

std::string to_str(py::handle h, const char* op, const std::string& what) {
  if (!py::isinstance<py::str>(h))
    fail(op, "{} must be a str, got {} {}", what, Py_TYPE(h.ptr())->tp_name, shown(h));
  return h.cast<std::string>();  // UTF-8 (a lone surrogate raises UnicodeEncodeError)
}

bool is_scalar(py::handle h) {
  if (PyBool_Check(h.ptr()) || PyLong_Check(h.ptr()) || PyFloat_Check(h.ptr())) return true;
  if (py::isinstance(h, numpy().attr("generic"))) return true;
  return py::isinstance<py::array>(h) && py::reinterpret_borrow<py::array>(h).ndim() == 0;
}

Tensor as_tensor(py::handle h, std::optional<DType> dtype) {
  if (py::isinstance<Tensor>(h)) {
    Tensor t = h.cast<Tensor>();
    return dtype && *dtype != t.dtype() ? to(t, *dtype) : t;
  }
  if (py::isinstance<py::array>(h)) return from_numpy(as_array(h, dtype));
  if (py::isinstance(h, numpy().attr("generic"))) return from_numpy(as_array(h, dtype));  // keeps its dtype
  if (PyBool_Check(h.ptr())) return scalar(h.ptr() == Py_True, dtype.value_or(DType::boolean));
  if (PyLong_Check(h.ptr())) {
    DType t = dtype.value_or(DType::int64);
    if (is_floating(t)) return scalar(h.cast<double>(), t);
    int overflow = 0;
    PyLong_AsLongLongAndOverflow(h.ptr(), &overflow);
    MG_CHECK(overflow == 0 || t == DType::boolean, "tensor", "integer {} is out of range for {}", shown(h),
             to_string(t));
    return from_numpy(as_array(h, t));  // exact for large ints
  }
  if (PyFloat_Check(h.ptr())) return scalar(h.cast<double>(), dtype.value_or(DType::float32));
  if (py::isinstance<py::str>(h) || h.is_none())
    throw Error(fmt::format("[tensor] cannot make a tensor from {}", py::repr(h).cast<std::string>()));
  if (!dtype && (py::isinstance<py::list>(h) || py::isinstance<py::tuple>(h))) {
    // Python floats default to float32, as memgrad's factories do
    py::array a = as_array(h, std::nullopt);
    if (a.dtype().equal(py::dtype::of<double>())) a = a.attr("astype")(py::dtype::of<float>());
    return from_numpy(a);
  }
  return from_numpy(as_array(h, dtype));  // numpy scalars, objects with __array__, sequences
}

Tensor copy_tensor(py::handle h, std::optional<DType> dtype) {
  Tensor t = as_tensor(h, dtype);
  NoGradGuard ng;
  return clone(t);  // memgrad-owned (counted in the memory stats), no history
}

char scalar_kind(py::handle h) {
  if (PyBool_Check(h.ptr())) return 'b';
  if (PyLong_Check(h.ptr())) return 'i';
  if (PyFloat_Check(h.ptr())) return 'f';
  return py::str(h.attr("dtype").attr("kind")).cast<std::string>()[0];
}

std::pair<Tensor, Tensor> coerce_pair(const Tensor& t, py::handle other) {
  if (py::isinstance<Tensor>(other)) return {t, other.cast<Tensor>()};
  if (is_scalar(other)) {
    const char kind = scalar_kind(other);
    Tensor a = t;
    if (kind == 'f' && !is_floating(t.dtype())) a = to(t, DType::float32);
    else if ((kind == 'i' || kind == 'u') && t.dtype() == DType::boolean) a = to(t, DType::int64);
    else if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b')
      throw Error(fmt::format("[tensor] unsupported operand {}", shown(other)));
    if (!is_floating(a.dtype())) {  // exact, and range-checked: no trip through double
      Tensor o = as_tensor(other, a.dtype());
      return {a, o.device() == a.device() ? o : to(o, a.device())};
    }
    double v = py::float_(py::reinterpret_borrow<py::object>(other)).cast<double>();
    return {a, scalar(v, a.dtype(), a.device())};
  }
  Tensor o = as_tensor(other);
  if (is_floating(o.dtype()) && is_floating(t.dtype()) && o.dtype() != t.dtype()) o = to(o, t.dtype());
  return {t, o};
}

}  // namespace memgrad::python
