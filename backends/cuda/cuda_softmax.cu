// Softmax / log-softmax over the last dim and their backward: one warp per short row, one block
// per long row; max-subtracted, with a fully -inf row handled as on the CPU.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "backends/cuda/kernel_args.h"
#include "backends/cuda/row_team.cuh"
#include "backends/cuda/softmax_kernels.h"

namespace memgrad::cuda {
namespace {

template <class T, bool kWarpTeam>
__global__ void softmax_kernel(const T* __restrict__ x, T* __restrict__ out, int64_t rows, int64_t cols, bool log) {
  const RowTeam<kWarpTeam> team;
  for (int64_t r = team.first_row; r < rows; r += team.row_step) {
    const T* xr = x + r * cols;
    T* orow = out + r * cols;
    T m = -INFINITY;
    for (int64_t c = team.lane; c < cols; c += team.size) m = nan_max(m, xr[c]);  // NaN: the row is NaN
    m = team.reduce(m, MaxOp{}, T(-INFINITY));
    if (m == T(-INFINITY)) m = 0;  // a fully masked row: keep it finite
    T sum = 0;
    for (int64_t c = team.lane; c < cols; c += team.size) sum += dev_exp(xr[c] - m);
    sum = team.reduce(sum, SumOp{}, T(0));
    if (log) {
      const T log_sum = dev_log(sum);  // (x - m) - log(sum): exact x - m, no rounding at the scale of m
      for (int64_t c = team.lane; c < cols; c += team.size) orow[c] = (xr[c] - m) - log_sum;
    } else {
      // a row of -inf (every entry masked) has sum 0: its probabilities are 0, not NaN; a row
      // with NaN or +inf has sum NaN, and every probability NaN
      const T inv = sum == T(0) ? T(0) : T(1) / sum;
      for (int64_t c = team.lane; c < cols; c += team.size) orow[c] = dev_exp(xr[c] - m) * inv;
    }
  }
}

template <class T, bool kWarpTeam>
__global__ void softmax_backward_kernel(const T* __restrict__ y, const T* __restrict__ g, T* __restrict__ out,
                                        int64_t rows, int64_t cols, bool log) {
  const RowTeam<kWarpTeam> team;
  for (int64_t r = team.first_row; r < rows; r += team.row_step) {
    const T* yr = y + r * cols;
    const T* gr = g + r * cols;
    T* orow = out + r * cols;
    T s = 0;
    if (log) {  // dx = g - softmax * sum(g)
      for (int64_t c = team.lane; c < cols; c += team.size) s += gr[c];
      s = team.reduce(s, SumOp{}, T(0));
      for (int64_t c = team.lane; c < cols; c += team.size) orow[c] = gr[c] - dev_exp(yr[c]) * s;
    } else {  // dx = y * (g - sum(g * y))
      for (int64_t c = team.lane; c < cols; c += team.size) s += gr[c] * yr[c];
      s = team.reduce(s, SumOp{}, T(0));
      for (int64_t c = team.lane; c < cols; c += team.size) orow[c] = yr[c] * (gr[c] - s);
    }
  }
}

}  // namespace

template <class T>
void launch_softmax(const T* x, T* out, int64_t rows, int64_t cols, bool log) {
  const RowLaunch L = row_launch(rows, cols, kThreads);
  if (L.warp) softmax_kernel<T, true><<<L.blocks, kThreads>>>(x, out, rows, cols, log);
  else softmax_kernel<T, false><<<L.blocks, kThreads>>>(x, out, rows, cols, log);
}

template <class T>
void launch_softmax_backward(const T* y, const T* grad, T* out, int64_t rows, int64_t cols, bool log) {
  const RowLaunch L = row_launch(rows, cols, kThreads);
  if (L.warp) softmax_backward_kernel<T, true><<<L.blocks, kThreads>>>(y, grad, out, rows, cols, log);
  else softmax_backward_kernel<T, false><<<L.blocks, kThreads>>>(y, grad, out, rows, cols, log);
}

template void launch_softmax<float>(const float*, float*, int64_t, int64_t, bool);
template void launch_softmax<double>(const double*, double*, int64_t, int64_t, bool);
template void launch_softmax_backward<float>(const float*, const float*, float*, int64_t, int64_t, bool);
template void launch_softmax_backward<double>(const double*, const double*, double*, int64_t, int64_t, bool);

}  // namespace memgrad::cuda
