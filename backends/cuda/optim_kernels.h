#pragma once
// Launchers of the fused optimizer steps (cuda_optim.cu): one kernel each, in place. param and the
// state tensors are contiguous [n]; grad is read through g_args (operand 1 of a {param, grad}
// StridedArgs, so a strided view needs no copy). Default stream; the caller checks the launch.
#include <cstdint>

#include "backends/cuda/kernel_args.h"

namespace memgrad::cuda {

// SGD with momentum, dampening, weight decay and Nesterov (backend.h's formula); buf is null
// when momentum == 0.
template <class T>
void launch_sgd_step(T* param, const T* grad, const StridedArgs<2>& g_args, T* buf, int64_t n, double lr,
                     double momentum, double dampening, double weight_decay, bool nesterov, bool first_step);

// Adam / AdamW with bias corrections bc1 = 1 - beta1^step and bc2_sqrt = sqrt(1 - beta2^step).
template <class T>
void launch_adam_step(T* param, const T* grad, const StridedArgs<2>& g_args, T* exp_avg, T* exp_avg_sq, int64_t n,
                      double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                      double bc1, double bc2_sqrt);

}  // namespace memgrad::cuda
