#pragma once
// The scalar rules every backend's kernels apply, in one place: plain C++ that CPU (.cpp) and
// CUDA (.cu) kernels both include.
//
// NaN and infinity (as PyTorch):
//   - max, min, maximum, minimum, amax, amin propagate NaN: a NaN operand gives NaN; arg max/min
//     point at the first NaN. relu(NaN) = NaN. Comparisons follow IEEE (NaN compares unequal and
//     neither less nor greater; NaN != NaN is true).
//   - A reduction over a row that contains NaN gives NaN; softmax of a row holding NaN or +inf
//     is NaN in the whole row; a row entirely -inf (fully masked) gives zeros (memgrad's rule).
//   - Everything else follows IEEE arithmetic (0 * inf = NaN, inf - inf = NaN, ...).
// Integers (int32, int64), as numpy and PyTorch:
//   - add, sub, mul, neg, abs and sums wrap around in two's complement (computed in unsigned
//     types, so no signed overflow, which C++ leaves undefined); INT_MIN / -1 = INT_MIN and
//     abs(INT_MIN) = INT_MIN.
//   - Division by zero is an Error ("[div] integer division by zero"), checked before the kernel.
//   - pow by repeated squaring, wrapping; a negative exponent gives 1 for base 1, +-1 for base
//     -1 and 0 for any other base (PyTorch's integer pow).
//   - A float converted to an integer type is truncated toward zero; NaN, +-inf and values whose
//     truncation the type cannot hold are an Error naming the op and the value (never the
//     undefined behaviour of static_cast).
#include <cstdint>
#include <limits>
#include <type_traits>

#if defined(__CUDACC__)
#define MG_SCALAR __host__ __device__ __forceinline__
#else
#define MG_SCALAR inline
#endif

namespace memgrad {

// ---- NaN-propagating selections ----

// The starting values of max and min reductions: -inf / +inf for floats (a row all -inf reduces
// to -inf, as torch.amax), the extreme values for integers.
template <class T>
MG_SCALAR constexpr T max_identity() {
  if constexpr (std::is_floating_point_v<T>) return -std::numeric_limits<T>::infinity();
  else return std::numeric_limits<T>::lowest();
}
template <class T>
MG_SCALAR constexpr T min_identity() {
  if constexpr (std::is_floating_point_v<T>) return std::numeric_limits<T>::infinity();
  else return std::numeric_limits<T>::max();
}

template <class T>
MG_SCALAR bool is_nan(T v) {
  return v != v;  // false for integers
}
// The larger of a and b, NaN when either is NaN.
template <class T>
MG_SCALAR T nan_max(T a, T b) {
  return (b > a || is_nan(b)) && !is_nan(a) ? b : a;
}
template <class T>
MG_SCALAR T nan_min(T a, T b) {
  return (b < a || is_nan(b)) && !is_nan(a) ? b : a;
}
// max(v, 0), NaN for NaN (and 0 for -0).
template <class T>
MG_SCALAR T relu_value(T v) {
  return v > T(0) || is_nan(v) ? v : T(0);
}
// d relu / dx as PyTorch's threshold_backward: 0 where x <= 0, grad elsewhere (NaN x included).
template <class T>
MG_SCALAR T relu_grad(T x, T g) {
  return x <= T(0) ? T(0) : g;
}

// ---- two's-complement integer arithmetic ----

template <class T>
using wrap_unsigned = std::make_unsigned_t<T>;
template <class T>
constexpr bool is_wrapping_int = std::is_integral_v<T> && !std::is_same_v<T, bool>;

template <class T>
MG_SCALAR T wrap_add(T a, T b) {
  if constexpr (is_wrapping_int<T>) {
    using U = wrap_unsigned<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
  } else {
    return static_cast<T>(a + b);
  }
}
template <class T>
MG_SCALAR T wrap_sub(T a, T b) {
  if constexpr (is_wrapping_int<T>) {
    using U = wrap_unsigned<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) - static_cast<U>(b)));
  } else {
    return static_cast<T>(a - b);
  }
}
template <class T>
MG_SCALAR T wrap_mul(T a, T b) {
  if constexpr (is_wrapping_int<T>) {
    // a narrow unsigned type would promote to (signed) int: multiply as unsigned long long
    using U = wrap_unsigned<T>;
    using W = unsigned long long;
    return static_cast<T>(static_cast<U>(static_cast<W>(static_cast<U>(a)) * static_cast<W>(static_cast<U>(b))));
  } else {
    return static_cast<T>(a * b);
  }
}
template <class T>
MG_SCALAR T wrap_neg(T v) {
  if constexpr (is_wrapping_int<T>) {
    using U = wrap_unsigned<T>;
    return static_cast<T>(static_cast<U>(U(0) - static_cast<U>(v)));
  } else {
    return static_cast<T>(-v);
  }
}
template <class T>
MG_SCALAR T wrap_abs(T v) {
  return v < T(0) ? wrap_neg(v) : v;  // abs(INT_MIN) = INT_MIN; NaN stays NaN
}
// a / b truncated (the caller has checked b != 0); INT_MIN / -1 wraps to INT_MIN.
template <class T>
MG_SCALAR T int_div(T a, T b) {
  return b == T(-1) ? wrap_neg(a) : static_cast<T>(a / b);
}
// a^b for integers, PyTorch's rule: wrapping repeated squaring; b < 0 gives 1 (a = 1),
// +-1 (a = -1, by b's parity) or 0.
template <class T>
MG_SCALAR T int_pow(T a, T b) {
  if (b < T(0)) {
    if (a == T(1)) return T(1);
    if (a == T(-1)) return (b & T(1)) ? T(-1) : T(1);
    return T(0);
  }
  T r = T(1), base = a;
  auto e = static_cast<wrap_unsigned<T>>(b);
  while (e) {
    if (e & 1u) r = wrap_mul(r, base);
    e >>= 1;
    if (e) base = wrap_mul(base, base);
  }
  return r;
}

// ---- float -> integer conversion ----

// Whether static_cast<I>(v) is defined: v is finite and its truncation lies in I's range.
template <class I, class F>
MG_SCALAR bool fits_integer(F v) {
  if constexpr (!std::is_floating_point_v<F> || !is_wrapping_int<I>) {
    return true;
  } else {
    // lo = -2^(bits-1) is exact in every float type; the truncation of v fits when lo - 1 < v < -lo
    // (lo - 1 may round to lo, hence the v >= lo)
    const F lo = -static_cast<F>(static_cast<wrap_unsigned<I>>(1) << (sizeof(I) * 8 - 1));
    return (v >= lo || v > lo - F(1)) && v < -lo;  // false for NaN and +-inf
  }
}

}  // namespace memgrad
