#pragma once
// Launchers of the row-wise softmax kernels (cuda_softmax.cu). Rows are contiguous: x/y/grad/out
// are [rows, cols] row-major. Launch on the default stream; the caller checks the launch.
#include <cstdint>

namespace memgrad::cuda {

// out = softmax(x) (log: log_softmax) over each row.
template <class T>
void launch_softmax(const T* x, T* out, int64_t rows, int64_t cols, bool log);

// out = grad of x from y = softmax(x) (log: log_softmax) and grad of y.
template <class T>
void launch_softmax_backward(const T* y, const T* grad, T* out, int64_t rows, int64_t cols, bool log);

}  // namespace memgrad::cuda
