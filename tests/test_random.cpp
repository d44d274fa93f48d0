// The counter-based generator and the random ops: reproducible streams and sane distributions.
// (The op table, tests/op_table.h, checks their shapes, dtypes, ranges and errors.)
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/ops.h"
#include "ops_test_util.h"

using namespace memgrad;
using namespace memgrad::optest;

TEST_CASE("philox matches the Random123 known-answer vectors") {
  // From Random123's kat_vectors for philox4x32_10.
  auto r = philox4x32({0, 0, 0, 0}, {0, 0});
  CHECK(r == std::array<uint32_t, 4>{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
  auto s = philox4x32({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu});
  CHECK(s == std::array<uint32_t, 4>{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
}

TEST_CASE("same seed, same numbers; different seed, different numbers") {
  manual_seed(42);
  auto a = randn({1000}).to_vector<float>();
  auto b = rand({7}).to_vector<float>();
  manual_seed(42);
  CHECK(randn({1000}).to_vector<float>() == a);
  CHECK(rand({7}).to_vector<float>() == b);
  manual_seed(43);
  CHECK(randn({1000}).to_vector<float>() != a);

  Generator g1(7), g2(7);
  CHECK(rand({33}, DType::float64, &g1).to_vector<double>() == rand({33}, DType::float64, &g2).to_vector<double>());
  CHECK(g1.offset() == 9);  // 33 elements use ceil(33/4) counters
}

TEST_CASE("a draw does not depend on how it is split") {
  // element i uses counter offset + i/4, so one draw of 8 equals two draws of 4
  Generator g1(5), g2(5);
  auto whole = rand({8}, DType::float32, &g1).to_vector<float>();
  auto first = rand({4}, DType::float32, &g2).to_vector<float>();
  auto second = rand({4}, DType::float32, &g2).to_vector<float>();
  first.insert(first.end(), second.begin(), second.end());
  CHECK(whole == first);
}

TEST_CASE("distributions have the right moments") {
  Generator g(1);
  auto u = rand({200000}, DType::float64, &g, -1, 3).to_vector<double>();
  double mu = 0, lo = 1e9, hi = -1e9;
  for (double v : u) mu += v, lo = std::min(lo, v), hi = std::max(hi, v);
  mu /= u.size();
  CHECK(mu == doctest::Approx(1.0).epsilon(0.01));
  CHECK(lo >= -1);
  CHECK(hi < 3);
  auto n = randn({200000}, DType::float64, &g, 2, 0.5).to_vector<double>();
  double m = 0, var = 0;
  for (double v : n) m += v;
  m /= n.size();
  for (double v : n) var += (v - m) * (v - m);
  var /= n.size();
  CHECK(m == doctest::Approx(2.0).epsilon(0.005));
  CHECK(std::sqrt(var) == doctest::Approx(0.5).epsilon(0.01));
  auto k = randint(-3, 4, {10000}, DType::int64, &g).to_vector<int64_t>();
  std::array<int, 7> counts{};
  for (int64_t v : k) {
    REQUIRE(v >= -3);
    REQUIRE(v < 4);
    counts[v + 3]++;
  }
  for (int c : counts) CHECK(c > 1200);  // each of 7 values ~1428 times
}

TEST_CASE("rand and randn in float32 and float64: seeded, in range, with the right moments") {
  for (DType dt : kFloats) {
    Generator g1(42), g2(42);
    Tensor a = rand({4000}, dt, &g1, -2.0, 3.0), b = rand({4000}, dt, &g2, -2.0, 3.0);
    CHECK(vals(a) == vals(b));                                       // reproducible
    CHECK(vals(rand({4000}, dt, &g1, -2.0, 3.0)) != vals(a));        // the generator advanced
    Vec v = vals(a);
    double lo = *std::min_element(v.begin(), v.end()), hi = *std::max_element(v.begin(), v.end());
    CHECK(lo >= -2.0);
    CHECK(hi < 3.0);
    CHECK(lo < -1.9);
    CHECK(hi > 2.9);
    double m = 0;
    for (double x : v) m += x / v.size();
    CHECK(m == doctest::Approx(0.5).epsilon(0.1));
    Tensor n = randn({4000}, dt, &g1, 1.0, 2.0);
    Vec nv = vals(n);
    double mean_n = 0, var_n = 0;
    for (double x : nv) mean_n += x / nv.size();
    for (double x : nv) var_n += (x - mean_n) * (x - mean_n) / nv.size();
    CHECK(std::abs(mean_n - 1.0) < 0.15);
    CHECK(std::abs(std::sqrt(var_n) - 2.0) < 0.15);
  }
  }

TEST_CASE("randint in int32 and int64 stays in [low, high) and hits every value") {
  for (DType dt : kInts)
    for (auto [lo, hi] : {std::pair<int64_t, int64_t>{0, 5}, {-3, 4}, {-10, -7}, {7, 8}}) {
      CAPTURE(to_string(dt));
      CAPTURE(lo);
      CAPTURE(hi);
      Generator g(3), g2(3);
      Tensor t = randint(lo, hi, {2000}, dt, &g);
      CHECK(t.dtype() == dt);
      CHECK(t.shape() == Shape{2000});
      Vec v = vals(t);
      std::vector<int> seen(static_cast<size_t>(hi - lo), 0);
      bool in_range = true;
      for (double x : v) {
        in_range &= x >= lo && x < hi && x == std::floor(x);
        if (x >= lo && x < hi) seen[static_cast<size_t>(x - lo)]++;
      }
      CHECK(in_range);
      for (int c : seen) CHECK(c > 0);
      CHECK(vals(randint(lo, hi, {2000}, dt, &g2)) == v);
    }
}

TEST_CASE("rand and randint never return high, even where rounding reaches it") {
  // seed 0, Philox counter 17758991: word 0 is 121, so u = 1 - 122 / 2^32, which rounds to 1.0f
  Generator g(0);
  g.set_state(0, 17758991);
  float first = rand({4}, DType::float32, &g, 0.0, 1.0).at<float>({0});
  CHECK(first < 1.0f);
  CHECK(first > 0.9999f);
  g.set_state(0, 17758991);
  CHECK(rand({4}, DType::float64, &g, 0.0, 1.0).at<double>({0}) < 1.0);
  // a large low: low + (high - low) u rounds up to high in double for u close to 1
  const int64_t lo = int64_t{1} << 45;
  Generator g2(1);
  Vec v = vals(randint(lo, lo + 2, {100000}, DType::int64, &g2));
  int64_t out_of_range = 0;
  for (double x : v) out_of_range += x < static_cast<double>(lo) || x >= static_cast<double>(lo + 2);
  CHECK(out_of_range == 0);
}

TEST_CASE("dropout: seeded masks, about 1 - p kept, kept values scaled by 1 / (1 - p)") {
  const double p = 0.3;
  Tensor x = rnd({100, 100}, DType::float32, 11);
  Vec xv = vals(x);
  SUBCASE("seeded reproducibility") {
    Generator g1(7), g2(7), g3(8);
    Vec a1 = vals(dropout(x, p, true, &g1));
    CHECK(vals(dropout(x, p, true, &g2)) == a1);
    CHECK(vals(dropout(x, p, true, &g1)) != a1);  // the generator advanced
    CHECK(vals(dropout(x, p, true, &g3)) != a1);  // another seed
    g2.set_state(7, 0);
    CHECK(vals(dropout(x, p, true, &g2)) == a1);  // reset to the same state: the same mask
    manual_seed(123);
    Vec a = vals(dropout(x, p));
    manual_seed(123);
    CHECK(vals(dropout(x, p)) == a);
  }
  SUBCASE("about 1 - p kept, kept values scaled by 1 / (1 - p)") {
    for (DType dt : kFloats) {
      Generator g(8);
      Tensor xd = to(x, dt);
      Vec y = vals(dropout(xd, p, true, &g));
      int64_t kept = 0;
      bool scaled = true;
      for (size_t i = 0; i < y.size(); ++i) {
        if (y[i] == 0) continue;
        ++kept;
        scaled &= std::abs(y[i] - xv[i] / (1 - p)) <= 1e-5 * std::abs(xv[i]) + 1e-6;
      }
      CHECK(scaled);
      double frac = static_cast<double>(kept) / y.size();  // std of the fraction: 0.0046
      CHECK(frac == doctest::Approx(1 - p).epsilon(0.03));
    }
  }
}
