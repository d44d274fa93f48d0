// Grad mode, anomaly mode, backward over several roots, checkpoint() and gradcheck() taking Python
// callables, and the graph's nodes (Tensor.grad_fn).
#include "autograd/node.h"
#include "common.h"

namespace memgrad::python {

namespace {

// A C++ TensorFn that calls a Python callable: fn(*tensors) returning a Tensor or a sequence of
// tensors. Safe to call and to destroy from C++ without the GIL (backward runs GIL-free and calls
// checkpointed functions again).
struct PyTensorFn {
  std::shared_ptr<void> fn;  // py_shared: its deleter takes the GIL
  std::shared_ptr<bool> returned_single = std::make_shared<bool>(false);

  std::vector<Tensor> operator()(const std::vector<Tensor>& inputs) const {
    py::gil_scoped_acquire gil;
    py::tuple args(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) args[i] = inputs[i].defined() ? py::cast(inputs[i]) : py::none();
    py::object out = py::reinterpret_borrow<py::object>(static_cast<PyObject*>(fn.get()))(*args);
    if (py::isinstance<Tensor>(out)) {
      *returned_single = true;
      return {out.cast<Tensor>()};
    }
    if (!py::isinstance<py::sequence>(out))
      throw py::type_error("the function must return a Tensor or a sequence of Tensors, got " +
                           std::string(Py_TYPE(out.ptr())->tp_name));
    std::vector<Tensor> r;
    for (py::handle h : py::reinterpret_borrow<py::sequence>(out)) {
      if (!py::isinstance<Tensor>(h))
        throw py::type_error("the function must return Tensors, got " + std::string(Py_TYPE(h.ptr())->tp_name));
      r.push_back(h.cast<Tensor>());
    }
    return r;
  }
};

PyTensorFn wrap(py::function f) { return PyTensorFn{py_shared(std::move(f))}; }

std::vector<Tensor> tensors_of(py::handle h) {
  std::vector<Tensor> out;
  if (py::isinstance<Tensor>(h)) return {h.cast<Tensor>()};
  for (py::handle t : py::reinterpret_borrow<py::iterable>(h)) out.push_back(t.is_none() ? Tensor() : as_tensor(t));
  return out;
}

}  // namespace

void bind_autograd(py::module_& m) {
  py::module_ ag = m.def_submodule("autograd", "Autograd: grad mode, backward, checkpoint, gradcheck.");
  ag.def("is_grad_enabled", &grad_enabled);
  ag.def("set_grad_enabled", &set_grad_enabled, py::arg("mode"));
  ag.def("is_anomaly_enabled", &anomaly_enabled);
  ag.def("set_anomaly_enabled", &set_anomaly_enabled, py::arg("mode"));

  py::class_<Node, std::shared_ptr<Node>>(ag, "Node", "A recorded op of the graph (Tensor.grad_fn).")
      .def_property_readonly("name", &Node::name)
      .def_property_readonly("sequence_nr", &Node::sequence_nr)
      .def_property_readonly("released", &Node::released, "True once backward ran it and freed what it saved.")
      .def_property_readonly("next_functions", [](const Node& n) {
        py::list out;
        for (const Edge& e : n.next_edges())
          out.append(py::make_tuple(e.fn ? py::cast(e.fn) : py::none(), e.output_nr));
        return out;
      })
      .def("__repr__", [](const Node& n) { return fmt::format("<Node {}>", n.name()); });

  ag.def("backward", [](py::handle tensors, py::handle grads, bool retain_graph) {
    std::vector<Tensor> roots = tensors_of(tensors), gs;
    if (!grads.is_none()) gs = tensors_of(grads);
    py::gil_scoped_release release;
    backward(roots, gs, retain_graph);
  }, py::arg("tensors"), py::arg("grad_tensors") = py::none(), py::arg("retain_graph") = false,
  "Backpropagates from several roots at once. Runs without the GIL.");

  ag.def("_checkpoint", [](py::function fn, std::vector<Tensor> inputs, std::vector<Tensor> params) {
    PyTensorFn f = wrap(std::move(fn));
    std::vector<Tensor> outs;
    {
      py::gil_scoped_release release;  // fn takes the GIL back while it runs
      outs = checkpoint(f, inputs, params);
    }
    return py::make_tuple(outs, *f.returned_single);
  }, py::arg("fn"), py::arg("inputs"), py::arg("params"));

  py::class_<GradcheckResult>(ag, "GradcheckResult")
      .def_readonly("ok", &GradcheckResult::ok)
      .def_readonly("message", &GradcheckResult::message)
      .def("__bool__", [](const GradcheckResult& r) { return r.ok; })
      .def("__repr__", [](const GradcheckResult& r) {
        return r.ok ? std::string("GradcheckResult(ok=True)") : "GradcheckResult(ok=False, message=" + r.message + ")";
      });
  ag.def("_gradcheck", [](py::function fn, std::vector<Tensor> inputs, double eps, double atol, double rtol) {
    return gradcheck(wrap(std::move(fn)), inputs, GradcheckOptions{eps, atol, rtol});
  }, py::arg("fn"), py::arg("inputs"), py::arg("eps") = 1e-6, py::arg("atol") = 1e-5, py::arg("rtol") = 1e-3);
}

}  // namespace memgrad::python
