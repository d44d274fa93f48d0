#include "autograd/node.h"

#include <atomic>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "backends/backend.h"

namespace memgrad {
namespace {
std::atomic<uint64_t> g_sequence{0};
}

Node::Node(std::string name, std::vector<Edge> next, std::vector<OutputMeta> outputs, BackwardFn fn)
    : name_(std::move(name)), next_(std::move(next)), outputs_(std::move(outputs)), fn_(std::move(fn)),
      sequence_nr_(g_sequence.fetch_add(1)) {}

Node::~Node() {
  // Destroying a long chain of nodes recursively would overflow the stack: the outermost
  // destructor collects the nodes that die with this one and destroys them in a loop.
  thread_local std::vector<std::shared_ptr<Node>>* pending = nullptr;
  std::vector<std::shared_ptr<Node>> local;
  auto& sink = pending ? *pending : local;
  for (auto& e : next_)
    if (e.fn && e.fn.use_count() == 1) sink.push_back(std::move(e.fn));
  if (pending) return;
  pending = &local;
  while (!local.empty()) {
    std::shared_ptr<Node> n = std::move(local.back());
    local.pop_back();
    n.reset();  // may append to `local`
  }
  pending = nullptr;
}

std::vector<Tensor> Node::apply(std::vector<Tensor> grads) {
  MG_CHECK(fn_ != nullptr, "backward",
           "the graph through '{}' was already freed by an earlier backward; pass retain_graph=true to the "
           "first backward to run it again",
           name_);
  grads.resize(outputs_.size());
  for (size_t i = 0; i < grads.size(); ++i)
    if (!grads[i].defined()) grads[i] = zeros(outputs_[i].shape, outputs_[i].dtype, outputs_[i].device);
  auto out = fn_(grads);
  out.resize(next_.size());
  return out;
}

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!grad_enabled()) return false;
  for (const auto& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Tensor saved(const Tensor& t) {
  if (!t.defined()) return t;
  return alias(t, t.shape(), t.strides(), t.offset());
}

void finish(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            Node::BackwardFn fn) {
  if (anomaly_enabled())
    for (const auto& o : outputs)
      MG_CHECK(!o.defined() || backend_for(o.device()).all_finite(o), "anomaly",
               "forward of '{}' produced a non-finite value (output shape {})", name, str(o.shape()));
  if (!any_requires_grad(inputs)) return;
  std::vector<Edge> edges(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    if (!t.defined() || !t.requires_grad()) continue;
    if (t.grad_fn()) edges[i] = Edge{t.grad_fn(), t.impl()->output_nr, nullptr};
    else edges[i] = Edge{nullptr, 0, t.impl_ptr()};
  }
  std::vector<OutputMeta> metas;
  for (const auto& o : outputs) metas.push_back({o.shape(), o.dtype(), o.device()});
  auto node = std::make_shared<Node>(name, std::move(edges), std::move(metas), std::move(fn));
  for (size_t i = 0; i < outputs.size(); ++i) {
    TensorImpl* o = outputs[i].impl();
    if (!is_floating(o->dtype)) continue;
    o->requires_grad = true;
    o->grad_fn = node;
    o->output_nr = static_cast<int>(i);
  }
}

Tensor finish(const char* name, const std::vector<Tensor>& inputs, Tensor output,
              std::function<std::vector<Tensor>(const Tensor& grad)> fn) {
  finish(name, inputs, std::vector<Tensor>{output},
         [fn = std::move(fn)](const std::vector<Tensor>& g) { return fn(g[0]); });
  return output;
}

}  // namespace memgrad
