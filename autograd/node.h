#pragma once
// A recorded op in the graph: where its inputs' gradients go, and how to compute them.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace memgrad {

// Where one input's gradient goes: the node that produced the input (and which of its outputs),
// or a leaf tensor that accumulates it. Neither for inputs that need no gradient.
struct Edge {
  std::shared_ptr<Node> fn;
  int output_nr = 0;
  std::shared_ptr<TensorImpl> leaf;
  bool defined() const { return fn || leaf; }
};

struct OutputMeta {
  Shape shape;
  DType dtype;
  Device device;
};

// A tensor a node saved for backward and the version its storage had then (core/storage.h).
// The node's closure owns the tensor; the record only watches it.
struct SavedVersion {
  std::weak_ptr<TensorImpl> tensor;
  uint64_t version = 0;
  int input = -1;   // which input of the op it views (by storage), or -1
  int output = -1;  // which output, or -1
};

class Node {
 public:
  // Given one gradient per output, returns one per input (undefined where there is none).
  // Saved tensors live in the closure, which release() destroys.
  using BackwardFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& grad_outputs)>;

  Node(std::string name, std::vector<Edge> next, std::vector<OutputMeta> outputs, BackwardFn fn);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const std::string& name() const { return name_; }
  const std::vector<Edge>& next_edges() const { return next_; }
  const std::vector<OutputMeta>& outputs() const { return outputs_; }
  uint64_t sequence_nr() const { return sequence_nr_; }
  bool released() const { return !fn_; }

  // Missing output gradients are filled with zeros. Errors when already released, and when a
  // saved tensor was modified in place since it was saved (its storage version moved on).
  std::vector<Tensor> apply(std::vector<Tensor> grad_outputs);
  void release() {
    fn_ = nullptr;
    saved_.clear();
  }
  void set_saved(std::vector<SavedVersion> s) { saved_ = std::move(s); }
  // The nn module path the forward ran in, kept only while a memory trace records (it names the
  // backward's allocations: core/memory_trace.h).
  const std::string& module() const { return module_; }
  void set_module(std::string m) { module_ = std::move(m); }

 private:
  std::string name_;
  std::vector<Edge> next_;
  std::vector<OutputMeta> outputs_;
  BackwardFn fn_;
  std::vector<SavedVersion> saved_;
  uint64_t sequence_nr_;
  std::string module_;

  void check_saved_versions() const;
};

// True when grad mode is on and some input requires a gradient.
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Every op ends here: checks outputs in anomaly mode and, when some input needs a gradient,
// attaches a Node that runs `fn` to the outputs. Closures must capture saved(t), never t itself.
// The node adopts the version records of the saved() calls made since the previous finish() on
// this thread: call saved() in the op, right before its finish(), with no other op in between.
void finish(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            Node::BackwardFn fn);
// The single-output form, returning the output.
Tensor finish(const char* name, const std::vector<Tensor>& inputs, Tensor output,
              std::function<std::vector<Tensor>(const Tensor& grad)> fn);

// A view of t with no autograd history, for saving in a closure without a reference cycle. It
// also records t's storage version: backward raises an error naming the op and the tensor when an
// in-place write changed it in between (PyTorch's version counters), instead of computing with
// the new values. (detach() gives such a view without the record.)
Tensor saved(const Tensor& t);

}  // namespace memgrad
