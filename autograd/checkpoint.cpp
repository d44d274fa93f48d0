// Activation checkpointing: trade recomputation for memory.
#include "autograd/node.h"
#include "autograd/ops.h"

namespace memgrad {

std::vector<Tensor> checkpoint(const TensorFn& fn, const std::vector<Tensor>& inputs,
                               const std::vector<Tensor>& params) {
  Generator& gen = default_generator();
  const uint64_t seed = gen.seed(), offset = gen.offset();
  std::vector<Tensor> outputs;
  {
    NoGradGuard no_grad;
    outputs = fn(inputs);
  }
  for (auto& o : outputs) o = detach(o);  // fresh impls: fn may return an input itself

  std::vector<Tensor> saved_inputs;
  std::vector<bool> needs;
  for (const auto& t : inputs) {
    saved_inputs.push_back(saved(t));
    needs.push_back(t.defined() && t.requires_grad());
  }
  std::vector<Tensor> edges = inputs;
  edges.insert(edges.end(), params.begin(), params.end());
  const size_t n_inputs = inputs.size(), n_edges = edges.size();

  finish("checkpoint", edges, outputs, [=](const std::vector<Tensor>& grads) {
    std::vector<Tensor> leaves;
    for (size_t i = 0; i < n_inputs; ++i) {
      Tensor d = detach(saved_inputs[i]);
      if (needs[i]) d.set_requires_grad(true);
      leaves.push_back(d);
    }
    // recompute with recording, drawing the same random numbers as the first run
    Generator& g = default_generator();
    const uint64_t cur_seed = g.seed(), cur_offset = g.offset();
    g.set_state(seed, offset);
    std::vector<Tensor> outs;
    {
      GradModeGuard on(true);
      outs = fn(leaves);
    }
    g.set_state(cur_seed, cur_offset);
    std::vector<Tensor> roots, root_grads;
    for (size_t i = 0; i < outs.size() && i < grads.size(); ++i) {
      if (!outs[i].defined() || !outs[i].requires_grad()) continue;
      roots.push_back(outs[i]);
      root_grads.push_back(grads[i]);
    }
    if (!roots.empty()) backward(roots, root_grads);
    // params received their gradients inside the backward above: nothing to pass on for them
    std::vector<Tensor> result(n_edges);
    for (size_t i = 0; i < n_inputs; ++i)
      if (needs[i]) result[i] = leaves[i].grad().defined() ? leaves[i].grad() : zeros_like(leaves[i]);
    return result;
  });
  return outputs;
}

}  // namespace memgrad
