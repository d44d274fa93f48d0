#include "autograd/engine.h"

#include <algorithm>
#include <optional>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "backends/backend.h"
#include "backends/profiler.h"
#include "core/memory_trace.h"
#include "core/phase.h"

namespace memgrad {
namespace {

void check_grad(const char* what, const std::string& name, size_t i, const Tensor& g, const Shape& shape) {
  MG_CHECK(g.shape() == shape, "backward", "{} '{}' returned a gradient of shape {} for input {} of shape {}", what,
           name, str(g.shape()), i, str(shape));
  if (anomaly_enabled())
    MG_CHECK(backend_for(g.device()).all_finite(g), "anomaly",
             "backward of '{}' produced a non-finite gradient for input {} (shape {})", name, i, str(shape));
}

// Whether t's memory may be written without any other tensor seeing it: at most `holders`
// references to its TensorImpl (the caller's own), none to its storage but that one, and
// contiguous (an expanded tensor's elements are shared).
bool sole_owner(const Tensor& t, long holders) {
  return t.impl_ptr().use_count() <= holders && t.storage().use_count() == 1 && t.is_contiguous();
}

void accumulate_into_leaf(TensorImpl* leaf, Tensor g) {
  if (g.dtype() != leaf->dtype) g = to(g, leaf->dtype);
  if (leaf->grad) {
    leaf->grad = add(Tensor(leaf->grad), g).impl_ptr();
    leaf->grad->storage->set_category(memory::Category::gradient);
    return;
  }
  // Keep a gradient that nothing else references; copy one that is shared (e.g. add's backward
  // hands the same tensor to both inputs), so in-place updates of one .grad never touch another.
  // Expanded (stride-0) gradients are materialised for the same reason. (g is held here and by
  // the caller's list.)
  leaf->grad = (sole_owner(g, 2) ? g : clone(g)).impl_ptr();
  leaf->grad->storage->set_category(memory::Category::gradient);  // core/memory_trace.h
}

// n->apply, timed for the profiler (backends/profiler.h) and attributed to the node's name.
std::vector<Tensor> apply_timed(Node& n, std::vector<Tensor> in) {
  const double t0 = profiler::now();
  std::vector<Tensor> out = n.apply(std::move(in));
  profiler::record(profiler::Source::node, n.name(), profiler::now() - t0);
  return out;
}

// The grad-ready hooks by leaf, and each handle's leaf.
struct HookRegistry {
  std::unordered_map<TensorImpl*, std::vector<std::pair<int64_t, GradReadyHook>>> by_leaf;
  std::unordered_map<int64_t, TensorImpl*> leaf_of;
  int64_t next = 1;
};
HookRegistry& hooks() {
  static HookRegistry r;
  return r;
}

// Counts, per hooked leaf, the deliveries still to come in this pass; calls its hooks at zero.
class LeafCountdown {
 public:
  void expect(const std::shared_ptr<TensorImpl>& leaf) {
    if (!hooks().by_leaf.count(leaf.get())) return;
    auto [it, fresh] = left_.try_emplace(leaf.get(), 0, leaf);
    ++it->second.first;
  }
  void delivered(TensorImpl* leaf) {
    auto it = left_.find(leaf);
    if (it == left_.end() || --it->second.first > 0) return;
    auto h = hooks().by_leaf.find(leaf);
    if (h == hooks().by_leaf.end()) return;
    const std::vector<std::pair<int64_t, GradReadyHook>> fs = h->second;  // a hook may remove hooks
    const Tensor t(it->second.second);
    for (const auto& f : fs) f.second(t);
  }

 private:
  std::unordered_map<TensorImpl*, std::pair<int, std::shared_ptr<TensorImpl>>> left_;  // deliveries to come, leaf
};

// How many backward passes this thread is inside (checkpoint() runs one within another).
thread_local int tl_backward_depth = 0;
class BackwardDepth {
 public:
  BackwardDepth() { ++tl_backward_depth; }
  ~BackwardDepth() { --tl_backward_depth; }
  BackwardDepth(const BackwardDepth&) = delete;
  BackwardDepth& operator=(const BackwardDepth&) = delete;
  bool outermost() const { return tl_backward_depth == 1; }
};

// Sums gradient g into a node's input buffer. The sum is formed in place when the buffer is the
// only reference to its memory (as PyTorch's InputBuffer does): a residual merge then allocates
// no third tensor of the activation's size beside the two it adds. A buffer that is shared (add's
// backward hands one tensor to both inputs; a root gradient the caller passed) gets a new sum.
void add_to(std::vector<Tensor>& buf, size_t i, const Tensor& g) {
  if (buf.size() <= i) buf.resize(i + 1);
  Tensor& b = buf[i];
  if (!b.defined()) b = g;
  else if (sole_owner(b, 1) && b.dtype() == g.dtype() && b.device() == g.device() && b.impl() != g.impl())
    backend_for(b.device()).binary(BinaryOp::add, b, g, b);  // backend.h: out may be an input
  else b = add(b, g);
}

}  // namespace

void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads_in, bool retain_graph) {
  MG_CHECK(grads_in.empty() || grads_in.size() == roots.size(), "backward", "{} roots but {} gradients",
           roots.size(), grads_in.size());
  NoGradGuard no_grad;
  PhaseScope phase("backward");  // the profiler and the memory trace attribute this pass to it
  const BackwardDepth depth;
  // The memory trace's op for the root gradients and their first delivery (core/memory_trace.h).
  std::optional<memory::OpScope> seed(std::in_place, "", "backward: seed gradients");

  // Root gradients.
  std::vector<Tensor> grads(roots.size());
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    MG_CHECK(r.requires_grad(), "backward", "tensor of shape {} does not require grad and has no grad_fn",
             str(r.shape()));
    if (i < grads_in.size() && grads_in[i].defined()) {
      MG_CHECK(grads_in[i].shape() == r.shape(), "backward", "gradient of shape {} for a root of shape {}",
               str(grads_in[i].shape()), str(r.shape()));
      grads[i] = grads_in[i];
    } else {
      MG_CHECK(r.numel() == 1, "backward",
               "a gradient can be implied only for one-element outputs, got shape {}; pass one", str(r.shape()));
      grads[i] = ones(r.shape(), r.dtype(), r.device());
    }
  }

  // Discover the graph iteratively and count, per node, the edges that lead into it (and, per
  // hooked leaf, those that lead into it: the countdown of its grad-ready hooks).
  std::unordered_map<Node*, std::shared_ptr<Node>> nodes;
  std::unordered_map<Node*, int> deps;
  LeafCountdown leaves;
  // Only the outermost pass calls hooks (autograd/engine.h): a nested one (checkpoint's) would call
  // them before the outer pass's own delivery, so twice in one pass.
  const bool hooked = depth.outermost() && !hooks().by_leaf.empty();
  std::vector<Node*> stack;
  for (size_t i = 0; i < roots.size(); ++i) {
    if (auto fn = roots[i].grad_fn(); fn && nodes.emplace(fn.get(), fn).second) stack.push_back(fn.get());
    if (hooked && !roots[i].grad_fn()) leaves.expect(roots[i].impl_ptr());
  }
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next_edges()) {
      if (hooked && !e.fn && e.leaf) leaves.expect(e.leaf);
      if (!e.fn) continue;
      deps[e.fn.get()] += 1;
      if (nodes.emplace(e.fn.get(), e.fn).second) stack.push_back(e.fn.get());
    }
  }

  std::unordered_map<Node*, std::vector<Tensor>> buffers;
  for (size_t i = 0; i < roots.size(); ++i) {
    if (auto fn = roots[i].grad_fn()) add_to(buffers[fn.get()], roots[i].impl()->output_nr, grads[i]);
    else accumulate_into_leaf(roots[i].impl(), grads[i]);
    if (hooked && !roots[i].grad_fn()) leaves.delivered(roots[i].impl());
  }

  // Run nodes newest first among those whose consumers have all run.
  auto later_first = [](Node* a, Node* b) { return a->sequence_nr() < b->sequence_nr(); };
  std::priority_queue<Node*, std::vector<Node*>, decltype(later_first)> ready(later_first);
  for (auto& [n, fn] : nodes)
    if (deps[n] == 0) ready.push(n);

  seed.reset();
  while (!ready.empty()) {
    Node* n = ready.top();
    ready.pop();
    // The memory trace's op: the node's apply, the delivery of its gradients (a leaf's .grad
    // included) and the release of its inputs (core/memory_trace.h).
    memory::OpScope op("backward of ", n->name(), n->module());
    std::vector<Tensor> in = std::move(buffers[n]);
    buffers.erase(n);
    bool any = false;
    for (const auto& g : in) any |= g.defined();
    std::vector<Tensor> out;
    if (any) out = profiler::enabled() ? apply_timed(*n, std::move(in)) : n->apply(std::move(in));
    else MG_CHECK(!n->released(), "backward", "the graph through '{}' was already freed", n->name());
    out.resize(n->next_edges().size());
    if (!retain_graph) n->release();

    const auto& edges = n->next_edges();
    for (size_t i = 0; i < edges.size(); ++i) {
      const Edge& e = edges[i];
      if (!e.defined()) continue;
      const Tensor& g = out[i];
      if (g.defined()) {
        check_grad("node", n->name(), i, g, e.fn ? e.fn->outputs()[e.output_nr].shape : e.leaf->shape);
        if (e.fn) add_to(buffers[e.fn.get()], e.output_nr, g);
        else accumulate_into_leaf(e.leaf.get(), g);
      }
      if (e.fn && --deps[e.fn.get()] == 0) ready.push(e.fn.get());
      if (hooked && !e.fn && e.leaf) leaves.delivered(e.leaf.get());  // an undefined gradient delivers too
    }
  }
}

int64_t add_grad_ready_hook(const Tensor& leaf, GradReadyHook f) {
  MG_CHECK(leaf.defined() && leaf.is_leaf() && leaf.requires_grad(), "add_grad_ready_hook",
           "needs a leaf tensor that requires grad");
  HookRegistry& r = hooks();
  const int64_t h = r.next++;
  r.by_leaf[leaf.impl()].emplace_back(h, std::move(f));
  r.leaf_of[h] = leaf.impl();
  return h;
}

void remove_grad_ready_hook(int64_t handle) {
  HookRegistry& r = hooks();
  auto it = r.leaf_of.find(handle);
  if (it == r.leaf_of.end()) return;
  auto& v = r.by_leaf[it->second];
  v.erase(std::remove_if(v.begin(), v.end(), [&](const auto& p) { return p.first == handle; }), v.end());
  if (v.empty()) r.by_leaf.erase(it->second);
  r.leaf_of.erase(it);
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  memgrad::backward({*this}, {grad}, retain_graph);
}

}  // namespace memgrad
