#pragma once
// A branch-free exp that compilers vectorise (std::exp does not): softmax and attention spend
// much of their time here (at head dim 32 the two exps of chunked attention's forward and backward
// are a quarter of its time), so it is written for the fewest vector operations: no clamps, no
// rounding or conversion instruction, three selects for the edges (0.51 against 0.64-0.76 ns per
// element for the previous form, one Zen 3 core). Relative error below 1e-7 (measured 8.2e-8
// against double exp; tests/test_fast_math.cpp);
// exp(x) = 0 for x < -86.64 (2^-125, including -inf, which masked scores use), +inf above 88.72,
// NaN for NaN.
#include <bit>
#include <cstdint>

namespace memgrad::cpu {

namespace fast_exp_detail {

// The body for a float (U = uint32_t) or a GCC float vector (U the uint32 vector of its size): the
// same operations lane by lane, so both give bitwise the same results.
template <class F, class U>
inline F body(F x) {
  const F zero = F{}, lo = zero + -86.64f, hi = zero + 88.72283f;  // 2^-125 .. FLT_MAX
  // exp(x) = 2^n * exp(r), n = round(x / ln2), |r| <= ln2 / 2. Adding 1.5 * 2^23 rounds x / ln2 to
  // an integer held in the low mantissa bits of t, so n needs no rounding or conversion
  // instruction; out of range (and for inf, NaN) n is garbage, and the selects below replace y.
  const F magic = zero + 12582912.0f;
  const F t = x * 1.44269504088896341f + magic;
  const F n = t - magic;
  F r = x - n * 0.693359375f;  // ln2 split in two for an exact product
  r = r - n * -2.12194440e-4f;
  F p = zero + 1.9875691500e-4f;  // Cephes expf polynomial
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;  // exp(r), in [0.70, 1.42]
  // times 2^n by adding n to p's exponent field: -125 <= n <= 128 on [lo, hi] keeps it normal (at
  // n = 128, r < 0 and p < 1)
  const U e = (std::bit_cast<U>(t) - std::bit_cast<U>(magic)) << 23;
  F y = std::bit_cast<F>(std::bit_cast<U>(p) + e);
  y = x < lo ? zero : y;
  y = x > hi ? zero + __builtin_inff() : y;
  return x == x ? y : x;
}

}  // namespace fast_exp_detail

inline float fast_exp(float x) { return fast_exp_detail::body<float, uint32_t>(x); }

// fast_exp on each lane of a GCC float vector V (the register-tiled products' epilogues,
// block_gemm.h), bitwise equal to the scalar form.
template <class V>
inline V fast_exp_vec(V x) {
  typedef uint32_t U __attribute__((vector_size(sizeof(V))));
  return fast_exp_detail::body<V, U>(x);
}

inline double fast_exp(double x) { return __builtin_exp(x); }

}  // namespace memgrad::cpu
