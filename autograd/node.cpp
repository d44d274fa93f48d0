#include "autograd/node.h"

#include <atomic>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "backends/backend.h"

namespace memgrad {
namespace {
std::atomic<uint64_t> g_sequence{0};

// saved() calls since the last finish() on this thread. A record whose tensor is gone (an op that
// threw between saved() and finish()) is dropped by finish().
struct PendingSave {
  std::weak_ptr<TensorImpl> tensor;
  uint64_t version;
};
thread_local std::vector<PendingSave> t_pending_saves;

std::string saved_role(const SavedVersion& s, const TensorImpl& t) {
  std::string what = s.input >= 0    ? fmt::format("input {}", s.input)
                     : s.output >= 0 ? fmt::format("output {}", s.output)
                                     : std::string("a tensor");
  return fmt::format("{} (shape {}, {})", what, str(t.shape), to_string(t.dtype));
}
}  // namespace

void Node::check_saved_versions() const {
  for (const SavedVersion& s : saved_) {
    auto t = s.tensor.lock();
    if (!t) continue;
    const uint64_t now = t->storage->version();
    MG_CHECK(now == s.version, fmt::format("backward of {}", name_).c_str(),
             "{} was saved for backward and then modified by an in-place operation (storage version {} when "
             "saved, {} now), so its gradient would be computed from the new values; write into a clone() "
             "instead, or make the change before '{}' runs",
             saved_role(s, *t), s.version, now, name_);
  }
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
  check_saved_versions();
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
  Tensor a = alias(t, t.shape(), t.strides(), t.offset());
  t_pending_saves.push_back({a.impl_ptr(), a.storage()->version()});
  return a;
}

namespace {
// Memory that memgrad does not own (a numpy array's, shared by from_numpy) can be written without
// bumping a version, so what a node saves from it is copied now: backward then computes with the
// values the forward pass saw.
void snapshot_external(const std::shared_ptr<TensorImpl>& t) {
  Tensor copy = empty(t->shape, t->dtype, t->storage->device());
  backend_for(copy.device()).copy(Tensor(t), copy);
  t->storage = copy.storage();
  t->offset = 0;
  t->strides = copy.strides();
}

// The version records of this op's saved() calls, each named by the input or output it views.
std::vector<SavedVersion> take_saved(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs) {
  std::vector<PendingSave> pending = std::move(t_pending_saves);
  t_pending_saves.clear();
  std::vector<SavedVersion> out;
  for (PendingSave& p : pending) {
    auto t = p.tensor.lock();
    if (!t) continue;
    SavedVersion s{std::move(p.tensor), p.version, -1, -1};
    for (size_t i = 0; i < inputs.size() && s.input < 0; ++i)
      if (inputs[i].defined() && inputs[i].storage() == t->storage) s.input = static_cast<int>(i);
    for (size_t i = 0; i < outputs.size() && s.input < 0 && s.output < 0; ++i)
      if (outputs[i].defined() && outputs[i].storage() == t->storage) s.output = static_cast<int>(i);
    if (t->storage->is_external()) {
      snapshot_external(t);
      s.version = t->storage->version();
    }
    // A block an op made is now held for backward (core/memory_trace.h); a parameter's or a user's
    // keeps its category.
    if (t->storage->category() == memory::Category::temporary) t->storage->set_category(memory::Category::saved);
    out.push_back(std::move(s));
  }
  return out;
}
// Hands the memory trace this op's allocations, after its saves (core/memory_trace.h).
void trace_op(const char* name, const std::vector<Tensor>& outputs) {
  if (!memory::tracing()) return;
  std::vector<uint64_t> blocks;
  for (const Tensor& o : outputs)
    if (o.defined() && o.storage()) blocks.push_back(o.storage()->trace_id());
  memory::op_finished(name, blocks);
}
}  // namespace

void finish(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            Node::BackwardFn fn) {
  if (anomaly_enabled())
    for (const auto& o : outputs)
      MG_CHECK(!o.defined() || backend_for(o.device()).all_finite(o), "anomaly",
               "forward of '{}' produced a non-finite value (output shape {})", name, str(o.shape()));
  if (!any_requires_grad(inputs)) {
    t_pending_saves.clear();
    trace_op(name, outputs);
    return;
  }
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
  node->set_saved(take_saved(inputs, outputs));
  if (memory::tracing()) node->set_module(memory::current_module_path());
  for (size_t i = 0; i < outputs.size(); ++i) {
    TensorImpl* o = outputs[i].impl();
    if (!is_floating(o->dtype)) continue;
    o->requires_grad = true;
    o->grad_fn = node;
    o->output_nr = static_cast<int>(i);
  }
  trace_op(name, outputs);
}

Tensor finish(const char* name, const std::vector<Tensor>& inputs, Tensor output,
              std::function<std::vector<Tensor>(const Tensor& grad)> fn) {
  finish(name, inputs, std::vector<Tensor>{output},
         [fn = std::move(fn)](const std::vector<Tensor>& g) { return fn(g[0]); });
  return output;
}

}  // namespace memgrad
