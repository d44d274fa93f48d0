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

  // Missing output gradients are filled with zeros. Errors when already released.
  std::vector<Tensor> apply(std::vector<Tensor> grad_outputs);
  void release() { fn_ = nullptr; }

 private:
  std::string name_;
  std::vector<Edge> next_;
  std::vector<OutputMeta> outputs_;
  BackwardFn fn_;
  uint64_t sequence_nr_;
};

// True when grad mode is on and some input requires a gradient.
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Every op ends here: checks outputs in anomaly mode and, when some input needs a gradient,
// attaches a Node that runs `fn` to the outputs. Closures must capture saved(t), never t itself.
void finish(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            Node::BackwardFn fn);
// The single-output form, returning the output.
Tensor finish(const char* name, const std::vector<Tensor>& inputs, Tensor output,
              std::function<std::vector<Tensor>(const Tensor& grad)> fn);

// A view of t with no autograd history, for saving in a closure without a reference cycle.
Tensor saved(const Tensor& t);

}  // namespace memgrad
