#pragma once
// Classification losses and metrics (cross_entropy itself lives in autograd/ops.h).
#include "autograd/ops.h"

namespace memgrad::nn {

// Fraction of rows of logits [N, C] whose argmax equals target [N], over targets != ignore_index.
double accuracy(const Tensor& logits, const Tensor& target, int64_t ignore_index = -100);

}  // namespace memgrad::nn
