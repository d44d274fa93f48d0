// Fused optimizer steps: one pass over param, grad and state, in place (PyTorch's formulas), in
// param's dtype with the CPU's order of operations.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "backends/cuda/kernel_args.h"
#include "backends/cuda/optim_kernels.h"

namespace memgrad::cuda {
namespace {

__device__ __forceinline__ float dev_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double dev_sqrt(double x) { return sqrt(x); }

template <class T>
struct SgdParams {
  T lr, mom, keep, wd;
  bool has_wd, use_buf, nesterov, first_step;
};

template <class T>
__global__ void sgd_step_kernel(T* __restrict__ p, const T* __restrict__ g, StridedArgs<2> ga, T* __restrict__ b,
                                int64_t n, SgdParams<T> s) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t off[2];
    strided_offsets(ga, i, off);  // off[0] == i: param is contiguous
    T d = g[off[1]];
    if (s.has_wd) d += s.wd * p[i];
    if (s.use_buf) {
      b[i] = s.first_step ? d : s.mom * b[i] + s.keep * d;
      d = s.nesterov ? d + s.mom * b[i] : b[i];
    }
    p[i] -= s.lr * d;
  }
}

template <class T>
struct AdamParams {
  T w1, b2, w2, wd, shrink, neg_step_size, bc2, eps;
  bool l2, shrink_p;
};

template <class T>
__global__ void adam_step_kernel(T* __restrict__ p, const T* __restrict__ g, StridedArgs<2> ga, T* __restrict__ m,
                                 T* __restrict__ v, int64_t n, AdamParams<T> s) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t off[2];
    strided_offsets(ga, i, off);
    T gi = g[off[1]];
    T pi = p[i];
    if (s.l2) gi += s.wd * pi;
    if (s.shrink_p) pi *= s.shrink;
    // exp_avg.lerp_(grad, 1 - beta1) as ATen computes lerp (two forms, by the weight)
    const T mi = s.w1 < T(0.5) ? m[i] + s.w1 * (gi - m[i]) : gi - (gi - m[i]) * (T(1) - s.w1);
    const T vi = v[i] * s.b2 + s.w2 * gi * gi;
    const T denom = dev_sqrt(vi) / s.bc2 + s.eps;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi + s.neg_step_size * (mi / denom);
  }
}

}  // namespace

template <class T>
void launch_sgd_step(T* param, const T* grad, const StridedArgs<2>& g_args, T* buf, int64_t n, double lr,
                     double momentum, double dampening, double weight_decay, bool nesterov, bool first_step) {
  SgdParams<T> s;
  s.lr = static_cast<T>(lr);
  s.mom = static_cast<T>(momentum);
  s.keep = static_cast<T>(1 - dampening);
  s.wd = static_cast<T>(weight_decay);
  s.has_wd = weight_decay != 0;
  s.use_buf = momentum != 0;
  s.nesterov = nesterov;
  s.first_step = first_step;
  sgd_step_kernel<T><<<blocks_for(n), kThreads>>>(param, grad, g_args, buf, n, s);
}

template <class T>
void launch_adam_step(T* param, const T* grad, const StridedArgs<2>& g_args, T* exp_avg, T* exp_avg_sq, int64_t n,
                      double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                      double bc1, double bc2_sqrt) {
  AdamParams<T> s;
  s.w1 = static_cast<T>(1 - beta1);
  s.b2 = static_cast<T>(beta2);
  s.w2 = static_cast<T>(1 - beta2);
  s.wd = static_cast<T>(weight_decay);
  s.shrink = static_cast<T>(1 - lr * weight_decay);
  s.neg_step_size = static_cast<T>(-(lr / bc1));
  s.bc2 = static_cast<T>(bc2_sqrt);
  s.eps = static_cast<T>(eps);
  s.l2 = !decoupled && weight_decay != 0;
  s.shrink_p = decoupled && weight_decay != 0;
  adam_step_kernel<T><<<blocks_for(n), kThreads>>>(param, grad, g_args, exp_avg, exp_avg_sq, n, s);
}

template void launch_sgd_step<float>(float*, const float*, const StridedArgs<2>&, float*, int64_t, double, double,
                                     double, double, bool, bool);
template void launch_sgd_step<double>(double*, const double*, const StridedArgs<2>&, double*, int64_t, double,
                                      double, double, double, bool, bool);
template void launch_adam_step<float>(float*, const float*, const StridedArgs<2>&, float*, float*, int64_t, double,
                                      double, double, double, double, bool, double, double);
template void launch_adam_step<double>(double*, const double*, const StridedArgs<2>&, double*, double*, int64_t,
                                       double, double, double, double, double, bool, double, double);

}  // namespace memgrad::cuda
