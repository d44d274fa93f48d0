#pragma once
// Launchers of the cross-entropy kernels (cuda_loss.cu). logits and grad_logits are [N, C]
// row-major; target [N] contiguous, int32 or int64 (I), already checked: each is `ignore_index`
// or in [0, C). Default stream; the caller checks each launch.
#include <cstdint>

namespace memgrad::cuda {

// lse[r] = logsumexp(logits[r]); losses[r] = lse - (1 - ls) * x[target] - ls * mean(x), 0 where ignored.
template <class T, class I>
void launch_cross_entropy(const T* logits, const I* target, T* losses, T* lse, int64_t N, int64_t C,
                          int64_t ignore_index, double label_smoothing);

// grad[r, c] = scale[r] * (exp(x[r, c] - lse[r]) - ls / C) - (c == target[r]) * scale[r] * (1 - ls),
// 0 in ignored rows. lse and scale are [N] with element strides lse_stride and scale_stride.
template <class T, class I>
void launch_cross_entropy_backward(const T* logits, const I* target, const T* lse, int64_t lse_stride,
                                   const T* scale, int64_t scale_stride, T* grad, int64_t N, int64_t C,
                                   int64_t ignore_index, double label_smoothing);

}  // namespace memgrad::cuda
