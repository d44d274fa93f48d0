#pragma once
// Helpers shared by the op test suites (tests/test_ops_*.cpp): values as doubles, seeded random
// inputs, closeness checks that name the first mismatch, and index arithmetic for references.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "autograd/ops.h"

namespace memgrad::optest {

using Vec = std::vector<double>;

// Any tensor's values as doubles, row-major.
inline Vec vals(const Tensor& t) {
  return dispatch_all(t.dtype(), "vals", [&]<class T>() {
    Vec out;
    for (T v : t.to_vector<T>()) out.push_back(static_cast<double>(v));
    return out;
  });
}

inline double tol(DType t) { return t == DType::float64 ? 1e-10 : 1e-5; }

// Empty when got matches ref elementwise within atol + rtol*|ref|; else names the first mismatch.
inline std::string mismatch(const Vec& got, const Vec& ref, double rtol, double atol) {
  if (got.size() != ref.size()) return fmt::format("{} values, reference has {}", got.size(), ref.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] == ref[i] || (std::isnan(got[i]) && std::isnan(ref[i]))) continue;  // also equal infinities
    if (!(std::abs(got[i] - ref[i]) <= atol + rtol * std::abs(ref[i])))
      return fmt::format("element {}: got {:.12g}, expected {:.12g}", i, got[i], ref[i]);
  }
  return "";
}

// Seeded random tensors, never all zero.
inline Tensor rnd(const Shape& s, DType dt, uint64_t seed) {
  Generator g(seed);
  if (is_floating(dt)) return randn(s, dt, &g);
  return randint(-5, 6, s, dt, &g);
}
inline Tensor positive(const Shape& s, DType dt, uint64_t seed) {
  Generator g(seed);
  return rand(s, dt, &g, 0.5, 2.0);
}

inline std::vector<int64_t> unravel(int64_t i, const Shape& s) {
  std::vector<int64_t> idx(s.size());
  for (size_t d = s.size(); d-- > 0;) idx[d] = i % s[d], i /= s[d];
  return idx;
}

// Linear index into a tensor of shape s broadcast (numpy rules) to the multi-index idx.
inline int64_t bcast_index(const std::vector<int64_t>& idx, const Shape& s) {
  int64_t lin = 0;
  size_t lead = idx.size() - s.size();
  for (size_t d = 0; d < s.size(); ++d) lin = lin * s[d] + (s[d] == 1 ? 0 : idx[lead + d]);
  return lin;
}

inline Shape bshape(const Shape& a, const Shape& b) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    out[i] = da == 1 ? db : da;
  }
  return out;
}

inline Vec ref_binary(const Tensor& a, const Tensor& b, const std::function<double(double, double)>& f) {
  Vec va = vals(a), vb = vals(b), out;
  Shape s = bshape(a.shape(), b.shape());
  for (int64_t i = 0; i < numel(s); ++i) {
    auto idx = unravel(i, s);
    out.push_back(f(va[bcast_index(idx, a.shape())], vb[bcast_index(idx, b.shape())]));
  }
  return out;
}

inline Vec ref_unary(const Tensor& a, const std::function<double(double)>& f) {
  Vec out;
  for (double v : vals(a)) out.push_back(f(v));
  return out;
}

// ---- for gradient checks ----

// t as a leaf that requires grad (t must have no history: a fresh tensor or a view of one).
inline Tensor leaf(Tensor t) {
  t.set_requires_grad();
  return t;
}
// Random float64 tensors from an explicit generator: raw64 without grad, randn64 a leaf.
inline Tensor raw64(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return randn(s, DType::float64, &g);
}
inline Tensor randn64(const Shape& s, uint64_t seed) { return leaf(raw64(s, seed)); }
inline Tensor pos64(const Shape& s, uint64_t seed) {  // in [0.5, 2)
  Generator g(seed);
  return leaf(rand(s, DType::float64, &g, 0.5, 2.0));
}
inline Tensor away_from_zero64(const Shape& s, uint64_t seed) {  // |x| >= 0.2: away from kinks at 0
  Generator g(seed);
  Tensor x = randn(s, DType::float64, &g);
  return leaf(where(gt(x, scalar(0.0, DType::float64)), x + 0.2, x - 0.2));
}
// A one-output function for gradcheck.
inline TensorFn fn1(std::function<Tensor(const std::vector<Tensor>&)> f) {
  return [f = std::move(f)](const std::vector<Tensor>& x) { return std::vector<Tensor>{f(x)}; };
}

inline const std::vector<DType> kFloats = {DType::float32, DType::float64};
inline const std::vector<DType> kInts = {DType::int32, DType::int64};

}  // namespace memgrad::optest

// Checks a tensor's values against a reference vector (atol = rtol = tolerance).
#define CHECK_VALUES(t, ref, tolerance)                                                                   \
  do {                                                                                                  \
    std::string m_ = ::memgrad::optest::mismatch(::memgrad::optest::vals(t), (ref), (tolerance), (tolerance)); \
    INFO(m_);                                                                                           \
    CHECK(m_.empty());                                                                                  \
  } while (0)

// gradcheck(args...) must pass; the failure output names the first mismatching element.
#define CHECK_GRAD(...)                                                   \
  do {                                                                    \
    ::memgrad::GradcheckResult r_ = ::memgrad::gradcheck(__VA_ARGS__);    \
    INFO(r_.message);                                                     \
    CHECK(r_.ok);                                                         \
  } while (0)
