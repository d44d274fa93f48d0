// Cross-entropy from logits, fused with log-softmax: a warp or block per row forward (sums in
// double, as on the CPU), one thread per logit backward.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "backends/cuda/kernel_args.h"
#include "backends/cuda/loss_kernels.h"
#include "backends/cuda/row_team.cuh"

namespace memgrad::cuda {
namespace {

template <class T, class I, bool kWarpTeam>
__global__ void cross_entropy_kernel(const T* __restrict__ logits, const I* __restrict__ target, T* __restrict__ losses,
                                     T* __restrict__ lse, int64_t N, int64_t C, int64_t ignore_index, double ls) {
  const RowTeam<kWarpTeam> team;
  for (int64_t r = team.first_row; r < N; r += team.row_step) {
    const T* x = logits + r * C;
    T m = -INFINITY;
    for (int64_t c = team.lane; c < C; c += team.size) m = nan_max(m, x[c]);  // as the CPU (scalar_math.h)
    m = team.reduce(m, MaxOp{}, T(-INFINITY));
    double s = 0, sum_x = 0;
    for (int64_t c = team.lane; c < C; c += team.size) s += dev_exp(x[c] - m), sum_x += x[c];
    s = team.reduce(s, SumOp{}, 0.0);
    sum_x = team.reduce(sum_x, SumOp{}, 0.0);
    if (team.lane != 0) continue;
    const T z = static_cast<T>(m + log(s));
    lse[r] = z;
    const int64_t t = target[r];
    // -sum_c q_c log p_c with q = (1 - ls) * onehot + ls / C; without smoothing a -inf logit
    // elsewhere is a zero probability, not 0 * -inf (as the CPU)
    const double smooth = ls != 0 ? ls * sum_x / C : 0.0;
    losses[r] = t == ignore_index ? T(0) : static_cast<T>(z - (1.0 - ls) * x[t] - smooth);
  }
}

template <class T, class I>
__global__ void cross_entropy_backward_kernel(const T* __restrict__ logits, const I* __restrict__ target,
                                              const T* __restrict__ lse, int64_t lse_stride,
                                              const T* __restrict__ scale, int64_t scale_stride, T* __restrict__ grad,
                                              int64_t n, int64_t C, int64_t ignore_index, T off, T on) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const int64_t r = i / C, c = i % C;
    const int64_t t = target[r];
    if (t == ignore_index) {
      grad[i] = 0;
      continue;
    }
    const T s = scale[r * scale_stride];
    T g = s * (dev_exp(logits[i] - lse[r * lse_stride]) - off);
    if (c == t) g -= s * on;
    grad[i] = g;
  }
}

}  // namespace

template <class T, class I>
void launch_cross_entropy(const T* logits, const I* target, T* losses, T* lse, int64_t N, int64_t C,
                          int64_t ignore_index, double label_smoothing) {
  const RowLaunch L = row_launch(N, C, kThreads);
  if (L.warp)
    cross_entropy_kernel<T, I, true>
        <<<L.blocks, kThreads>>>(logits, target, losses, lse, N, C, ignore_index, label_smoothing);
  else
    cross_entropy_kernel<T, I, false>
        <<<L.blocks, kThreads>>>(logits, target, losses, lse, N, C, ignore_index, label_smoothing);
}

template <class T, class I>
void launch_cross_entropy_backward(const T* logits, const I* target, const T* lse, int64_t lse_stride,
                                   const T* scale, int64_t scale_stride, T* grad, int64_t N, int64_t C,
                                   int64_t ignore_index, double label_smoothing) {
  const T off = static_cast<T>(label_smoothing / C), on = static_cast<T>(1.0 - label_smoothing);
  const int64_t n = N * C;
  cross_entropy_backward_kernel<T, I><<<blocks_for(n), kThreads>>>(logits, target, lse, lse_stride, scale,
                                                                   scale_stride, grad, n, C, ignore_index, off, on);
}

#define MG_LOSS_INSTANTIATE(T, I)                                                                                 \
  template void launch_cross_entropy<T, I>(const T*, const I*, T*, T*, int64_t, int64_t, int64_t, double);       \
  template void launch_cross_entropy_backward<T, I>(const T*, const I*, const T*, int64_t, const T*, int64_t, T*, \
                                                    int64_t, int64_t, int64_t, double);
MG_LOSS_INSTANTIATE(float, int32_t)
MG_LOSS_INSTANTIATE(float, int64_t)
MG_LOSS_INSTANTIATE(double, int32_t)
MG_LOSS_INSTANTIATE(double, int64_t)

}  // namespace memgrad::cuda
