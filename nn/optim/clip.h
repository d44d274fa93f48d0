#pragma once
// Gradient clipping by the global L2 norm (torch.nn.utils.clip_grad_norm_).
#include <vector>

#include "core/tensor.h"

namespace memgrad::optim {

// The L2 norm of all gradients together (parameters without a gradient are skipped), computed in
// float64. When it exceeds max_norm (> 0), every gradient is scaled in place by
// max_norm / (norm + 1e-6). Returns the norm before clipping. A non-finite norm throws
// memgrad::Error instead of spreading NaN into the parameters.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

// The global L2 norm of the gradients without changing them (0 when none has a gradient).
double grad_norm(const std::vector<Tensor>& params);

}  // namespace memgrad::optim
