#pragma once
// Differentiable collectives over memgrad::dist (dist/dist.h): ops whose forward and backward
// communicate, for a model whose activations are split across ranks (context parallelism:
// docs/distributed.md, examples/lra/model.cpp).
#include "core/tensor.h"

namespace memgrad {

// y = the elementwise sum over the ranks of x, on every rank (dist::all_reduce sum), with a
// gradient: x's gradient on each rank is the sum over the ranks of y's gradient, the adjoint of a
// sum that every rank holds. What the ranks then compute is the gradient of sum_r L_r, L_r the
// scalar rank r runs backward from. When every rank computes the same L from y (a replicated loss
// on the reduced vector), that objective is P * L: each rank's parameter gradients are P times its
// share of dL, and their MEAN over the ranks (nn::DataParallel) is dL exactly; a plain sum over
// the ranks would be P times too large.
//
// Contract: every rank calls it in the same order with x of the same shape and dtype, and runs
// backward through it (backward all-reduces). Under grad mode either every rank's x requires a
// gradient or none does: a mix would leave the ranks without a node waiting in backward, so it is
// an error naming the op (the flags travel in the forward's all-reduce, no extra message). In a
// world of one it is the identity. x may be any view; y is a new contiguous tensor.
Tensor all_reduce_sum(const Tensor& x);

}  // namespace memgrad
