#pragma once
// Launchers of the layer-norm kernels (cuda_layer_norm.cu). x, grad, out, grad_x are [rows, cols]
// row-major; mean, rstd [rows]; weight, bias [cols] (null when undefined). Default stream; the
// caller checks each launch.
#include <cstdint>

namespace memgrad::cuda {

// out = (x - mean) * rstd * weight + bias, with mean and rstd per row (statistics in double).
template <class T>
void launch_layer_norm(const T* x, const T* weight, const T* bias, T* out, T* mean, T* rstd, int64_t rows,
                       int64_t cols, double eps);

// grad_x = rstd * (dy - mean(dy) - xhat * mean(dy * xhat)), dy = grad * weight.
template <class T>
void launch_layer_norm_backward_x(const T* grad, const T* x, const T* weight, const T* mean, const T* rstd,
                                  T* grad_x, int64_t rows, int64_t cols);

// Row chunks the weight/bias gradient splits the rows into (the partials buffer is [chunks, 2, cols]).
int64_t layer_norm_wb_chunks(int64_t rows);

// grad_weight = sum over rows of grad * xhat, grad_bias = sum of grad (either may be null), in
// two deterministic stages: per-chunk partial sums in double, then a fixed-order sum per column.
template <class T>
void launch_layer_norm_backward_wb(const T* grad, const T* x, const T* mean, const T* rstd, double* partials,
                                   T* grad_weight, T* grad_bias, int64_t rows, int64_t cols);

}  // namespace memgrad::cuda
