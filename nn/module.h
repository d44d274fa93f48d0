#pragma once
// Module: a tree of named parameters, buffers and submodules, with train/eval mode.
// Names are dotted paths, e.g. "encoder.layers.0.attn.q_proj.weight", as in PyTorch state dicts.
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/memory_trace.h"
#include "core/tensor.h"

namespace memgrad::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  NamedTensors named_parameters() const;  // depth first, registration order
  std::vector<Tensor> parameters() const;
  NamedTensors named_buffers() const;
  std::vector<std::pair<std::string, Module*>> named_modules();  // this one first, as ""
  int64_t num_parameters() const;

  // Converts every parameter and buffer in place (the tensors keep their identity, so layers'
  // members and optimizers see the change). Gradients are dropped.
  void to(DType dtype);
  void to(Device device);

  // This module's name in its parent ("0", "attn"; "" for a root or a module used on its own).
  const std::string& local_name() const { return local_name_; }

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();

  // Parameters and buffers by name.
  std::map<std::string, Tensor> state_dict() const;
  // Copies values into this module's tensors. Every name, shape and dtype is checked before
  // anything is written, so on error the module is unchanged. With strict, missing or
  // unexpected names are errors too.
  void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);

 protected:
  // Registers a parameter (it is made to require grad) and returns it.
  Tensor register_parameter(const std::string& name, Tensor t);
  Tensor register_buffer(const std::string& name, Tensor t);
  // Opened first thing in forward: the memory trace names allocations by this module's path.
  memory::ModuleScope trace_scope() const { return memory::ModuleScope(local_name_); }
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  void collect(const std::string& prefix, NamedTensors& out, bool buffers) const;

  NamedTensors params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
  std::string local_name_;
};

}  // namespace memgrad::nn
