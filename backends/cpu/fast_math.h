#pragma once
// Branch-free float32 erf and GELU (forward and derivative) that compilers vectorise (libm's
// erff does not: GELU spent ~6 ns per element in it). float64 keeps std::erf / std::exp.
//
// erf(z), t = |z|:
//   t <= 0.9375:  erf(z) = z + z * P(z^2), P of degree 6 fitted to (erf(z) - z) / z (Chebyshev
//                 fit, mpmath; fit error 5e-10);
//   t >  0.9375:  erfc(t) = exp(R(t - 0.9375) - t^2), R of degree 10 fitted to log(erfc(t)) + t^2
//                 on [0.9375, 4] (fit error 3e-9); erf(z) = sign(z) (1 - erfc(t)). Past t = 4,
//                 erfc(t) < 1.6e-8 and is taken as 0 (erf rounds to +-1 from t = 3.92 on).
// Measured against double std::erf on every float of [-10, 10] (the 2-core AMD EPYC, -march=native
// with FMA): at most 1.04 ulp (1.15 on every 61st float built for x86-64 without FMA);
// tests/test_fast_math.cpp holds 2 ulp. NaN gives NaN, erf(+-inf) = +-1, erf(+-0) = +-0, denormals
// within 1 ulp.
// GELU uses the same pieces for Phi(x) = (1 + erf(x / sqrt 2)) / 2 but takes the lower tail as
// erfc / 2 directly, not as 1 + erf (which cancels; float64 and the GPU use erfc likewise).
// Measured: gelu within 5.3 ulp for x >= -1.32 (6.4 without FMA); within 3e-6 relative on [-5.6, -1.32] (about |Q|
// ulp, Q = log erfc rounded in float, down to -16), where 0.5 x (1 + erff) is off by 2.6e-4 at
// x = -3.9; Phi < 7.7e-9 is taken as 0 below x = -5.66 (|gelu| < 4.4e-8 there). The derivative
// Phi + x phi is within 1.4e-7 absolute.
#include <cmath>
#include <type_traits>

#include "backends/cpu/fast_exp.h"

namespace memgrad::cpu {
namespace fast_math_detail {

constexpr float kSplit = 0.9375f;  // the two pieces meet here
constexpr float kTailEnd = 4.0f;   // erfc(t) is taken as 0 beyond

// (erf(z) - z) / z as a polynomial in s = z^2, for |z| <= kSplit.
inline float erf_small_poly(float s) {
  float p = 8.285826549e-5f;
  p = p * s - 8.122960888e-4f;
  p = p * s + 5.199318198e-3f;
  p = p * s - 2.685872269e-2f;
  p = p * s + 1.128368370e-1f;
  p = p * s - 3.761263300e-1f;
  p = p * s + 1.283791666e-1f;
  return p;
}

// erfc(t) for t >= 0: exp(R(t - kSplit) - t^2) on [kSplit, kTailEnd], 0 past kTailEnd. Values of
// t below kSplit (which the callers do not use) and NaN give finite garbage, replaced by them.
inline float erfc_tail(float t) {
  float tc = t < kSplit ? kSplit : (t > kTailEnd ? kTailEnd : t);  // NaN -> kSplit, whatever
  float u = tc - kSplit;
  float r = -4.615140576e-8f;
  r = r * u + 6.607922755e-7f;
  r = r * u - 2.352005031e-6f;
  r = r * u - 2.055271419e-5f;
  r = r * u + 3.085020717e-4f;
  r = r * u - 2.144657254e-3f;
  r = r * u + 1.071403668e-2f;
  r = r * u - 4.416546703e-2f;
  r = r * u + 1.649288099e-1f;
  r = r * u - 6.590763505e-1f;
  r = r * u - 8.090468731e-1f;
  float e = fast_exp(r - tc * tc);
  return t > kTailEnd ? 0.0f : e;
}

}  // namespace fast_math_detail

inline float fast_erf(float z) {
  using namespace fast_math_detail;
  float t = __builtin_fabsf(z);
  float small = z + z * erf_small_poly(z * z);
  float big = __builtin_copysignf(1.0f - erfc_tail(t), z);
  float y = t <= kSplit ? small : big;
  return z == z ? y : z;  // NaN: the comparisons above picked `big`
}
inline double fast_erf(double z) { return std::erf(z); }

// Phi(x), the standard normal CDF: (1 + erf(x / sqrt 2)) / 2 without its cancellation for x < 0.
inline float normal_cdf(float x) {
  using namespace fast_math_detail;
  float z = x * 0.707106781186547524f;
  float t = __builtin_fabsf(z);
  float small = 0.5f + 0.5f * (z + z * erf_small_poly(z * z));
  float half_tail = 0.5f * erfc_tail(t);
  float big = z > 0.0f ? 1.0f - half_tail : half_tail;
  float y = t <= kSplit ? small : big;
  return x == x ? y : x;
}
inline double normal_cdf(double x) { return 0.5 * std::erfc(-x * 0.70710678118654752440); }  // as the GPU's

// gelu(x) = x Phi(x) (the exact form).
template <class T>
inline T gelu_value(T x) {
  return x * normal_cdf(x);
}

// phi(x) = exp(-x^2 / 2) / sqrt(2 pi), the standard normal density.
inline float normal_pdf(float x) { return 0.398942280401432678f * fast_exp(-0.5f * x * x); }
inline double normal_pdf(double x) { return 0.39894228040143267794 * std::exp(-0.5 * x * x); }

// gelu(x) and g * d gelu / dx = g * (Phi(x) + x phi(x)) from one Phi(x): the pass of
// feed_forward's backward that needs both.
template <class T>
inline void gelu_value_grad(T x, T g, T& value, T& grad) {
  const T cdf = normal_cdf(x);
  value = x * cdf;
  // float64: Phi + x phi as one fma written out, as the GPU's (cuda_elementwise.cu). Left to
  // contract the sum, the compiler may fuse Phi's own 0.5 * erfc instead, a last bit apart.
  if constexpr (std::is_same_v<T, double>)
    grad = g * std::fma(x, normal_pdf(x), cdf);
  else
    grad = g * (cdf + x * normal_pdf(x));
}
// g * d gelu / dx alone, the same expression (so that both give the same bits).
template <class T>
inline T gelu_grad(T x, T g) {
  T value, grad;
  gelu_value_grad(x, g, value, grad);
  return grad;
}

}  // namespace memgrad::cpu
