// Factories, the differentiable ops (as memgrad.<op> and Tensor methods) and the operators.
// Ops that only take tensors and numbers run without the GIL.
#include "common.h"

namespace memgrad::python {

namespace {

using Release = py::call_guard<py::gil_scoped_release>;

// Binds f as memgrad.<name>(input, ...) and as Tensor.<name>(...).
template <class F, class... Extra>
void both(py::module_& m, py::class_<Tensor>& cls, const char* name, F f, const Extra&... extra) {
  m.def(name, f, py::arg("input"), extra...);
  cls.def(name, f, extra...);
}

// A binary op on two operands, either of which may be a scalar or an array (see coerce_pair).
Tensor binary(Tensor (*f)(const Tensor&, const Tensor&), py::handle a, py::handle b) {
  Tensor x, y;
  if (py::isinstance<Tensor>(a)) std::tie(x, y) = coerce_pair(a.cast<Tensor>(), b);
  else if (py::isinstance<Tensor>(b)) std::tie(y, x) = coerce_pair(b.cast<Tensor>(), a);
  else std::tie(x, y) = coerce_pair(as_tensor(a), b);
  py::gil_scoped_release release;
  return f(x, y);
}

// Python's `/` and torch.div: true division, so integer (and bool) operands divide as float32
// (3 / 2 is 1.5, never 1; x / 0 is inf). C++'s div truncates integers (autograd/ops.h); it is
// Python's div(..., rounding_mode="trunc").
Tensor true_div(const Tensor& a, const Tensor& b) {
  if (is_floating(a.dtype()) || is_floating(b.dtype())) return div(a, b);
  return div(to(a, DType::float32), to(b, DType::float32));
}

Tensor div_any(py::handle a, py::handle b, py::handle rounding_mode) {
  if (rounding_mode.is_none()) return binary(&true_div, a, b);
  const std::string mode = to_str(rounding_mode, "div", "rounding_mode");
  if (mode != "trunc") throw Error(fmt::format("[div] rounding_mode must be None or 'trunc', got '{}'", mode));
  return binary([](const Tensor& p, const Tensor& q) {
    MG_CHECK(!is_floating(p.dtype()) && !is_floating(q.dtype()), "div",
             "rounding_mode='trunc' divides integer tensors, got {} and {}", to_string(p.dtype()), to_string(q.dtype()));
    return div(p, q);
  }, a, b);
}

Tensor pow_any(py::handle a, py::handle b) {
  if (py::isinstance<Tensor>(a) && is_scalar(b) && !py::isinstance<py::array>(b)) {
    auto [x, e] = coerce_pair(a.cast<Tensor>(), b);  // promotes int ** float
    double exponent = py::float_(py::reinterpret_borrow<py::object>(b)).cast<double>();
    py::gil_scoped_release release;
    return pow(x, exponent);
  }
  return binary(&pow, a, b);
}

using Unary = Tensor (*)(const Tensor&);

py::object max_min(const Tensor& t, py::object dim, bool keepdim, bool is_max) {
  if (dim.is_none()) return py::cast(is_max ? amax(t) : amin(t));
  const int64_t d = int_arg(dim, is_max ? "max" : "min", "dim");
  ValuesIndices r = is_max ? max(t, d, keepdim) : min(t, d, keepdim);
  return py::make_tuple(r.values, r.indices);
}

Tensor factory(const Shape& shape, py::handle dtype, py::handle device, bool requires_grad, const char* op,
               const std::function<Tensor(const Shape&, DType, Device)>& make) {
  DType dt = to_dtype_opt(dtype).value_or(DType::float32);
  check_shape(shape, dt, op);
  Device dev = to_device(device);
  Tensor t;
  {
    py::gil_scoped_release release;
    memory::CategoryScope user(memory::Category::user);  // a tensor the user made (core/memory_trace.h)
    t = make(shape, dt, dev);
  }
  if (requires_grad) t.set_requires_grad(true);
  return t;
}

std::vector<Tensor> tensor_list(py::handle seq) {
  std::vector<Tensor> out;
  for (py::handle h : py::reinterpret_borrow<py::iterable>(seq)) out.push_back(as_tensor(h));
  return out;
}

// where(cond, a, b) with scalars allowed for a or b.
Tensor where_any(py::handle cond, py::handle a, py::handle b) {
  Tensor c = as_tensor(cond), x, y;
  if (py::isinstance<Tensor>(a)) std::tie(x, y) = coerce_pair(a.cast<Tensor>(), b);
  else if (py::isinstance<Tensor>(b)) std::tie(y, x) = coerce_pair(b.cast<Tensor>(), a);
  else std::tie(x, y) = coerce_pair(as_tensor(a), b);
  py::gil_scoped_release release;
  return where(c, x, y);
}

Reduction parse_reduction(const std::string& s) {
  if (s == "mean") return Reduction::mean;
  if (s == "sum") return Reduction::sum;
  if (s == "none") return Reduction::none;
  fail("cross_entropy", "reduction must be 'mean', 'sum' or 'none', got '{}'", s);
}

Activation parse_linear_activation(const std::string& s) {
  if (s == "none") return Activation::none;
  if (s == "gelu") return Activation::gelu;
  if (s == "relu") return Activation::relu;
  fail("linear", "activation must be 'none', 'gelu' or 'relu', got '{}'", s);
}

// Factories: zeros/ones/empty/full (and their _like forms), arange, rand, randn, randint.
void bind_factories(py::module_& m) {
  auto shape_factory = [&](const char* name, auto make, const char* doc) {
    m.def(name, [make, name](py::args shape, py::handle dtype, py::handle device, bool requires_grad) {
      return factory(shape_from_args(shape, name), dtype, device, requires_grad, name, make);
    }, py::arg("dtype") = py::none(), py::arg("device") = py::none(), py::arg("requires_grad") = false, doc);
  };
  shape_factory("zeros", [](const Shape& s, DType d, Device v) { return zeros(s, d, v); }, "zeros(2, 3) or zeros((2, 3))");
  shape_factory("ones", [](const Shape& s, DType d, Device v) { return ones(s, d, v); }, "ones(2, 3) or ones((2, 3))");
  shape_factory("empty", [](const Shape& s, DType d, Device v) { return empty(s, d, v); }, "Uninitialised values.");
  // PyTorch's full: without a dtype, fill_value chooses it (bool: bool, int: int64, float: float32);
  // the value is converted exactly (an int64 beyond 2^53 does not round through a double).
  m.def("full", [](py::handle shape, py::handle value, py::handle dtype, py::handle device, bool requires_grad) {
    if (!is_scalar(value))
      throw py::type_error(fmt::format("[full] fill_value must be a number, got {}", py::repr(value).cast<std::string>()));
    const char kind = scalar_kind(value);
    const DType dt = to_dtype_opt(dtype).value_or(kind == 'b' ? DType::boolean
                                                  : kind == 'i' || kind == 'u' ? DType::int64
                                                                               : DType::float32);
    const Tensor v = as_tensor(value, dt);  // 0-d; range-checked for integer dtypes
    return factory(to_shape(shape, "full"), py::cast(dt), device, requires_grad, "full",
                   [v](const Shape& s, DType, Device d) { return contiguous(expand(to(v, d), s)); });
  }, py::arg("shape"), py::arg("fill_value"), py::arg("dtype") = py::none(), py::arg("device") = py::none(),
     py::arg("requires_grad") = false, "A tensor of shape filled with fill_value; its dtype follows fill_value unless given.");
  auto like = [&](const char* name, auto make) {
    m.def(name, [make](const TensorArg& t, py::handle dtype, bool requires_grad) {
      memory::CategoryScope user(memory::Category::user);
      Tensor r = make(t.shape(), to_dtype_opt(dtype).value_or(t.dtype()), t.device());
      if (requires_grad) r.set_requires_grad(true);
      return r;
    }, py::arg("input"), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  };
  like("zeros_like", [](const Shape& s, DType d, Device v) { return zeros(s, d, v); });
  like("ones_like", [](const Shape& s, DType d, Device v) { return ones(s, d, v); });
  like("empty_like", [](const Shape& s, DType d, Device v) { return empty(s, d, v); });
  m.def("full_like", [](const TensorArg& t, double value, py::handle dtype) {
    return full(t.shape(), value, to_dtype_opt(dtype).value_or(t.dtype()), t.device());
  }, py::arg("input"), py::arg("fill_value"), py::arg("dtype") = py::none());
  m.def("arange", [](py::handle start, py::handle end, py::handle step, py::handle dtype, py::handle device) {
    bool all_int = true;
    for (py::handle h : {start, end, step})
      if (!h.is_none() && (!PyIndex_Check(h.ptr()) || (py::isinstance<py::array>(h) && scalar_kind(h) == 'f'))) all_int = false;
    double a = float_arg(start, "arange", "start"), s = float_arg(step, "arange", "step"), e;
    if (end.is_none()) e = a, a = 0;
    else e = float_arg(end, "arange", "end");
    DType dt = to_dtype_opt(dtype).value_or(all_int ? DType::int64 : DType::float32);
    MG_CHECK(s != 0 && std::isfinite(a) && std::isfinite(e) && std::isfinite(s), "arange",
             "bad range start={} end={} step={}", a, e, s);
    check_shape({static_cast<int64_t>(std::max(0.0, std::ceil((e - a) / s)))}, dt, "arange");
    return arange(a, e, s, dt, to_device(device));
  }, py::arg("start"), py::arg("end") = py::none(), py::arg("step") = 1, py::arg("dtype") = py::none(),
     py::arg("device") = py::none(), "arange(n) or arange(start, end, step); int64 for ints, else float32.");
  m.def("rand", [](py::args shape, py::handle dtype, Generator* gen, double low, double high, py::handle device,
                   bool requires_grad) {
    return factory(shape_from_args(shape, "rand"), dtype, device, requires_grad, "rand",
                   [=](const Shape& s, DType d, Device v) { return rand(s, d, gen, low, high, v); });
  }, py::arg("dtype") = py::none(), py::arg("generator") = nullptr, py::arg("low") = 0.0, py::arg("high") = 1.0,
     py::arg("device") = py::none(), py::arg("requires_grad") = false, "Uniform in [low, high).");
  m.def("randn", [](py::args shape, py::handle dtype, Generator* gen, double mean, double std, py::handle device,
                    bool requires_grad) {
    return factory(shape_from_args(shape, "randn"), dtype, device, requires_grad, "randn",
                   [=](const Shape& s, DType d, Device v) { return randn(s, d, gen, mean, std, v); });
  }, py::arg("dtype") = py::none(), py::arg("generator") = nullptr, py::arg("mean") = 0.0, py::arg("std") = 1.0,
     py::arg("device") = py::none(), py::arg("requires_grad") = false, "Normal(mean, std).");
  m.def("randint", [](int64_t low, int64_t high, py::handle shape, py::handle dtype, Generator* gen,
                      py::handle device) {
    py::object dt = dtype.is_none() ? py::cast(DType::int64) : py::reinterpret_borrow<py::object>(dtype);
    return factory(to_shape(shape, "randint"), dt, device, false, "randint",
                   [=](const Shape& s, DType d, Device v) { return randint(low, high, s, d, gen, v); });
  }, py::arg("low"), py::arg("high"), py::arg("size"), py::arg("dtype") = py::none(), py::arg("generator") = nullptr,
     py::arg("device") = py::none(), "Integers uniform in [low, high).");
}

using Binary = Tensor (*)(const Tensor&, const Tensor&);

// Elementwise functions, as module functions and methods, and all_finite.
void bind_elementwise(py::module_& m, py::class_<Tensor>& cls) {
  const std::pair<const char*, Unary> unary[] = {
      {"neg", &neg},   {"exp", &exp},         {"log", &log},   {"sqrt", &sqrt},
      {"tanh", &tanh}, {"sigmoid", &sigmoid}, {"relu", &relu}, {"gelu", &gelu},
      {"abs", &abs},   {"logical_not", &logical_not}};
  // [f = f]: clang before 16 cannot capture a structured binding itself (C++20 allows it).
  for (auto [name, f] : unary) both(m, cls, name, [f = f](const TensorArg& t) { return f(t); }, Release());
  const std::pair<const char*, Binary> binaries[] = {
      {"add", &add}, {"sub", &sub}, {"mul", &mul}, {"maximum", &maximum}, {"minimum", &minimum},
      {"eq", &eq},   {"ne", &ne},   {"lt", &lt},   {"le", &le},   {"gt", &gt},           {"ge", &ge},
      {"logical_and", &logical_and}, {"logical_or", &logical_or}};
  for (auto [name, f] : binaries) {
    m.def(name, [f = f](py::handle a, py::handle b) { return binary(f, a, b); }, py::arg("input"), py::arg("other"));
    cls.def(name, [f = f](const Tensor& a, py::handle b) { return binary(f, py::cast(a), b); }, py::arg("other"));
  }
  m.def("div", &div_any, py::arg("input"), py::arg("other"), py::kw_only(), py::arg("rounding_mode") = py::none(),
        "input / other: true division (integers divide as float32), or with rounding_mode='trunc' integer "
        "division toward zero (integer tensors).");
  cls.def("div", [](const Tensor& a, py::handle b, py::handle mode) { return div_any(py::cast(a), b, mode); },
          py::arg("other"), py::kw_only(), py::arg("rounding_mode") = py::none());
  m.def("pow", &pow_any, py::arg("input"), py::arg("exponent"));
  cls.def("pow", [](const Tensor& a, py::handle b) { return pow_any(py::cast(a), b); }, py::arg("exponent"));
  both(m, cls, "all_finite", [](const TensorArg& t) { return all_finite(t); }, Release());
}

// Operators (numpy scalars, Python numbers, arrays and lists on either side).
void bind_operators(py::class_<Tensor>& cls) {
  const std::pair<const char*, Binary> ops[] = {
      {"add", &add}, {"sub", &sub}, {"mul", &mul}, {"truediv", &true_div}, {"lt", &lt}, {"le", &le}, {"gt", &gt},
      {"ge", &ge},   {"and", &logical_and}, {"or", &logical_or}};
  for (auto [name, f] : ops) {
    std::string n = name;
    cls.def(("__" + n + "__").c_str(), [f = f](const Tensor& a, py::handle b) { return binary(f, py::cast(a), b); });
    if (n != "lt" && n != "le" && n != "gt" && n != "ge")
      cls.def(("__r" + n + "__").c_str(), [f = f](const Tensor& a, py::handle b) { return binary(f, b, py::cast(a)); });
  }
  cls.def("__eq__", [](const Tensor& a, py::handle b) -> py::object {
    if (b.is_none()) return py::bool_(false);
    return py::cast(binary(&eq, py::cast(a), b));
  });
  cls.def("__ne__", [](const Tensor& a, py::handle b) -> py::object {
    if (b.is_none()) return py::bool_(true);
    return py::cast(binary(&ne, py::cast(a), b));
  });
  cls.def("__pow__", [](const Tensor& a, py::handle b) { return pow_any(py::cast(a), b); });
  cls.def("__rpow__", [](const Tensor& a, py::handle b) { return pow_any(b, py::cast(a)); });
  cls.def("__matmul__", [](const Tensor& a, py::handle b) { return binary(&matmul, py::cast(a), b); });
  cls.def("__rmatmul__", [](const Tensor& a, py::handle b) { return binary(&matmul, b, py::cast(a)); });
  cls.def("__neg__", [](const Tensor& a) { return neg(a); });
  cls.def("__pos__", [](const Tensor& a) { return a; });
  cls.def("__abs__", [](const Tensor& a) { return abs(a); });
  cls.def("__invert__", [](const Tensor& a) { return logical_not(a); });
}

// Reductions: sum, mean, amax, amin, max, min, argmax, sum_to.
void bind_reductions(py::module_& m, py::class_<Tensor>& cls) {
  using Reduce = Tensor (*)(const Tensor&, std::vector<int64_t>, bool);
  const std::pair<const char*, Reduce> reductions[] = {{"sum", &sum}, {"mean", &mean}, {"amax", &amax}, {"amin", &amin}};
  for (auto [name, f] : reductions)
    both(m, cls, name, [f = f, name = name](const TensorArg& t, py::handle dim, bool keepdim) {
      auto dims = to_dims(dim, name);
      py::gil_scoped_release release;
      return f(t, dims, keepdim);
    }, py::arg("dim") = py::none(), py::arg("keepdim") = false);
  both(m, cls, "max", [](const TensorArg& t, py::object dim, bool keepdim) { return max_min(t, dim, keepdim, true); },
       py::arg("dim") = py::none(), py::arg("keepdim") = false, "max over all (a tensor) or over dim: (values, indices).");
  both(m, cls, "min", [](const TensorArg& t, py::object dim, bool keepdim) { return max_min(t, dim, keepdim, false); },
       py::arg("dim") = py::none(), py::arg("keepdim") = false);
  both(m, cls, "argmax", [](const TensorArg& t, py::object dim, bool keepdim) {
    if (dim.is_none()) return argmax(reshape(t, {-1}), 0);
    return argmax(t, int_arg(dim, "argmax", "dim"), keepdim);
  }, py::arg("dim") = py::none(), py::arg("keepdim") = false);
  m.def("sum_to", [](const TensorArg& t, py::handle shape) { return sum_to(t, to_shape(shape, "sum_to")); }, py::arg("input"),
        py::arg("shape"));
}

// Linear algebra and nn ops.
void bind_nn_ops(py::module_& m, py::class_<Tensor>& cls) {
  m.def("matmul", [](py::handle a, py::handle b) { return binary(&matmul, a, b); }, py::arg("input"), py::arg("other"));
  cls.def("matmul", [](const Tensor& a, py::handle b) { return binary(&matmul, py::cast(a), b); }, py::arg("other"));
  both(m, cls, "softmax", [](const TensorArg& t, int64_t dim) { return softmax(t, dim); }, py::arg("dim") = -1, Release());
  both(m, cls, "log_softmax", [](const TensorArg& t, int64_t dim) { return log_softmax(t, dim); }, py::arg("dim") = -1,
       Release());
  m.def("where", &where_any, py::arg("condition"), py::arg("input"), py::arg("other"));
  both(m, cls, "masked_fill", [](const TensorArg& t, py::handle mask, double value) {
    Tensor k = as_tensor(mask);
    py::gil_scoped_release release;
    return masked_fill(t, k, value);
  }, py::arg("mask"), py::arg("value"));
  m.def("layer_norm", [](const TensorArg& x, const TensorArg& w, const TensorArg& b, double eps) { return layer_norm(x, w, b, eps); },
        py::arg("input"), py::arg("weight"), py::arg("bias"), py::arg("eps") = 1e-5, Release());
  m.def("dropout", [](const TensorArg& x, double p, bool training, Generator* gen) { return dropout(x, p, training, gen); },
        py::arg("input"), py::arg("p") = 0.5, py::arg("training") = true, py::arg("generator") = nullptr, Release());
  both(m, cls, "index_select", [](const TensorArg& t, int64_t dim, py::handle index) {
    return index_select(t, dim, as_tensor(index));
  }, py::arg("dim"), py::arg("index"));
  both(m, cls, "gather", [](const TensorArg& t, int64_t dim, py::handle index) { return gather(t, dim, as_tensor(index)); },
       py::arg("dim"), py::arg("index"));
  m.def("embedding", [](const TensorArg& w, py::handle ids) {
    Tensor i = as_tensor(ids);
    py::gil_scoped_release release;
    return embedding(w, i);
  }, py::arg("weight"), py::arg("ids"));
  m.def("topk_linear", [](const TensorArg& x, const TensorArg& weight, py::handle bias, int64_t k, int64_t chunk) {
    Tensor b = bias.is_none() ? Tensor() : as_tensor(bias);
    ValuesIndices r;
    {
      py::gil_scoped_release release;
      r = topk_linear(x, weight, b, k, chunk);
    }
    return py::make_tuple(r.values, r.indices);
  }, py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("k"), py::arg("chunk") = 1024);
  m.def("linear", [](const TensorArg& x, const TensorArg& weight, py::handle bias, const std::string& activation) {
    Tensor b = bias.is_none() ? Tensor() : as_tensor(bias);
    Activation act = parse_linear_activation(activation);
    py::gil_scoped_release release;
    return linear(x, weight, b, act);
  }, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("activation") = "none");
  m.def("sparse_linear", [](const TensorArg& values, py::handle indices, const TensorArg& weight) {
    Tensor i = as_tensor(indices);
    py::gil_scoped_release release;
    return sparse_linear(values, i, weight);
  }, py::arg("values"), py::arg("indices"), py::arg("weight"));
  m.def("cross_entropy", [](const TensorArg& logits, py::handle target, int64_t ignore_index, const std::string& reduction,
                            double label_smoothing) {
    Tensor t = as_tensor(target);
    CrossEntropyOptions o{ignore_index, parse_reduction(reduction), label_smoothing};
    py::gil_scoped_release release;
    return cross_entropy(logits, t, o);
  }, py::arg("input"), py::arg("target"), py::arg("ignore_index") = -100, py::arg("reduction") = "mean",
     py::arg("label_smoothing") = 0.0, "logits [N, C] (or [C]), integer targets [N] (or 0-d).");
}

// Views and shape ops.
void bind_views(py::module_& m, py::class_<Tensor>& cls) {
  cls.def("reshape", [](const Tensor& t, py::args shape) { return reshape(t, shape_from_args(shape, "reshape")); });
  cls.def("view", [](const Tensor& t, py::args shape) { return view(t, shape_from_args(shape, "view")); });
  cls.def("expand", [](const Tensor& t, py::args shape) { return expand(t, shape_from_args(shape, "expand")); });
  cls.def("permute", [](const Tensor& t, py::args dims) { return permute(t, shape_from_args(dims, "permute")); });
  m.def("reshape", [](const TensorArg& t, py::handle s) { return reshape(t, to_shape(s, "reshape")); }, py::arg("input"), py::arg("shape"));
  m.def("view", [](const TensorArg& t, py::handle s) { return view(t, to_shape(s, "view")); }, py::arg("input"), py::arg("shape"));
  m.def("expand", [](const TensorArg& t, py::handle s) { return expand(t, to_shape(s, "expand")); }, py::arg("input"), py::arg("shape"));
  m.def("permute", [](const TensorArg& t, py::handle d) { return permute(t, to_shape(d, "permute")); }, py::arg("input"), py::arg("dims"));
  both(m, cls, "flatten", [](const TensorArg& t, int64_t s, int64_t e) { return flatten(t, s, e); }, py::arg("start_dim") = 0,
       py::arg("end_dim") = -1);
  both(m, cls, "transpose", [](const TensorArg& t, int64_t a, int64_t b) { return transpose(t, a, b); }, py::arg("dim0"),
       py::arg("dim1"));
  both(m, cls, "narrow", [](const TensorArg& t, int64_t d, int64_t s, int64_t n) { return narrow(t, d, s, n); },
       py::arg("dim"), py::arg("start"), py::arg("length"));
  both(m, cls, "select", [](const TensorArg& t, int64_t d, int64_t i) { return select(t, d, i); }, py::arg("dim"),
       py::arg("index"));
  // torch.split: an int is the size of each part (the last may be smaller), a list the sizes
  both(m, cls, "split", [](const TensorArg& t, py::handle sizes, int64_t dim) {
    std::vector<int64_t> s;
    if (py::isinstance<py::int_>(sizes)) {
      const int64_t each = sizes.cast<int64_t>(), d = dim < 0 ? dim + t.dim() : dim;
      MG_CHECK(each > 0, "split", "split_size must be positive, got {}", each);
      if (d < 0 || d >= t.dim()) return py::tuple(py::cast(split(t, {}, dim)));  // split's error names it
      const int64_t n = t.shape()[static_cast<size_t>(d)];
      for (int64_t first = 0; first < n; first += each) s.push_back(std::min(each, n - first));
      if (n == 0) s.push_back(0);
    } else {
      s = to_shape(sizes, "split");
    }
    return py::tuple(py::cast(split(t, s, dim)));
  }, py::arg("split_size_or_sections"), py::arg("dim") = 0);
  both(m, cls, "squeeze", [](const TensorArg& t, py::object dim) {
    return dim.is_none() ? squeeze(t) : squeeze(t, int_arg(dim, "squeeze", "dim"));
  }, py::arg("dim") = py::none());
  both(m, cls, "unsqueeze", [](const TensorArg& t, int64_t d) { return unsqueeze(t, d); }, py::arg("dim"));
  cls.def_property_readonly("T", [](const Tensor& t) {
    std::vector<int64_t> dims;
    for (int64_t d = t.dim() - 1; d >= 0; --d) dims.push_back(d);
    return permute(t, dims);
  }, "The dims reversed (the transpose of a matrix).");
  m.def("cat", [](py::handle ts, int64_t dim) { return cat(tensor_list(ts), dim); }, py::arg("tensors"), py::arg("dim") = 0);
  m.def("stack", [](py::handle ts, int64_t dim) { return stack(tensor_list(ts), dim); }, py::arg("tensors"),
        py::arg("dim") = 0);
  m.def("clone", [](const TensorArg& t) { return clone(t); }, py::arg("input"));
  m.def("detach", [](const TensorArg& t) { return detach(t); }, py::arg("input"));
  m.def("contiguous", [](const TensorArg& t) { return contiguous(t); }, py::arg("input"));
}

}  // namespace

void bind_ops(py::module_& m, py::class_<Tensor>& cls) {
  bind_factories(m);
  bind_elementwise(m, cls);
  bind_operators(cls);
  bind_reductions(m, cls);
  bind_nn_ops(m, cls);
  bind_views(m, cls);
}

}  // namespace memgrad::python
