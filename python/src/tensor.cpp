// The Tensor class: metadata, numpy interop, autograd attributes, printing; dtype, device and
// Generator. Indexing lives in indexing.cpp and the ops in ops.cpp.
#include "autograd/node.h"
#include "common.h"

namespace memgrad::python {

namespace {

py::object item(const Tensor& t) {
  Tensor c = detach(t);  // a device tensor's element is copied to the host, as in PyTorch
  switch (c.dtype()) {
    case DType::float32: return py::float_(c.item<float>());
    case DType::float64: return py::float_(c.item<double>());
    case DType::int32: return py::int_(c.item<int32_t>());
    case DType::int64: return py::int_(c.item<int64_t>());
    case DType::boolean: return py::bool_(c.item<bool>());
  }
  return py::none();
}

py::array numpy_of(const Tensor& t, bool force) {
  if (t.requires_grad() && !force)
    throw memgrad::RuntimeError(
        "[numpy] the tensor requires grad: use t.detach().numpy() (the array shares memory but not autograd)");
  return to_numpy(t);
}

py::tuple tuple_of(const std::vector<int64_t>& v) {
  py::tuple out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = py::int_(v[i]);
  return out;
}

// Tensor.to(...): positional dtypes, devices or a tensor (its dtype and device); keywords too.
Tensor to_any(const Tensor& t, const py::args& args, py::object dtype, py::object device) {
  std::optional<DType> dt = to_dtype_opt(dtype);
  std::optional<Device> dev;
  if (!device.is_none()) dev = to_device(device);
  for (py::handle a : args) {
    if (py::isinstance<Tensor>(a)) {
      dt = a.cast<Tensor>().dtype();
      dev = a.cast<Tensor>().device();
    } else if (py::isinstance<Device>(a)) {
      dev = a.cast<Device>();
    } else if (py::isinstance<py::str>(a)) {
      std::string s = a.cast<std::string>();
      if (s.rfind("cpu", 0) == 0 || s.rfind("cuda", 0) == 0) dev = Device::parse(s);
      else dt = to_dtype(a);
    } else {
      dt = to_dtype(a);
    }
  }
  Tensor r = t;
  if (dt && *dt != r.dtype()) r = to(r, *dt);
  if (dev && !(*dev == r.device())) r = to(r, *dev);
  return r;
}

// Tensor.data = value: t keeps its identity (every handle sees the change), gets value's storage
// and metadata, loses its gradient. What Module.to() does for parameters.
void set_data(const Tensor& t, const TensorArg& value) { replace_data(t, detach(value)); }

// memgrad.dtype, its names in the module, and as_dtype.
void bind_dtype(py::module_& m) {
  py::enum_<DType>(m, "dtype", "Element types: float32, float64, int32, int64, bool.")
      .value("float32", DType::float32)
      .value("float64", DType::float64)
      .value("int32", DType::int32)
      .value("int64", DType::int64)
      .value("bool", DType::boolean)
      .def_property_readonly("itemsize", [](DType t) { return itemsize(t); })
      .def_property_readonly("is_floating_point", [](DType t) { return is_floating(t); })
      .def_property_readonly("numpy", [](DType t) { return numpy_dtype(t); }, "The numpy dtype.");
  // Assigned, not def()'d: def() would chain behind py::enum_'s own __repr__, which wins.
  auto dtype_cls = m.attr("dtype");
  dtype_cls.attr("__repr__") = py::cpp_function([](DType t) { return "memgrad." + to_string(t); }, py::is_method(dtype_cls));
  dtype_cls.attr("__str__") = py::cpp_function([](DType t) { return to_string(t); }, py::is_method(dtype_cls));
  for (DType t : {DType::float32, DType::float64, DType::int32, DType::int64, DType::boolean})
    m.attr(to_string(t).c_str()) = t;
  m.def("as_dtype", &to_dtype, "A dtype from a name, a numpy dtype or a Python type.");
}

// memgrad.device and the CUDA queries.
void bind_device(py::module_& m) {
  py::class_<Device>(m, "device", "Where a tensor lives: 'cpu' or 'cuda:<index>'.")
      .def(py::init([](const std::string& s) { return Device::parse(s); }), py::arg("spec"))
      .def(py::init([](const Device& d) { return d; }))
      .def_property_readonly("type", [](const Device& d) { return d.is_cpu() ? "cpu" : "cuda"; })
      .def_property_readonly("index", [](const Device& d) { return d.index; })
      .def("__str__", &Device::str)
      .def("__repr__", [](const Device& d) { return fmt::format("device('{}')", d.str()); })
      .def("__eq__", [](const Device& d, py::handle o) {
        if (py::isinstance<Device>(o)) return d == o.cast<Device>();
        if (py::isinstance<py::str>(o)) return d.str() == o.cast<std::string>() || (d.is_cpu() && o.cast<std::string>() == "cpu");
        return false;
      })
      .def("__hash__", [](const Device& d) { return py::hash(py::str(d.str())); });
  m.def("cuda_available", &cuda_available, "True when this build has the CUDA backend and a GPU is present.");
  m.def("cuda_device_count", &cuda_device_count);
}

// memgrad.Generator, manual_seed and the default generator.
void bind_generator(py::module_& m) {
  py::class_<Generator>(m, "Generator", "A seeded Philox random stream (pass as generator=).")
      .def(py::init<uint64_t>(), py::arg("seed") = 0)
      .def_property_readonly("seed", &Generator::seed)
      .def_property_readonly("offset", &Generator::offset)
      .def("set_state", &Generator::set_state, py::arg("seed"), py::arg("offset") = 0)
      .def("__repr__", [](const Generator& g) { return fmt::format("Generator(seed={}, offset={})", g.seed(), g.offset()); });
  m.def("manual_seed", &manual_seed, py::arg("seed"), "Reseeds the default generator.");
  m.def("default_generator", &default_generator, py::return_value_policy::reference);
}

// Shape, strides, dtype, device, storage, len() and iteration.
void bind_tensor_metadata(py::class_<Tensor>& cls) {
  cls.def_property_readonly("shape", [](const Tensor& t) { return tuple_of(t.shape()); })
      .def_property_readonly("strides", [](const Tensor& t) { return tuple_of(t.strides()); },
                             "Strides in elements (numpy's are in bytes).")
      .def("size", [](const Tensor& t, py::object dim) -> py::object {
        if (dim.is_none()) return tuple_of(t.shape());
        return py::int_(t.size(int_arg(dim, "size", "dim")));
      }, py::arg("dim") = py::none())
      .def("stride", [](const Tensor& t, py::object dim) -> py::object {
        if (dim.is_none()) return tuple_of(t.strides());
        return py::int_(t.strides()[wrap_dim(int_arg(dim, "stride", "dim"), t.dim(), "stride", t.shape())]);
      }, py::arg("dim") = py::none())
      .def_property_readonly("storage_offset", &Tensor::offset, "Offset of the first element, in elements.")
      .def_property_readonly("ndim", &Tensor::dim)
      .def("dim", &Tensor::dim)
      .def("numel", &Tensor::numel)
      .def_property_readonly("nbytes", &Tensor::nbytes)
      .def_property_readonly("itemsize", [](const Tensor& t) { return itemsize(t.dtype()); })
      .def_property_readonly("dtype", &Tensor::dtype)
      .def_property_readonly("device", &Tensor::device)
      .def("is_contiguous", &Tensor::is_contiguous)
      .def("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.raw_data()); })
      .def("shares_memory", [](const Tensor& t, const Tensor& o) { return t.shares_storage(o); }, py::arg("other"),
           "True when both views use the same storage.")
      .def_property_readonly("_impl_id", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.impl()); })
      .def_property_readonly("_external_storage", [](const Tensor& t) { return t.storage()->is_external(); },
                             "True when the storage wraps memory memgrad did not allocate (a numpy array).")
      .def("__len__", [](const Tensor& t) {
        if (t.dim() == 0) throw py::type_error("len() of a 0-d tensor");
        return t.size(0);
      })
      .def("__iter__", [](const Tensor& t) {
        if (t.dim() == 0) throw py::type_error("iteration over a 0-d tensor");
        py::list rows;
        for (int64_t i = 0; i < t.size(0); ++i) rows.append(select(t, 0, i));
        return py::iter(rows);
      });
}

// numpy and Python's conversions: numpy(), __array__, tolist, item, float/int/bool, repr, hash; and numpy's deferral to Tensor's operators.
void bind_tensor_python(py::class_<Tensor>& cls) {
  cls.def("numpy", &numpy_of, py::arg("force") = false,
           "A numpy array sharing this tensor's memory (CPU). force=True allows tensors that require grad.")
      .def("__array__", [](const Tensor& t, py::object dtype, py::object copy) {
        py::object a = numpy_of(t, false);
        if (!dtype.is_none()) a = a.attr("astype")(dtype, py::arg("copy") = false);
        if (!copy.is_none() && copy.cast<bool>()) a = a.attr("copy")();
        return a;
      }, py::arg("dtype") = py::none(), py::arg("copy") = py::none())
      .def("tolist", [](const Tensor& t) { return to_numpy(contiguous(detach(t))).attr("tolist")(); })
      .def("item", &item)
      .def("__float__", [](const Tensor& t) { return py::float_(item(t)); })
      .def("__int__", [](const Tensor& t) {  // an exact int, never the bool a bool tensor's item is
        PyObject* i = PyNumber_Long(item(t).ptr());
        if (!i) throw py::error_already_set();
        return py::reinterpret_steal<py::int_>(i);
      })
      .def("__bool__", [](const Tensor& t) {
        MG_CHECK(t.numel() == 1, "bool", "the truth value of a tensor with {} elements is ambiguous", t.numel());
        return py::bool_(item(t)).cast<bool>();
      })
      .def("__repr__", &Tensor::str)
      .def("__hash__", [](py::handle self) { return reinterpret_cast<intptr_t>(self.ptr()); });
  // numpy defers to Tensor's reflected operators (np.float32(2) * t is a Tensor) and ufuncs refuse
  // tensors instead of silently converting them; np.asarray(t) still works through __array__.
  cls.attr("__array_ufunc__") = py::none();
  cls.attr("__array_priority__") = 1000;
}

// requires_grad, grad, grad_fn, backward, detach, data.
void bind_tensor_autograd(py::class_<Tensor>& cls) {
  cls.def_property("requires_grad", &Tensor::requires_grad,
                    [](Tensor& t, bool r) { t.set_requires_grad(r); })
      .def("requires_grad_", [](py::object self, bool r) {
        self.cast<Tensor&>().set_requires_grad(r);
        return self;
      }, py::arg("requires_grad") = true)
      .def_property("grad", [](const Tensor& t) -> py::object {
        Tensor g = t.grad();
        return g.defined() ? py::cast(g) : py::none();
      }, [](Tensor& t, py::object g) { t.set_grad(g.is_none() ? Tensor() : as_tensor(g)); })
      .def_property_readonly("grad_fn", &Tensor::grad_fn)
      .def_property_readonly("is_leaf", &Tensor::is_leaf)
      .def("backward", [](const Tensor& t, py::object gradient, bool retain_graph) {
        Tensor g = gradient.is_none() ? Tensor() : as_tensor(gradient, t.dtype());
        py::gil_scoped_release release;
        t.backward(g, retain_graph);
      }, py::arg("gradient") = py::none(), py::arg("retain_graph") = false,
      "Backpropagates from this tensor (a one-element tensor needs no gradient). Runs without the GIL.")
      .def("detach", [](const Tensor& t) { return detach(t); })
      .def_property("data", [](const Tensor& t) { return detach(t); }, &set_data,
                    "This tensor without history; assigning replaces the values, shape and dtype in place.");
}

// to(), cpu(), float() ... bool(), clone, contiguous.
void bind_tensor_conversions(py::class_<Tensor>& cls) {
  cls.def("to", &to_any, py::arg("dtype") = py::none(), py::arg("device") = py::none(),
           "t.to(dtype), t.to(device), t.to(other_tensor) or keywords; returns t itself when nothing changes.")
      .def("cpu", [](const Tensor& t) { return t.device().is_cpu() ? t : to(t, Device::cpu()); })
      .def("float", [](const Tensor& t) { return t.dtype() == DType::float32 ? t : to(t, DType::float32); })
      .def("double", [](const Tensor& t) { return t.dtype() == DType::float64 ? t : to(t, DType::float64); })
      .def("int", [](const Tensor& t) { return t.dtype() == DType::int32 ? t : to(t, DType::int32); })
      .def("long", [](const Tensor& t) { return t.dtype() == DType::int64 ? t : to(t, DType::int64); })
      .def("bool", [](const Tensor& t) { return t.dtype() == DType::boolean ? t : to(t, DType::boolean); })
      .def("clone", [](const Tensor& t) { return clone(t); })
      .def("contiguous", [](const Tensor& t) { return contiguous(t); });
}

// tensor (a copy), as_tensor and from_numpy (shared memory where the layout allows).
void bind_tensor_factories(py::module_& m) {
  m.def("tensor", [](py::handle data, py::handle dtype, bool requires_grad) {
    Tensor t = copy_tensor(data, to_dtype_opt(dtype));
    if (requires_grad) t.set_requires_grad(true);
    return t;
  }, py::arg("data"), py::arg("dtype") = py::none(), py::arg("requires_grad") = false,
  "A new tensor holding a copy of data (array, sequence, scalar or tensor).");
  m.def("as_tensor", [](py::handle data, py::handle dtype) { return as_tensor(data, to_dtype_opt(dtype)); },
        py::arg("data"), py::arg("dtype") = py::none(),
        "data as a tensor, sharing memory with a numpy array or tensor when it can (no copy).");
  m.def("from_numpy", [](py::handle a) {
    if (!py::isinstance<py::array>(a)) throw py::type_error("from_numpy needs a numpy array");
    return from_numpy(py::reinterpret_borrow<py::array>(a));
  }, py::arg("array"), "Shares the array's memory when the layout allows (else copies); keeps the array alive.");
  m.def("_from_numpy_copied", [](py::handle a) {
    if (!py::isinstance<py::array>(a)) throw py::type_error("from_numpy needs a numpy array");
    bool copied = false;
    Tensor t = from_numpy(py::reinterpret_borrow<py::array>(a), &copied);
    return py::make_tuple(t, copied);
  });
}

}  // namespace

void bind_tensor(py::module_& m) {
  bind_dtype(m);
  bind_device(m);
  bind_generator(m);
  py::class_<Tensor> cls(m, "Tensor", "An n-d array with autograd; views share storage.");
  cls.def(py::init([](py::handle data, py::handle dtype, bool requires_grad) {
            Tensor t = as_tensor(data, to_dtype_opt(dtype));
            if (requires_grad) t.set_requires_grad(true);
            return t;
          }),
          py::arg("data"), py::arg("dtype") = py::none(), py::arg("requires_grad") = false,
          "Tensor(x) shares x's memory where it can: a Tensor (the same tensor), a numpy array (zero-copy "
          "when its layout allows). Use memgrad.tensor() for a copy.");
  bind_tensor_metadata(cls);
  bind_tensor_python(cls);
  bind_tensor_autograd(cls);
  bind_tensor_conversions(cls);
  bind_tensor_factories(m);
  bind_indexing(cls);
  bind_ops(m, cls);
}

}  // namespace memgrad::python
