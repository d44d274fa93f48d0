// memgrad.optim: SGD, Adam, AdamW (step() runs without the GIL), gradient clipping, LR schedules.
#include "nn/optim/clip.h"
#include "nn/optim/optimizer.h"
#include "nn/optim/schedule.h"

#include "common.h"

namespace memgrad::python {

namespace {

using namespace memgrad::optim;
using Release = py::call_guard<py::gil_scoped_release>;

std::vector<Tensor> tensor_list(py::handle params) {
  std::vector<Tensor> out;
  for (py::handle p : py::reinterpret_borrow<py::iterable>(params)) {
    if (!py::isinstance<Tensor>(p))
      throw py::type_error("parameters must be Tensors, got " + std::string(Py_TYPE(p.ptr())->tp_name));
    out.push_back(p.cast<Tensor>());
  }
  return out;
}

// An iterable of tensors (one group), or of dicts {"params": [...], "lr": ..., "weight_decay": ...}.
std::vector<ParamGroup> groups_of(py::handle params) {
  if (py::isinstance<Tensor>(params)) throw py::type_error("params must be an iterable of Tensors or of dicts");
  py::list items;
  for (py::handle p : py::reinterpret_borrow<py::iterable>(params)) items.append(p);
  bool dicts = items.size() > 0 && py::isinstance<py::dict>(items[0]);
  if (!dicts) return {ParamGroup{tensor_list(items)}};
  std::vector<ParamGroup> groups;
  for (py::handle h : items) {
    if (!py::isinstance<py::dict>(h)) throw py::type_error("param groups must all be dicts");
    auto d = py::reinterpret_borrow<py::dict>(h);
    for (auto [k, v] : d) {
      std::string key = k.cast<std::string>();
      MG_CHECK(key == "params" || key == "lr" || key == "weight_decay", "optim",
               "unknown param group key '{}' (params, lr, weight_decay)", key);
    }
    MG_CHECK(d.contains("params"), "optim", "a param group needs 'params'");
    ParamGroup g{tensor_list(d["params"])};
    if (d.contains("lr")) g.lr = float_arg(d["lr"], "optim", "a param group's lr");
    if (d.contains("weight_decay")) g.weight_decay = float_arg(d["weight_decay"], "optim", "a param group's weight_decay");
    groups.push_back(std::move(g));
  }
  return groups;
}

StateDict state_of(py::dict d) {
  StateDict s;
  for (auto [k, v] : d) s[to_str(k, "load_state_dict", "a state dict key")] = as_tensor(v);
  return s;
}

// ParamGroup and the Optimizer base class: step, zero_grad, lr, groups, state dicts.
void bind_optimizer_base(py::module_& o) {
  py::class_<ParamGroup>(o, "ParamGroup", "Parameters sharing a learning rate and weight decay (editable).")
      .def_readonly("params", &ParamGroup::params)
      .def_readwrite("lr", &ParamGroup::lr)
      .def_readwrite("weight_decay", &ParamGroup::weight_decay)
      .def("__repr__", [](const ParamGroup& g) {
        return fmt::format("ParamGroup({} params, lr={}, weight_decay={})", g.params.size(), g.lr, g.weight_decay);
      });

  py::class_<Optimizer>(o, "Optimizer")
      .def_property_readonly("name", &Optimizer::name)
      .def("step", &Optimizer::step, Release(), "Updates every parameter that has a gradient (GIL released).")
      .def("zero_grad", &Optimizer::zero_grad, "Drops every parameter's gradient.")
      .def_property("lr", &Optimizer::lr, &Optimizer::set_lr, "The first group's lr; setting it sets every group's.")
      .def_property_readonly("param_groups", [](py::object self) {
        auto& opt = self.cast<Optimizer&>();
        py::list out;
        for (auto& g : opt.param_groups()) out.append(py::cast(&g, py::return_value_policy::reference_internal, self));
        return out;
      })
      .def("add_param_group", [](Optimizer& opt, py::dict group) { opt.add_param_group(groups_of(py::make_tuple(group))[0]); },
           py::arg("group"))
      .def_property_readonly("step_count", &Optimizer::step_count)
      .def_property_readonly("num_params", &Optimizer::num_params)
      .def("state_dict", &Optimizer::state_dict, "Flat name -> tensor map (shared with the optimizer, not copied).")
      .def("validate_state_dict", [](const Optimizer& opt, py::dict s) { opt.validate_state_dict(state_of(s)); })
      .def("load_state_dict", [](Optimizer& opt, py::dict s) { opt.load_state_dict(state_of(s)); });
}

// SGD, Adam and AdamW, with their options as keywords.
void bind_algorithms(py::module_& o) {
  py::class_<SGD, Optimizer>(o, "SGD")
      .def(py::init([](py::handle params, double lr, double momentum, double dampening, double weight_decay,
                       bool nesterov) {
        return std::make_unique<SGD>(groups_of(params), SGDOptions{lr, momentum, dampening, weight_decay, nesterov});
      }), py::arg("params"), py::arg("lr") = 1e-3, py::arg("momentum") = 0.0, py::arg("dampening") = 0.0,
         py::arg("weight_decay") = 0.0, py::arg("nesterov") = false);
  py::class_<Adam, Optimizer>(o, "Adam")
      .def(py::init([](py::handle params, double lr, std::pair<double, double> betas, double eps, double weight_decay) {
        return std::make_unique<Adam>(groups_of(params), AdamOptions{lr, betas.first, betas.second, eps, weight_decay});
      }), py::arg("params"), py::arg("lr") = 1e-3, py::arg("betas") = std::make_pair(0.9, 0.999), py::arg("eps") = 1e-8,
         py::arg("weight_decay") = 0.0);
  py::class_<AdamW, Adam>(o, "AdamW")
      .def(py::init([](py::handle params, double lr, std::pair<double, double> betas, double eps, double weight_decay) {
        return std::make_unique<AdamW>(groups_of(params), AdamWOptions{lr, betas.first, betas.second, eps, weight_decay});
      }), py::arg("params"), py::arg("lr") = 1e-3, py::arg("betas") = std::make_pair(0.9, 0.999), py::arg("eps") = 1e-8,
         py::arg("weight_decay") = 0.01);
}

// clip_grad_norm and grad_norm.
void bind_clipping(py::module_& o) {
  o.def("clip_grad_norm", [](py::handle params, double max_norm) {
    auto ps = tensor_list(params);
    py::gil_scoped_release release;
    return clip_grad_norm(ps, max_norm);
  }, py::arg("params"), py::arg("max_norm"), "Scales gradients so their global L2 norm is <= max_norm; returns the norm before.");
  o.def("grad_norm", [](py::handle params) { return grad_norm(tensor_list(params)); }, py::arg("params"));
}

// The learning-rate schedules: Constant, WarmupCosine, WarmupRsqrt.
void bind_schedules(py::module_& o) {
  py::class_<Constant>(o, "Constant", "lr after an optional linear warmup; schedule(step) -> lr.")
      .def(py::init<double, int64_t>(), py::arg("lr"), py::arg("warmup_steps") = 0)
      .def("__call__", &Constant::operator(), py::arg("step"));
  py::class_<WarmupCosine>(o, "WarmupCosine", "Linear warmup, then half a cosine down to min_lr at total_steps.")
      .def(py::init<double, int64_t, int64_t, double>(), py::arg("base_lr"), py::arg("warmup_steps"),
           py::arg("total_steps"), py::arg("min_lr") = 0.0)
      .def("__call__", &WarmupCosine::operator(), py::arg("step"));
  py::class_<WarmupRsqrt>(o, "WarmupRsqrt", "Linear warmup, then base_lr * sqrt(warmup_steps / (step + 1)).")
      .def(py::init<double, int64_t>(), py::arg("base_lr"), py::arg("warmup_steps"))
      .def("__call__", &WarmupRsqrt::operator(), py::arg("step"));
}

}  // namespace

void bind_optim(py::module_& m) {
  py::module_ o = m.def_submodule("optim", "Optimizers, gradient clipping and LR schedules.");
  bind_optimizer_base(o);
  bind_algorithms(o);
  bind_clipping(o);
  bind_schedules(o);
}

}  // namespace memgrad::python
