#include "nn/module.h"

#include <set>

#include "autograd/ops.h"

namespace memgrad::nn {

namespace {
void check_name(const std::string& name, const char* what) {
  MG_CHECK(!name.empty() && name.find('.') == std::string::npos, "Module", "invalid {} name '{}' (non-empty, no '.')",
           what, name);
}
}  // namespace

Tensor Module::register_parameter(const std::string& name, Tensor t) {
  check_name(name, "parameter");
  MG_CHECK(t.defined() && is_floating(t.dtype()), "Module", "parameter '{}' must be a float tensor", name);
  for (const auto& [n, p] : params_) MG_CHECK(n != name, "Module", "parameter '{}' registered twice", name);
  t.set_requires_grad(true);
  t.storage()->set_category(memory::Category::parameter);  // core/memory_trace.h
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  check_name(name, "buffer");
  buffers_.emplace_back(name, t);
  return t;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  check_name(name, "module");
  MG_CHECK(m != nullptr, "Module", "submodule '{}' is null", name);
  for (const auto& [n, c] : children_) MG_CHECK(n != name, "Module", "submodule '{}' registered twice", name);
  m->local_name_ = name;
  children_.emplace_back(name, std::move(m));
}

void Module::collect(const std::string& prefix, NamedTensors& out, bool buffers) const {
  for (const auto& [n, t] : buffers ? buffers_ : params_) out.emplace_back(prefix + n, t);
  for (const auto& [n, c] : children_) c->collect(prefix + n + ".", out, buffers);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", out, false);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", out, true);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  for (auto& [n, c] : children_)
    for (auto& [cn, m] : c->named_modules()) out.emplace_back(cn.empty() ? n : n + "." + cn, m);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

void Module::to(DType dtype) {
  NoGradGuard ng;
  for (auto& [n, t] : named_parameters()) {
    replace_data(t, contiguous(memgrad::to(t, dtype)));
    t.storage()->set_category(memory::Category::parameter);
  }
  for (auto& [n, t] : named_buffers())
    if (is_floating(t.dtype())) replace_data(t, contiguous(memgrad::to(t, dtype)));
}

void Module::to(Device device) {
  NoGradGuard ng;
  for (auto& [n, t] : named_parameters()) {
    replace_data(t, memgrad::to(t, device));
    t.storage()->set_category(memory::Category::parameter);
  }
  for (auto& [n, t] : named_buffers()) replace_data(t, memgrad::to(t, device));
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

void Module::zero_grad() {
  for (auto& [n, t] : named_parameters()) t.set_grad(Tensor());
}

std::map<std::string, Tensor> Module::state_dict() const {
  std::map<std::string, Tensor> out;
  for (auto& [n, t] : named_parameters()) out[n] = t;
  for (auto& [n, t] : named_buffers()) out[n] = t;
  return out;
}

void Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  std::map<std::string, Tensor> own = state_dict();
  // validate everything first: the module stays unchanged on error
  for (const auto& [name, t] : own) {
    auto it = state.find(name);
    if (it == state.end()) {
      MG_CHECK(!strict, "load_state_dict", "missing tensor '{}' (shape {})", name, str(t.shape()));
      continue;
    }
    const Tensor& src = it->second;
    MG_CHECK(src.defined() && src.shape() == t.shape() && src.dtype() == t.dtype(), "load_state_dict",
             "tensor '{}' has shape {} {} in the state but {} {} in the model", name,
             src.defined() ? str(src.shape()) : "undefined", src.defined() ? to_string(src.dtype()) : "",
             str(t.shape()), to_string(t.dtype()));
  }
  if (strict)
    for (const auto& [name, t] : state)
      MG_CHECK(own.count(name), "load_state_dict", "unexpected tensor '{}' (shape {}) not in the model", name,
               str(t.shape()));
  NoGradGuard ng;
  for (auto& [name, t] : own) {
    auto it = state.find(name);
    if (it == state.end()) continue;
    copy_(t, it->second);
  }
}

}  // namespace memgrad::nn
