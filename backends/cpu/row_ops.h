#pragma once
// Vectorised row primitives shared by softmax, cross-entropy and attention. `omp simd reduction`
// lets the compiler keep several partial sums (a reassociation plain C++ forbids).
#include <cstdint>
#include <limits>

#include "backends/cpu/fast_exp.h"

namespace memgrad::cpu {

// The largest of x[0, n): NaN when one is NaN (scalar_math.h), -inf for n = 0.
template <class T>
T row_max(const T* x, int64_t n) {
  T m = -std::numeric_limits<T>::infinity();
  int nan = 0;  // simd max reductions drop NaN: it is tracked on the side
#pragma omp simd reduction(max : m) reduction(| : nan)
  for (int64_t i = 0; i < n; ++i) {
    m = x[i] > m ? x[i] : m;
    nan |= x[i] != x[i];
  }
  return nan ? std::numeric_limits<T>::quiet_NaN() : m;
}

// out[i] = exp(x[i] - m); returns the sum (accumulated in T).
template <class T>
T exp_sub_sum(const T* x, T m, T* out, int64_t n) {
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) {
    T e = fast_exp(x[i] - m);
    out[i] = e;
    s += e;
  }
  return s;
}

template <class T>
T row_sum(const T* x, int64_t n) {
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += x[i];
  return s;
}

template <class T>
T row_dot(const T* x, const T* y, int64_t n) {
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += x[i] * y[i];
  return s;
}

}  // namespace memgrad::cpu
