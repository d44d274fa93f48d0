// The counter-based generator: reproducible streams and sane distributions.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/ops.h"

using namespace memgrad;

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
