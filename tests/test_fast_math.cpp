// The vectorised float32 erf and GELU of backends/cpu/fast_math.h against double precision:
// a dense sweep of [-10, 10], the special values, and the float64 overloads (std::erf itself).
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "backends/cpu/fast_math.h"

using namespace memgrad::cpu;

namespace {

// The spacing of floats at |ref| (the smaller one at a power of two): one ulp of the exact value.
double ulp_at(double ref) {
  const float a = std::fabs(static_cast<float>(ref));
  if (a == 0) return std::numeric_limits<float>::denorm_min();
  const float down = a - std::nextafter(a, 0.0f), up = std::nextafter(a, INFINITY) - a;
  return std::min(down, up);
}

// Every `stride`-th float of [0, hi], both signs, plus hi itself.
std::vector<float> sweep(float hi, uint32_t stride) {
  std::vector<float> xs;
  const uint32_t top = std::bit_cast<uint32_t>(hi);
  for (uint32_t b = 0; b <= top; b += stride) xs.push_back(std::bit_cast<float>(b)), xs.push_back(-std::bit_cast<float>(b));
  xs.push_back(hi), xs.push_back(-hi);
  return xs;
}

// The largest error of f against ref over xs, in ulp of ref, over those x with |ref(x)| >= floor.
template <class F, class R>
double max_ulp(const std::vector<float>& xs, F f, R ref, double floor, float* worst_x) {
  std::vector<float> y(xs.size());
#pragma omp simd
  for (size_t i = 0; i < xs.size(); ++i) y[i] = f(xs[i]);  // the vectorised form, as the kernels run it
  double worst = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const double r = ref(static_cast<double>(xs[i]));
    if (std::fabs(r) < floor) continue;
    const double e = std::fabs(y[i] - r) / ulp_at(r);
    if (e > worst) worst = e, *worst_x = xs[i];
  }
  return worst;
}

double normal_cdf_ref(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

}  // namespace

TEST_CASE("fast_erf(float) is within 2 ulp of double erf over [-10, 10]") {
  float at = 0;
  // every 61st float of [0, 10] (17.9 million of them, each sign): the sweep covers the denormals,
  // both polynomial pieces, their seam at 0.9375 and the saturation at 3.92
  const double e = max_ulp(sweep(10.0f, 61), [](float x) { return fast_erf(x); },
                           [](double x) { return std::erf(x); }, 0.0, &at);
  MESSAGE("fast_erf: max error " << e << " ulp at x = " << at);
  CHECK(e <= 2.0);
  // the seam itself, densely
  std::vector<float> seam;
  for (float x = 0.93f; x < 0.945f; x = std::nextafter(x, 1.0f)) seam.push_back(x), seam.push_back(-x);
  CHECK(max_ulp(seam, [](float x) { return fast_erf(x); }, [](double x) { return std::erf(x); }, 0.0, &at) <= 2.0);
}

TEST_CASE("fast_erf(float) special values: NaN, +-inf, +-0, denormals, saturation") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  CHECK(std::isnan(fast_erf(nan)));
  CHECK(std::isnan(fast_erf(-nan)));
  CHECK(fast_erf(inf) == 1.0f);
  CHECK(fast_erf(-inf) == -1.0f);
  CHECK(fast_erf(std::numeric_limits<float>::max()) == 1.0f);
  CHECK(fast_erf(-std::numeric_limits<float>::max()) == -1.0f);
  CHECK((fast_erf(0.0f) == 0.0f && !std::signbit(fast_erf(0.0f))));
  CHECK((fast_erf(-0.0f) == 0.0f && std::signbit(fast_erf(-0.0f))));
  for (float d : {std::numeric_limits<float>::denorm_min(), 3e-42f, 1e-39f, std::numeric_limits<float>::min()}) {
    const double r = std::erf(static_cast<double>(d));
    CHECK(std::fabs(fast_erf(d) - r) <= ulp_at(r));
    CHECK(std::fabs(fast_erf(-d) + r) <= ulp_at(r));
  }
  CHECK(fast_erf(3.95f) == 1.0f);  // erfc(3.95) < 2^-25: rounds to 1
  CHECK(fast_erf(3.9f) < 1.0f);    // erfc(3.9) = 3.5e-8 > 2^-25: one ulp below
  CHECK(fast_erf(1e30f) == 1.0f);
}

TEST_CASE("float64 keeps libm: std::erf, and Phi from std::erfc") {
  for (double x : {-3.0, -0.5, 0.0, 1e-300, 0.7, 2.5, 6.0}) CHECK(fast_erf(x) == std::erf(x));
  for (double x : {-9.0, -1.5, 0.0, 1.5})
    CHECK(std::fabs(gelu_value(x) - 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)))) <= 1e-16 * (1 + std::fabs(x)));
  const double tail = -9.0 * 0.5 * std::erfc(9.0 / std::sqrt(2.0));  // -1e-19: 1 + erf would give 0
  CHECK(std::fabs(gelu_value(-9.0) - tail) <= 1e-13 * std::fabs(tail));
}

TEST_CASE("GELU (float): x Phi(x) and its derivative against double") {
  float at = 0;
  const std::vector<float> xs = sweep(10.0f, 97);
  std::vector<float> upper, lower;  // x >= -1.32 (erf's polynomial piece, or the upper tail); below
  for (float x : xs) (x >= -1.32f ? upper : lower).push_back(x);
  const double e_cdf = max_ulp(upper, [](float x) { return normal_cdf(x); }, normal_cdf_ref, 0.0, &at);
  MESSAGE("normal_cdf on [-1.32, 10]: max error " << e_cdf << " ulp at x = " << at);
  CHECK(e_cdf <= 8.0);  // measured 4.2 (-march=native, FMA) and 4.8 ulp (x86-64 without FMA)
  const double e_gelu = max_ulp(upper, [](float x) { return gelu_value(x); },
                                [](double x) { return x * normal_cdf_ref(x); }, 0.0, &at);
  MESSAGE("gelu on [-1.32, 10]: max error " << e_gelu << " ulp at x = " << at);
  CHECK(e_gelu <= 8.0);  // 5.3 and 6.4 ulp
  // The lower tail Phi = erfc / 2 = exp(Q) / 2 with Q down to -16 rounded in float: a relative
  // error of about |Q| ulp (the usual 0.5 (1 + erf) has 2.6e-4 at x = -3.9 and nothing past -5.5).
  double worst_tail = 0;
  for (float x : lower) {
    if (x < -5.6f) continue;
    const double r = x * normal_cdf_ref(x);
    if (std::fabs(gelu_value(x) - r) / std::fabs(r) > worst_tail) worst_tail = std::fabs(gelu_value(x) - r) / std::fabs(r), at = x;
  }
  MESSAGE("gelu on [-5.6, -1.32]: max relative error " << worst_tail << " at x = " << at);
  CHECK(worst_tail <= 4e-6);  // 2.9e-6 with and without FMA
  // past x = -5.66 Phi < 7.7e-9 is taken as 0; gelu is -0 or within 4.4e-8 of it
  for (float x : {-5.7f, -6.0f, -20.0f, -1e30f}) CHECK(std::fabs(gelu_value(x) - x * normal_cdf_ref(x)) <= 4.4e-8);

  // the derivative Phi(x) + x phi(x) (values in [-0.17, 1.13]), absolute error
  double worst_grad = 0;
  for (float x : xs) {
    const double xd = x, r = normal_cdf_ref(xd) + xd * std::exp(-0.5 * xd * xd) / std::sqrt(2 * M_PI);
    if (std::fabs(gelu_grad(x, 1.0f) - r) > worst_grad) worst_grad = std::fabs(gelu_grad(x, 1.0f) - r), at = x;
  }
  MESSAGE("gelu derivative on [-10, 10]: max absolute error " << worst_grad << " at x = " << at);
  CHECK(worst_grad <= 2.5e-7);
}

TEST_CASE("GELU (float) special values follow the formula: NaN propagates, gelu(inf) = inf") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  CHECK(std::isnan(gelu_value(nan)));
  CHECK(std::isnan(gelu_grad(nan, 1.0f)));
  CHECK(std::isnan(gelu_grad(0.5f, nan)));
  CHECK(gelu_value(inf) == inf);
  CHECK(gelu_value(0.0f) == 0.0f);
  CHECK(gelu_grad(0.0f, 2.0f) == 1.0f);  // Phi(0) = 1/2
  CHECK(gelu_grad(30.0f, 3.0f) == 3.0f);
  CHECK(gelu_grad(-30.0f, 3.0f) == 0.0f);
}

// fast_exp (backends/cpu/fast_exp.h), the exp of softmax, cross-entropy and the attention kernels.
TEST_CASE("fast_exp(float) is within 1e-7 relative of double exp over [-86.64, 88.72]") {
  std::vector<float> xs;
  for (float x = -86.64f; x <= 88.72f; x += 0.000731f) xs.push_back(x);
  for (float x : {0.0f, -0.0f, 1e-30f, -1e-30f, 0.34657359f, -0.34657359f, 88.7228f, -86.6399f}) xs.push_back(x);
  std::vector<float> y(xs.size());
#pragma omp simd
  for (size_t i = 0; i < xs.size(); ++i) y[i] = fast_exp(xs[i]);  // the vectorised form, as the kernels run it
  double worst = 0;
  float worst_x = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const double r = std::exp(static_cast<double>(xs[i]));
    const double e = std::fabs(y[i] - r) / r;
    if (e > worst) worst = e, worst_x = xs[i];
  }
  INFO("worst at x = " << worst_x);
  CHECK(worst < 1e-7);
}

TEST_CASE("fast_exp(float) edges: 0 below -86.64 and at -inf, inf above 88.72, NaN propagates") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> xs = {-inf, -1e30f, -1000.0f, -86.7f, inf, 1e30f, 1000.0f, 88.73f, nan, -nan,
                           std::bit_cast<float>(0x7fa12345u), std::bit_cast<float>(0xffc00001u)};
  std::vector<float> y(xs.size());
#pragma omp simd
  for (size_t i = 0; i < xs.size(); ++i) y[i] = fast_exp(xs[i]);
  for (size_t i = 0; i < 4; ++i) CHECK(y[i] == 0.0f);
  for (size_t i = 4; i < 8; ++i) CHECK(y[i] == inf);
  for (size_t i = 8; i < xs.size(); ++i) CHECK(std::isnan(y[i]));
  CHECK(fast_exp(0.0f) == 1.0f);
}

TEST_CASE("fast_exp_vec equals fast_exp bitwise on every lane") {
  using V = float __attribute__((vector_size(32)));
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> xs = {-inf, -100.0f, -86.7f, -86.6f, -20.0f, -1.5f, -0.0f, 0.0f, 1e-8f, 0.7f, 10.0f, 88.7f, 88.8f, inf, nan};
  for (float x = -90.0f; x < 90.0f; x += 0.0371f) xs.push_back(x);
  while (xs.size() % 8) xs.push_back(0.5f);
  for (size_t i = 0; i < xs.size(); i += 8) {
    V v;
    std::memcpy(&v, xs.data() + i, sizeof v);
    const V y = fast_exp_vec(v);
    for (int l = 0; l < 8; ++l) {
      const float want = fast_exp(xs[i + l]);
      INFO("x = " << xs[i + l]);
      CHECK(std::bit_cast<uint32_t>(y[l]) == std::bit_cast<uint32_t>(want));
    }
  }
}
