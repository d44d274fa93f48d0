// Forward values of creation ops (factories, rand/randn/randint), copies and dtype conversions,
// and the view ops, against hand-computed expectations.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/ops.h"
#include "ops_test_util.h"

using namespace memgrad;
using namespace memgrad::optest;

// ---- creation ----------------------------------------------------------------------------------

TEST_CASE("ops forward: factories") {
  CHECK(vals(zeros({2, 3})) == Vec(6, 0.0));
  CHECK(vals(ones({2, 2}, DType::int32)) == Vec(4, 1.0));
  CHECK(ones({2, 2}, DType::int32).dtype() == DType::int32);
  CHECK(vals(full({3}, 2.5, DType::float64)) == Vec(3, 2.5));
  Tensor like = rnd({2, 4}, DType::float64, 20);
  CHECK(zeros_like(like).shape() == like.shape());
  CHECK(zeros_like(like).dtype() == DType::float64);
  CHECK(vals(ones_like(like)) == Vec(8, 1.0));
  CHECK(vals(full_like(like, -3.0)) == Vec(8, -3.0));
  CHECK(empty_like(like).shape() == like.shape());
  Tensor s = scalar(1.5);
  CHECK(s.dim() == 0);
  CHECK(s.item<float>() == 1.5f);
  CHECK(vals(arange(5)) == Vec{0, 1, 2, 3, 4});
  CHECK(arange(5).dtype() == DType::int64);
  CHECK(vals(arange(1, 2, 0.25, DType::float64)) == Vec{1, 1.25, 1.5, 1.75});
  CHECK(vals(arange(5, 0, -2, DType::int32)) == Vec{5, 3, 1});
  CHECK(arange(3, 3).numel() == 0);
  Tensor fv = from_vector<int32_t>({1, 2, 3, 4, 5, 6}, {3, 2});
  CHECK(fv.shape() == Shape{3, 2});
  CHECK(fv.at<int32_t>({2, 0}) == 5);
  CHECK(from_vector<double>({1, 2, 3}).shape() == Shape{3});
  CHECK_THROWS_AS(from_vector<float>({1, 2, 3}, {2, 2}), Error);
}

TEST_CASE("ops forward: rand and randn are seeded and have the right range and moments") {
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
  CHECK_THROWS_AS(rand({2}, DType::int64), Error);
  CHECK_THROWS_AS(rand({2}, DType::float32, nullptr, 1.0, 1.0), Error);
}

TEST_CASE("ops forward: randint stays in [low, high) and hits every value") {
  for (DType dt : kInts)
    for (auto range : {std::pair<int64_t, int64_t>{0, 5}, {-3, 4}, {-10, -7}, {7, 8}}) {  // not a structured binding: clang < 16 cannot capture one
      const int64_t lo = range.first, hi = range.second;
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
  CHECK_THROWS_AS(randint(3, 3, {2}), Error);
  CHECK_THROWS_AS(randint(0, 3, {2}, DType::float32), Error);
}

TEST_CASE("ops forward: rand and randint never return high, even where rounding reaches it") {
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

// ---- copies, conversions and views ---------------------------------------------------------------

TEST_CASE("ops forward: to(dtype), clone, contiguous, detach") {
  Tensor f = from_vector<float>({-1.75f, -0.5f, 0.0f, 0.5f, 2.9f, 3.0f}, {2, 3});
  Tensor d = to(f, DType::float64);
  CHECK(d.dtype() == DType::float64);
  CHECK(vals(d) == vals(f));
  CHECK(vals(to(d, DType::float32)) == vals(f));
  CHECK(vals(to(f, DType::int64)) == Vec{-1, 0, 0, 0, 2, 3});  // truncation toward zero
  CHECK(vals(to(f, DType::int32)) == Vec{-1, 0, 0, 0, 2, 3});
  CHECK(vals(to(f, DType::boolean)) == Vec{1, 1, 0, 1, 1, 1});
  CHECK(vals(to(from_vector<int64_t>({-3, 0, 5}), DType::float32)) == Vec{-3, 0, 5});
  CHECK(vals(to(from_vector<bool>({true, false}), DType::float64)) == Vec{1, 0});
  CHECK(vals(to(transpose(f, 0, 1), DType::float64)) == vals(transpose(f, 0, 1)));
  CHECK(to(f, DType::float32).shares_storage(f));  // same dtype: no copy

  Tensor t = transpose(f, 0, 1);
  Tensor c = contiguous(t);
  CHECK(c.is_contiguous());
  CHECK_FALSE(c.shares_storage(f));
  CHECK(vals(c) == vals(t));
  CHECK(contiguous(f).shares_storage(f));
  Tensor k = clone(f);
  CHECK_FALSE(k.shares_storage(f));
  CHECK(vals(k) == vals(f));
  Tensor x = rnd({3}, DType::float64, 21).set_requires_grad();
  Tensor y = detach(x * 2.0);
  CHECK_FALSE(y.requires_grad());
  CHECK(y.is_leaf());
}

TEST_CASE("ops forward: view ops select the right elements") {
  Tensor x = arange(24, DType::float32);  // values equal their linear index
  Tensor x3 = reshape(x, {2, 3, 4});
  CHECK(x3.shares_storage(x));
  CHECK(reshape(x, {4, -1}).shape() == Shape{4, 6});
  CHECK(view(x3, {6, 4}).shape() == Shape{6, 4});
  CHECK(flatten(x3).shape() == Shape{24});
  CHECK(flatten(x3, 1).shape() == Shape{2, 12});
  CHECK(flatten(x3, 0, 1).shape() == Shape{6, 4});
  CHECK(vals(flatten(x3, 1)) == vals(x));
  // transpose / permute: element (i, j, k) of permute(x3, {2, 0, 1}) is x3[j, k, i]
  Tensor p = permute(x3, {2, 0, 1});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(p.at<float>({3, 1, 2}) == 1 * 12 + 2 * 4 + 3);
  CHECK(transpose(x3, 0, 2).at<float>({3, 1, 0}) == 0 * 12 + 1 * 4 + 3);
  // a reshape of a non-contiguous view copies, view refuses
  CHECK(reshape(p, {4, 6}).shares_storage(x));  // dims 1 and 2 of p are still one contiguous run
  Tensor pr = reshape(p, {24});
  CHECK_FALSE(pr.shares_storage(x));
  CHECK(vals(pr) == vals(contiguous(p)));
  CHECK_THROWS_AS(view(p, {24}), Error);
  // narrow, slice with steps and python-style bounds, select
  CHECK(vals(narrow(x3, 2, 1, 2)) == Vec{1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22});
  CHECK(vals(slice(x, 0, 1, 10, 3)) == Vec{1, 4, 7});
  CHECK(vals(slice(x, 0, -5, 100, 2)) == Vec{19, 21, 23});
  CHECK(slice(x, 0, 5, 2).numel() == 0);
  CHECK(vals(slice(x3, 1, 0, 3, 2)) == Vec{0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 20, 21, 22, 23});
  CHECK(vals(select(x3, 1, -1)) == Vec{8, 9, 10, 11, 20, 21, 22, 23});
  CHECK(select(x3, 0, 1).shape() == Shape{3, 4});
  CHECK_THROWS_AS(select(x3, 1, 3), Error);
  CHECK_THROWS_AS(select(scalar(1.0), 0, 0), Error);  // 0-d inputs: errors, not out-of-bounds reads
  CHECK_THROWS_AS(narrow(scalar(1.0), 0, 0, 1), Error);
  CHECK_THROWS_AS(slice(scalar(1.0), 0, 0, 1), Error);
  CHECK_THROWS_AS(narrow(x3, 2, 3, 2), Error);
  // expand, squeeze, unsqueeze
  Tensor col = reshape(arange(3, DType::float32), {3, 1});
  Tensor e = expand(col, {2, 3, 4});
  CHECK(e.shape() == Shape{2, 3, 4});
  CHECK(e.at<float>({1, 2, 3}) == 2);
  CHECK(expand(col, {-1, 5}).shape() == Shape{3, 5});
  CHECK_THROWS_AS(expand(col, {4, 4}), Error);
  Tensor u = unsqueeze(x3, 1);
  CHECK(u.shape() == Shape{2, 1, 3, 4});
  CHECK(unsqueeze(x3, -1).shape() == Shape{2, 3, 4, 1});
  CHECK(squeeze(u).shape() == Shape{2, 3, 4});
  CHECK(squeeze(u, 1).shape() == Shape{2, 3, 4});
  CHECK(squeeze(u, 0).shape() == Shape{2, 1, 3, 4});  // not size 1: unchanged
  CHECK(vals(squeeze(unsqueeze(p, 0))) == vals(p));
  CHECK(sum_to(ones({2, 3, 4}), {3, 1}).shape() == Shape{3, 1});
  CHECK(vals(sum_to(ones({2, 3, 4}), {3, 1})) == Vec{8, 8, 8});
}
