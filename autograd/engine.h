#pragma once
// The backward pass.
#include <vector>

#include "core/tensor.h"

namespace memgrad {

// Runs backward from `roots` with the given gradients (undefined = ones for a one-element root).
// Orders the graph with an iterative topological sort, runs each node once, releases each node's
// saved tensors as soon as it has run (unless retain_graph), and accumulates into leaf `.grad`.
void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads = {}, bool retain_graph = false);

}  // namespace memgrad
