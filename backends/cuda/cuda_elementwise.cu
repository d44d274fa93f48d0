// Creation, copy and element-wise kernels: grid-stride loops over the output's elements, operands
// addressed through StridedArgs (a plain linear index on the contiguous fast path). Each formula
// is CpuBackend's (cpu_elementwise.cpp), so results agree up to the device math library's rounding.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "backends/cuda/device_math.cuh"
#include "backends/cuda/elementwise_kernels.h"
#include "core/philox.h"
#include "backends/scalar_math.h"

namespace memgrad::cuda {
namespace {

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kPi = 3.14159265358979323846;

// Math in T's own precision: dev_exp, dev_log, ... (device_math.cuh).

// Calls f(off) for every element i < n, off[k] being operand k's element offset.
template <int K, class F>
__device__ __forceinline__ void for_each_element(const StridedArgs<K>& a, int64_t n, F&& f) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t off[K];
  if (a.contiguous) {
    for (; i < n; i += stride) {
      for (int k = 0; k < K; ++k) off[k] = i;
      f(off);
    }
  } else {
    for (; i < n; i += stride) {
      strided_offsets(a, i, off);
      f(off);
    }
  }
}

// ---- creation ----

template <class T>
__global__ void fill_kernel(T* out, StridedArgs<1> args, int64_t n, T value) {
  for_each_element(args, n, [&](const int64_t (&off)[1]) { out[off[0]] = value; });
}

template <class T>
__global__ void arange_kernel(T* out, int64_t n, double start, double step) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = static_cast<T>(start + step * static_cast<double>(i));
}

// One thread per block of 4 elements (one Philox call), exactly as CpuBackend::random.
template <class T>
__global__ void random_kernel(T* out, int64_t n, RandomKind kind, double a, double b, uint32_t k0, uint32_t k1,
                              uint64_t offset) {
  const int64_t nblk = (n + 3) / 4;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t blk = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; blk < nblk; blk += stride) {
    const uint64_t c = offset + static_cast<uint64_t>(blk);
    const Philox4 r = philox4x32(Philox4{{static_cast<uint32_t>(c), static_cast<uint32_t>(c >> 32), 0u, 0u}}, k0, k1);
    double v[4];
    if (kind == RandomKind::normal) {  // Box-Muller on word pairs (0,1) and (2,3)
      for (int p = 0; p < 2; ++p) {
        const double u1 = philox_uint_to_unit(r.w[2 * p]), u2 = philox_uint_to_unit(r.w[2 * p + 1]);
        const double rad = sqrt(-2.0 * log(u1)), th = 2.0 * kPi * u2;
        v[2 * p] = a + b * rad * cos(th);
        v[2 * p + 1] = a + b * rad * sin(th);
      }
    } else {
      for (int w = 0; w < 4; ++w) {
        const double u = 1.0 - philox_uint_to_unit(r.w[w]);  // in [0, 1)
        v[w] = kind == RandomKind::uniform ? a + (b - a) * u : (u < a ? 1.0 : 0.0);
      }
    }
    for (int w = 0; w < 4 && blk * 4 + w < n; ++w) {
      T x = static_cast<T>(v[w]);
      if constexpr (std::is_floating_point_v<T>)  // rounding (to T, or of a + (b-a)u) must not reach b
        if (kind == RandomKind::uniform && x >= static_cast<T>(b))
          x = dev_nextafter(static_cast<T>(b), static_cast<T>(a));
      out[blk * 4 + w] = x;
    }
  }
}

template <class D, class S>
__global__ void copy_kernel(D* dst, const S* src, StridedArgs<2> args, int64_t n) {
  // float -> int: the host checked that every value fits (launch_flag_unfit); 0 stands in otherwise
  for_each_element(args, n, [&](const int64_t (&off)[2]) {
    const S v = src[off[1]];
    dst[off[0]] = fits_integer<D>(v) ? static_cast<D>(v) : D(0);
  });
}

// ---- element-wise ----

// GELU as CpuBackend's (backends/cpu/fast_math.h): Phi(x) = erfc(-x / sqrt 2) / 2, which keeps its
// lower tail (1 + erf(x / sqrt 2) cancels there).
template <class T>
__device__ __forceinline__ T normal_cdf(T v) {
  return T(0.5) * dev_erfc(-v * T(kInvSqrt2));
}
template <class T>
__device__ __forceinline__ T gelu_value(T v) {
  return v * normal_cdf(v);
}
// g * (Phi(v) + v phi(v)), the sum as one written-out fma (as the CPU's float64, fast_math.h)
template <class T>
__device__ __forceinline__ T gelu_grad(T v, T g) {
  const T pdf = T(kInvSqrt2Pi) * dev_exp(T(-0.5) * v * v);
  return g * fma(v, pdf, normal_cdf(v));
}

template <class T>
__device__ __forceinline__ T unary_apply(UnaryOp op, T v, T e, bool square) {
  switch (op) {
    case UnaryOp::neg: return wrap_neg(v);  // scalar_math.h: integers wrap, NaN propagates
    case UnaryOp::abs: return wrap_abs(v);
    case UnaryOp::relu: return relu_value(v);
    default: break;
  }
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
      case UnaryOp::exp: return dev_exp(v);
      case UnaryOp::log: return dev_log(v);
      case UnaryOp::sqrt: return dev_sqrt(v);
      case UnaryOp::tanh: return dev_tanh(v);
      case UnaryOp::sigmoid: return T(1) / (T(1) + dev_exp(-v));
      case UnaryOp::gelu: return gelu_value(v);
      case UnaryOp::pow_scalar: return square ? v * v : dev_pow(v, e);
      default: break;
    }
  }
  return T(0);  // not reached: the host refuses other (op, dtype) pairs
}

template <class T>
__global__ void unary_kernel(UnaryOp op, const T* x, T* out, StridedArgs<2> args, int64_t n, T e, bool square) {
  for_each_element(args, n, [&](const int64_t (&off)[2]) { out[off[0]] = unary_apply(op, x[off[1]], e, square); });
}

// v is y = op(x) for exp, sqrt, tanh and sigmoid, else x.
template <class T>
__device__ __forceinline__ T unary_backward_apply(UnaryOp op, T v, T g, T e) {
  switch (op) {
    case UnaryOp::relu: return relu_grad(v, g);
    case UnaryOp::abs: return v > 0 ? g : (v < 0 ? -g : T(0));
    case UnaryOp::exp: return v * g;
    case UnaryOp::log: return g / v;
    case UnaryOp::sqrt: return g / (T(2) * v);
    case UnaryOp::tanh: return g * (T(1) - v * v);
    case UnaryOp::sigmoid: return g * v * (T(1) - v);
    case UnaryOp::gelu: return gelu_grad(v, g);
    case UnaryOp::pow_scalar:
      if (e == T(0)) return T(0);  // not 0 * pow(0, -1)
      return g * e * dev_pow(v, e - T(1));
    default: return T(0);  // not reached: the host refuses other ops
  }
}

template <class T>
__global__ void unary_backward_kernel(UnaryOp op, const T* in, const T* grad, T* out, StridedArgs<3> args, int64_t n,
                                      T e) {
  for_each_element(args, n, [&](const int64_t (&off)[3]) {
    out[off[0]] = unary_backward_apply(op, in[off[1]], grad[off[2]], e);
  });
}

// ---- the fused linear's epilogues (backend.h: linear_epilogue and its backward) ----

// y += bias[i % C] (bias null: none), out = act(y); y and out contiguous [R, C], out may be y.
template <class T>
__global__ void linear_epilogue_kernel(Activation act, T* y, const T* bias, T* out, int64_t n, int64_t C) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    T v = y[i];
    if (bias) v += bias[i % C];
    if (act == Activation::gelu) {
      y[i] = v;  // the pre-activation, kept for backward
      out[i] = gelu_value(v);
    } else {
      out[i] = act == Activation::relu ? relu_value(v) : v;
    }
  }
}

// gp = g * act'(s), s the pre-activation (gelu) or the output (relu); h (null: none) = act(s).
template <class T>
__global__ void linear_act_grad_kernel(Activation act, const T* s, const T* g, T* gp, T* h, int64_t n) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const T v = s[i];
    if (h) h[i] = act == Activation::gelu ? gelu_value(v) : relu_value(v);
    gp[i] = act == Activation::gelu ? gelu_grad(v, g[i]) : relu_grad(v, g[i]);
  }
}

// out[c] = sum over r of src[r, c], rows in order: one thread per column (a warp reads 32
// consecutive columns of a row at once).
template <class T>
__global__ void column_sum_kernel(const T* src, T* out, int64_t R, int64_t C) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < C; c += stride) {
    T acc = T(0);
    for (int64_t r = 0; r < R; ++r) acc += src[r * C + c];
    out[c] = acc;
  }
}

template <class T>
__device__ __forceinline__ T binary_apply(BinaryOp op, T x, T y) {
  switch (op) {
    case BinaryOp::add: return wrap_add(x, y);  // scalar_math.h: integers wrap
    case BinaryOp::sub: return wrap_sub(x, y);
    case BinaryOp::mul: return wrap_mul(x, y);
    case BinaryOp::div:
      if constexpr (std::is_integral_v<T>)
        return int_div(x, y);  // divisors were checked non-zero on the host
      else
        return x / y;
    case BinaryOp::pow:
      if constexpr (std::is_integral_v<T>)
        return int_pow(x, y);
      else
        return static_cast<T>(pow(static_cast<double>(x), static_cast<double>(y)));
    case BinaryOp::maximum: return nan_max(x, y);
    case BinaryOp::minimum: return nan_min(x, y);
    default: return T(0);  // not reached: comparisons go to compare_kernel
  }
}

template <class T>
__global__ void binary_kernel(BinaryOp op, const T* a, const T* b, T* out, StridedArgs<3> args, int64_t n) {
  for_each_element(args, n, [&](const int64_t (&off)[3]) { out[off[0]] = binary_apply(op, a[off[1]], b[off[2]]); });
}

template <class T>
__device__ __forceinline__ bool compare_apply(BinaryOp op, T x, T y) {
  switch (op) {
    case BinaryOp::eq: return x == y;
    case BinaryOp::ne: return x != y;
    case BinaryOp::lt: return x < y;
    case BinaryOp::le: return x <= y;
    case BinaryOp::gt: return x > y;
    case BinaryOp::ge: return x >= y;
    case BinaryOp::logical_and: return static_cast<bool>(x) && static_cast<bool>(y);
    case BinaryOp::logical_or: return static_cast<bool>(x) || static_cast<bool>(y);
    default: return false;  // not reached: arithmetic goes to binary_kernel
  }
}

template <class T>
__global__ void compare_kernel(BinaryOp op, const T* a, const T* b, bool* out, StridedArgs<3> args, int64_t n) {
  for_each_element(args, n, [&](const int64_t (&off)[3]) { out[off[0]] = compare_apply(op, a[off[1]], b[off[2]]); });
}

template <class T>
__global__ void where_kernel(const bool* cond, const T* a, const T* b, T* out, StridedArgs<4> args, int64_t n) {
  for_each_element(args, n, [&](const int64_t (&off)[4]) { out[off[0]] = cond[off[1]] ? a[off[2]] : b[off[3]]; });
}

// Flags a non-finite float or a zero integer (I = void), or a float that the integer type I
// cannot hold. Every thread that sees one stores 1: racing stores of one value need no atomics.
template <class T, class I = void>
__global__ void flag_kernel(const T* x, StridedArgs<1> args, int64_t n, int32_t* flag) {
  bool hit = false;
  for_each_element(args, n, [&](const int64_t (&off)[1]) {
    if constexpr (!std::is_void_v<I>)
      hit |= !fits_integer<I>(x[off[0]]);
    else if constexpr (std::is_floating_point_v<T>)
      hit |= !isfinite(x[off[0]]);
    else
      hit |= x[off[0]] == T(0);
  });
  if (hit) *flag = 1;
}

}  // namespace

template <class T>
void launch_fill(T* out, const StridedArgs<1>& args, int64_t n, T value) {
  fill_kernel<T><<<blocks_for(n), kThreads>>>(out, args, n, value);
}

template <class T>
void launch_arange(T* out, int64_t n, double start, double step) {
  arange_kernel<T><<<blocks_for(n), kThreads>>>(out, n, start, step);
}

template <class T>
void launch_random(T* out, int64_t n, RandomKind kind, double a, double b, uint32_t k0, uint32_t k1,
                   uint64_t offset) {
  random_kernel<T><<<blocks_for((n + 3) / 4), kThreads>>>(out, n, kind, a, b, k0, k1, offset);
}

template <class D, class S>
void launch_copy(D* dst, const S* src, const StridedArgs<2>& args, int64_t n) {
  copy_kernel<D, S><<<blocks_for(n), kThreads>>>(dst, src, args, n);
}

template <class T>
void launch_unary(UnaryOp op, const T* x, T* out, const StridedArgs<2>& args, int64_t n, double scalar) {
  // as on the CPU: the exponent is rounded to T, and scalar == 2 squares
  unary_kernel<T><<<blocks_for(n), kThreads>>>(op, x, out, args, n, static_cast<T>(scalar), scalar == 2.0);
}

template <class T>
void launch_unary_backward(UnaryOp op, const T* in, const T* grad, T* out, const StridedArgs<3>& args, int64_t n,
                           double scalar) {
  unary_backward_kernel<T><<<blocks_for(n), kThreads>>>(op, in, grad, out, args, n, static_cast<T>(scalar));
}

template <class T>
void launch_linear_epilogue(Activation act, T* y, const T* bias, T* out, int64_t R, int64_t C) {
  linear_epilogue_kernel<T><<<blocks_for(R * C), kThreads>>>(act, y, bias, out, R * C, C);
}

template <class T>
void launch_linear_act_grad(Activation act, const T* saved, const T* grad, T* grad_pre, T* act_out, int64_t n) {
  linear_act_grad_kernel<T><<<blocks_for(n), kThreads>>>(act, saved, grad, grad_pre, act_out, n);
}

template <class T>
void launch_column_sum(const T* src, T* out, int64_t R, int64_t C) {
  column_sum_kernel<T><<<blocks_for(C), kThreads>>>(src, out, R, C);
}

template <class T>
void launch_binary(BinaryOp op, const T* a, const T* b, T* out, const StridedArgs<3>& args, int64_t n) {
  binary_kernel<T><<<blocks_for(n), kThreads>>>(op, a, b, out, args, n);
}

template <class T>
void launch_compare(BinaryOp op, const T* a, const T* b, bool* out, const StridedArgs<3>& args, int64_t n) {
  compare_kernel<T><<<blocks_for(n), kThreads>>>(op, a, b, out, args, n);
}

template <class T>
void launch_where(const bool* cond, const T* a, const T* b, T* out, const StridedArgs<4>& args, int64_t n) {
  where_kernel<T><<<blocks_for(n), kThreads>>>(cond, a, b, out, args, n);
}

template <class T>
void launch_flag_nonfinite(const T* x, const StridedArgs<1>& args, int64_t n, int32_t* flag) {
  flag_kernel<T><<<blocks_for(n), kThreads>>>(x, args, n, flag);
}

template <class T>
void launch_flag_zero(const T* x, const StridedArgs<1>& args, int64_t n, int32_t* flag) {
  flag_kernel<T><<<blocks_for(n), kThreads>>>(x, args, n, flag);
}

template <class I, class F>
void launch_flag_unfit(const F* x, const StridedArgs<1>& args, int64_t n, int32_t* flag) {
  flag_kernel<F, I><<<blocks_for(n), kThreads>>>(x, args, n, flag);
}

#define MG_ALL_TYPES(X) X(float) X(double) X(int32_t) X(int64_t) X(bool)
#define MG_NUMERIC_TYPES(X) X(float) X(double) X(int32_t) X(int64_t)

#define MG_INST_ALL(T)                                                                                         \
  template void launch_fill<T>(T*, const StridedArgs<1>&, int64_t, T);                                        \
  template void launch_random<T>(T*, int64_t, RandomKind, double, double, uint32_t, uint32_t, uint64_t);      \
  template void launch_compare<T>(BinaryOp, const T*, const T*, bool*, const StridedArgs<3>&, int64_t);       \
  template void launch_where<T>(const bool*, const T*, const T*, T*, const StridedArgs<4>&, int64_t);         \
  template void launch_copy<T, float>(T*, const float*, const StridedArgs<2>&, int64_t);                      \
  template void launch_copy<T, double>(T*, const double*, const StridedArgs<2>&, int64_t);                    \
  template void launch_copy<T, int32_t>(T*, const int32_t*, const StridedArgs<2>&, int64_t);                  \
  template void launch_copy<T, int64_t>(T*, const int64_t*, const StridedArgs<2>&, int64_t);                  \
  template void launch_copy<T, bool>(T*, const bool*, const StridedArgs<2>&, int64_t);
MG_ALL_TYPES(MG_INST_ALL)

#define MG_INST_NUMERIC(T)                                                                                     \
  template void launch_arange<T>(T*, int64_t, double, double);                                                \
  template void launch_unary<T>(UnaryOp, const T*, T*, const StridedArgs<2>&, int64_t, double);              \
  template void launch_binary<T>(BinaryOp, const T*, const T*, T*, const StridedArgs<3>&, int64_t);
MG_NUMERIC_TYPES(MG_INST_NUMERIC)

#define MG_INST_FLOAT(T)                                                                                           \
  template void launch_unary_backward<T>(UnaryOp, const T*, const T*, T*, const StridedArgs<3>&, int64_t, double); \
  template void launch_flag_nonfinite<T>(const T*, const StridedArgs<1>&, int64_t, int32_t*);                     \
  template void launch_linear_epilogue<T>(Activation, T*, const T*, T*, int64_t, int64_t);                        \
  template void launch_linear_act_grad<T>(Activation, const T*, const T*, T*, T*, int64_t);                       \
  template void launch_column_sum<T>(const T*, T*, int64_t, int64_t);
MG_INST_FLOAT(float)
MG_INST_FLOAT(double)

template void launch_flag_zero<int32_t>(const int32_t*, const StridedArgs<1>&, int64_t, int32_t*);
template void launch_flag_zero<int64_t>(const int64_t*, const StridedArgs<1>&, int64_t, int32_t*);
template void launch_flag_unfit<int32_t, float>(const float*, const StridedArgs<1>&, int64_t, int32_t*);
template void launch_flag_unfit<int32_t, double>(const double*, const StridedArgs<1>&, int64_t, int32_t*);
template void launch_flag_unfit<int64_t, float>(const float*, const StridedArgs<1>&, int64_t, int32_t*);
template void launch_flag_unfit<int64_t, double>(const double*, const StridedArgs<1>&, int64_t, int32_t*);

}  // namespace memgrad::cuda
