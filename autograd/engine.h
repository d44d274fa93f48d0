#pragma once
// The backward pass.
#include <cstdint>
#include <functional>
#include <vector>

#include "core/tensor.h"

namespace memgrad {

// Runs backward from `roots` with the given gradients (undefined = ones for a one-element root).
// Orders the graph with an iterative topological sort, runs each node once, releases each node's
// saved tensors as soon as it has run (unless retain_graph), and accumulates into leaf `.grad`.
void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads = {}, bool retain_graph = false);

// Grad-ready hooks (PyTorch's post-accumulate-grad hooks): f(leaf) runs during a backward pass as
// soon as the leaf's .grad is final for that pass, i.e. every edge of the graph into the leaf has
// delivered its gradient. Leaves the pass does not reach are not called. Data-parallel training
// uses it to start each gradient bucket's all-reduce while the rest of backward still runs.
// Hooks run on the thread that runs backward, in the order the leaves complete (the same on
// every run of the same graph). A backward that runs inside another (checkpoint() recomputes and
// differentiates its segment in its node's backward) calls no hooks: its leaves' gradients are
// final only when the outer pass delivers the node's edge to them, and the outer pass calls the
// hooks then, once. Returns a handle for remove_grad_ready_hook.
using GradReadyHook = std::function<void(const Tensor& leaf)>;
int64_t add_grad_ready_hook(const Tensor& leaf, GradReadyHook f);
void remove_grad_ready_hook(int64_t handle);

}  // namespace memgrad
