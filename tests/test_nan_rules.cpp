// The scalar rules of backends/scalar_math.h, op by op on the CPU: NaN and infinity propagate as
// in PyTorch (max/min/relu/softmax/cross-entropy/layer_norm/dropout), integer arithmetic wraps
// and never traps, integer division by zero and float -> int conversions that do not fit are errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "autograd/ops.h"
#include "backends/backend.h"

using namespace memgrad;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<double> vals(const Tensor& t) { return contiguous(to(t, DType::float64)).to_vector<double>(); }

// A random float tensor (never zero) with x[pos] = value for each (pos, value).
Tensor with(const Shape& s, DType dt, std::vector<std::pair<int64_t, double>> set, uint64_t seed = 1) {
  Generator g(seed);
  std::vector<double> v = vals(randn(s, DType::float64, &g));
  for (auto [i, x] : set) v[static_cast<size_t>(i)] = x;
  return to(from_vector<double>(v, s), dt);
}

}  // namespace

TEST_CASE("relu, maximum, minimum, abs, comparisons and max/min reductions follow PyTorch for NaN and inf") {
  for (DType dt : {DType::float32, DType::float64}) {
    CAPTURE(to_string(dt));
    Tensor x = with({6}, dt, {{1, kNaN}, {2, kInf}, {3, -kInf}}).set_requires_grad();
    Tensor y = relu(x);
    std::vector<double> xv = vals(x), yv = vals(y);
    CHECK(std::isnan(yv[1]));  // relu(nan) = nan
    CHECK(yv[2] == kInf);
    CHECK(yv[3] == 0);
    for (size_t i : {0, 4, 5}) CHECK(yv[i] == std::max(xv[i], 0.0));
    // backward: PyTorch's threshold_backward passes the gradient wherever x > 0 is not false
    Tensor w = with({6}, dt, {}, 7);
    sum(y * w).backward();
    std::vector<double> g = vals(x.grad()), wv = vals(w);
    CHECK(g[1] == wv[1]);
    CHECK(g[2] == wv[2]);
    CHECK(g[3] == 0);

    Tensor a = with({4}, dt, {{0, kNaN}, {2, 1.0}}, 2), b = with({4}, dt, {{1, kNaN}, {2, kNaN}}, 3);
    for (const Tensor& m : {maximum(a, b), minimum(a, b), maximum(b, a), minimum(b, a)}) {
      std::vector<double> mv = vals(m);
      CHECK(std::isnan(mv[0]));
      CHECK(std::isnan(mv[1]));
      CHECK(std::isnan(mv[2]));
      CHECK(!std::isnan(mv[3]));
    }
    CHECK(std::isnan(vals(abs(a))[0]));
  }
  // comparisons follow IEEE
  {
    Tensor a = from_vector<float>({NAN, NAN, 1.0f, INFINITY, -INFINITY});
    Tensor b = from_vector<float>({NAN, 1.0f, NAN, INFINITY, 3.0f});
    CHECK(eq(a, b).to_vector<bool>() == std::vector<bool>{false, false, false, true, false});
    CHECK(ne(a, b).to_vector<bool>() == std::vector<bool>{true, true, true, false, true});
    CHECK(lt(a, b).to_vector<bool>() == std::vector<bool>{false, false, false, false, true});
    CHECK(le(a, b).to_vector<bool>() == std::vector<bool>{false, false, false, true, true});
    CHECK(gt(a, b).to_vector<bool>() == std::vector<bool>{false, false, false, false, false});
    CHECK(ge(a, b).to_vector<bool>() == std::vector<bool>{false, false, false, true, false});
  }
  // amax, amin, max, min and argmax propagate NaN; indices point at the first NaN
  {
    for (DType dt : {DType::float32, DType::float64}) {
      CAPTURE(to_string(dt));
      // [3, 5]: row 0 has NaNs at 1 and 3, row 1 has +inf at 2, row 2 is plain
      Tensor x = with({3, 5}, dt, {{1, kNaN}, {3, kNaN}, {7, kInf}}, 4);
      for (int64_t dim : {1, 0}) {
        CAPTURE(dim);
        Tensor xt = dim == 1 ? x : contiguous(transpose(x, 0, 1));  // the NaN row as a column too
        const int64_t red = dim == 1 ? 1 : 0;
        for (const Tensor& r : {amax(xt, {red}), amin(xt, {red}), max(xt, red).values, min(xt, red).values}) {
          std::vector<double> rv = vals(r);
          CHECK(std::isnan(rv[0]));
          CHECK(!std::isnan(rv[1]));
          CHECK(!std::isnan(rv[2]));
        }
        CHECK(vals(amax(xt, {red}))[1] == kInf);
        CHECK(max(xt, red).indices.to_vector<int64_t>()[0] == 1);
        CHECK(min(xt, red).indices.to_vector<int64_t>()[0] == 1);
        CHECK(argmax(xt, red).to_vector<int64_t>()[0] == 1);
        CHECK(argmax(xt, red).to_vector<int64_t>()[1] == 2);
      }
      CHECK(std::isnan(vals(amax(x))[0]));  // over all dims
      CHECK(std::isnan(vals(amin(x))[0]));
  }
  }
}

TEST_CASE("softmax and log_softmax: a row with NaN or +inf is NaN, an all -inf row is zeros, others untouched") {
  for (DType dt : {DType::float32, DType::float64}) {
    for (bool log : {false, true}) {
      CAPTURE(to_string(dt));
      CAPTURE(log);
      // rows: 0 NaN, 1 +inf, 2 all -inf, 3 some -inf, 4 plain; 7 columns (a vector tail and a remainder)
      std::vector<std::pair<int64_t, double>> set = {{3, kNaN}, {7 + 5, kInf}, {21 + 0, -kInf}, {21 + 4, -kInf}};
      for (int64_t c = 0; c < 7; ++c) set.push_back({14 + c, -kInf});
      Tensor x = with({5, 7}, dt, set, 5).set_requires_grad();
      Tensor y = log ? log_softmax(x, 1) : softmax(x, 1);
      std::vector<double> yv = vals(y);
      for (int64_t c = 0; c < 7; ++c) {
        CHECK(std::isnan(yv[c]));
        CHECK(std::isnan(yv[7 + c]));
        if (!log) CHECK(yv[14 + c] == 0);
        CHECK(!std::isnan(yv[21 + c]));
        CHECK(std::isfinite(yv[28 + c]));
      }
      if (!log) {
        double s3 = 0, s4 = 0;
        for (int64_t c = 0; c < 7; ++c) s3 += yv[21 + c], s4 += yv[28 + c];
        CHECK(s3 == doctest::Approx(1.0));
        CHECK(s4 == doctest::Approx(1.0));
        CHECK(yv[21 + 4] == 0);
      }
      // backward: NaN stays in the NaN rows
      Tensor w = with({5, 7}, dt, {}, 6);
      sum(y * w).backward();
      std::vector<double> g = vals(x.grad());
      for (int64_t c = 0; c < 7; ++c) {
        CHECK(std::isnan(g[c]));
        CHECK(std::isfinite(g[28 + c]));
        if (!log) CHECK(g[14 + c] == 0);
      }
    }
  }
  // huge and tiny finite values stay exact (the fast exp's clamps)
  {
    Tensor x = from_vector<float>({88.0f, 89.0f, -100.0f, -87.0f, 0.0f, 1e30f, -1e30f});
    std::vector<double> y = vals(softmax(reshape(x, {1, 7}), 1));
    CHECK(y[5] == 1);
    for (int i : {0, 1, 2, 3, 4, 6}) CHECK(y[i] == 0);
  }
}

TEST_CASE("cross_entropy, layer_norm and dropout keep NaN and inf in their own row") {
  for (DType dt : {DType::float32, DType::float64}) {
    CAPTURE(to_string(dt));
    Tensor logits = with({4, 5}, dt, {{2, kNaN}, {5 + 1, kInf}, {10 + 3, -kInf}}, 8);
    Tensor target = from_vector<int64_t>({0, 1, 2, 3});
    std::vector<double> l = vals(cross_entropy(logits, target, {.reduction = Reduction::none}));
    CHECK(std::isnan(l[0]));
    CHECK(std::isnan(l[1]));  // log_softmax of a row with +inf is NaN, as PyTorch
    CHECK(std::isfinite(l[2]));  // -inf on a non-target class is a zero probability
    CHECK(std::isfinite(l[3]));
    // with label smoothing every class counts: the -inf logit makes that row's loss +inf
    std::vector<double> ls =
        vals(cross_entropy(logits, target, {.reduction = Reduction::none, .label_smoothing = 0.1}));
    CHECK(ls[2] == kInf);
    CHECK(std::isfinite(ls[3]));
    Tensor ln = layer_norm(with({3, 6}, dt, {{6 + 2, kNaN}}, 9), Tensor(), Tensor());
    std::vector<double> lv = vals(ln);
    for (int64_t c = 0; c < 6; ++c) {
      CHECK(std::isfinite(lv[c]));
      CHECK(std::isnan(lv[6 + c]));
      CHECK(std::isfinite(lv[12 + c]));
    }
  }
  // dropout multiplies: NaN stays NaN whether kept or dropped
  {
    Tensor x = full({64}, kNaN, DType::float32);
    Generator g(3);
    for (double v : vals(dropout(x, 0.5, true, &g))) CHECK(std::isnan(v));
  }
}

TEST_CASE("integer arithmetic wraps in two's complement and never traps; division by zero is an error") {
  const int64_t lo64 = std::numeric_limits<int64_t>::min(), hi64 = std::numeric_limits<int64_t>::max();
  const int32_t lo32 = std::numeric_limits<int32_t>::min(), hi32 = std::numeric_limits<int32_t>::max();
  Tensor a = from_vector<int64_t>({lo64, hi64, lo64, 7, -7});
  Tensor b = from_vector<int64_t>({-1, 1, -1, -2, 2});
  CHECK((a / b).to_vector<int64_t>() == std::vector<int64_t>{lo64, hi64, lo64, -3, -3});  // INT64_MIN / -1
  CHECK((a + b).to_vector<int64_t>() == std::vector<int64_t>{hi64, lo64, hi64, 5, -5});
  CHECK((a - b).to_vector<int64_t>() == std::vector<int64_t>{lo64 + 1, hi64 - 1, lo64 + 1, 9, -9});
  CHECK((a * b).to_vector<int64_t>() == std::vector<int64_t>{lo64, hi64, lo64, -14, -14});
  CHECK((-a).to_vector<int64_t>() == std::vector<int64_t>{lo64, -hi64, lo64, -7, 7});
  CHECK(abs(a).to_vector<int64_t>() == std::vector<int64_t>{lo64, hi64, lo64, 7, 7});
  CHECK(sum(from_vector<int64_t>({hi64, 1, 5})).item<int64_t>() == lo64 + 5);
  Tensor c = from_vector<int32_t>({lo32, hi32, 65536});
  Tensor d = from_vector<int32_t>({-1, 1, 65536});
  CHECK((c / d).to_vector<int32_t>() == std::vector<int32_t>{lo32, hi32, 1});
  CHECK((c + d).to_vector<int32_t>() == std::vector<int32_t>{hi32, lo32, 131072});
  CHECK((c * d).to_vector<int32_t>() == std::vector<int32_t>{lo32, hi32, 0});  // 2^32 wraps to 0
  CHECK((-c).to_vector<int32_t>() == std::vector<int32_t>{lo32, -hi32, -65536});
  CHECK(abs(c).to_vector<int32_t>() == std::vector<int32_t>{lo32, hi32, 65536});
  // the scatter-adds of index_add and scatter_add wrap too
  Tensor dst = from_vector<int64_t>({hi64, 0});
  backend_for(Device::cpu()).index_add(dst, 0, from_vector<int64_t>({0, 0}), from_vector<int64_t>({1, 1}));
  CHECK(dst.to_vector<int64_t>() == std::vector<int64_t>{lo64 + 1, 0});
  backend_for(Device::cpu()).scatter_add(dst, 0, from_vector<int64_t>({1}), from_vector<int64_t>({lo64}));
  CHECK(dst.to_vector<int64_t>() == std::vector<int64_t>{lo64 + 1, lo64});
  // integer division by zero is an error naming the op
  {
    for (DType dt : {DType::int32, DType::int64}) {
      CAPTURE(to_string(dt));
      Tensor a = to(from_vector<int64_t>({5, -3, 8}), dt), b = to(from_vector<int64_t>({1, 0, 2}), dt);
      CHECK_THROWS_WITH_AS(a / b, doctest::Contains("[div] integer division by zero"), Error);
      CHECK_THROWS_WITH_AS(a / expand(to(from_vector<int64_t>({0}), dt), {3}), doctest::Contains("[div]"), Error);
  }
  }
}

TEST_CASE("integer pow is PyTorch's: exact, wrapping, negative exponents give 0 or +-1") {
  Tensor x = from_vector<int64_t>({2, 3, -2, 2, 1, -1, -1, 0, 5, 0, 7});
  Tensor e = from_vector<int64_t>({10, 40, 63, -1, -5, -3, -2, 0, 0, 3, std::numeric_limits<int64_t>::min()});
  // 3^40 mod 2^64, as int64
  uint64_t p = 1;
  for (int i = 0; i < 40; ++i) p *= 3;
  const int64_t p40 = static_cast<int64_t>(p);
  CHECK(pow(x, e).to_vector<int64_t>() ==
        std::vector<int64_t>{1024, p40, std::numeric_limits<int64_t>::min(), 0, 1, -1, 1, 1, 1, 0, 0});
  Tensor x32 = from_vector<int32_t>({2, 3, 0});
  Tensor e32 = from_vector<int32_t>({31, 21, -1});  // 2^31 and 3^21 wrap in 32 bits; 0^-1 = 0
  const int32_t p21 = static_cast<int32_t>(10460353203LL - (2LL << 32));  // 3^21 mod 2^32
  CHECK(pow(x32, e32).to_vector<int32_t>() == std::vector<int32_t>{std::numeric_limits<int32_t>::min(), p21, 0});
}

TEST_CASE("float to integer conversion truncates, and NaN, inf or out-of-range values are errors") {
  CHECK(to(from_vector<double>({2.9, -2.9, -0.5, 1e15}), DType::int64).to_vector<int64_t>() ==
        std::vector<int64_t>{2, -2, 0, 1000000000000000});
  CHECK(to(from_vector<double>({-2147483648.9, 2147483647.9}), DType::int32).to_vector<int32_t>() ==
        std::vector<int32_t>{std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()});
  CHECK(to(from_vector<float>({-9223372036854775808.0f}), DType::int64).item<int64_t>() ==
        std::numeric_limits<int64_t>::min());
  struct Bad {
    double v;
    DType dt;
  };
  for (Bad b : {Bad{kNaN, DType::int64}, Bad{kInf, DType::int64}, Bad{-kInf, DType::int32},
                Bad{9223372036854775808.0, DType::int64}, Bad{2147483648.0, DType::int32},
                Bad{-2147483649.0, DType::int32}, Bad{1e300, DType::int32}}) {
    CAPTURE(b.v);
    for (DType src : {DType::float32, DType::float64}) {
      if (src == DType::float32 && std::isfinite(b.v) && static_cast<double>(static_cast<float>(b.v)) != b.v)
        continue;  // not a float32 value
      Tensor t = to(from_vector<double>({1.0, b.v, 2.0}), src);
      CHECK_THROWS_WITH_AS(to(t, b.dt), doctest::Contains("[to] cannot convert"), Error);
      CHECK_THROWS_WITH_AS(to(t, b.dt), doctest::Contains("(element 1)"), Error);
    }
  }
  CHECK(to(from_vector<float>({NAN, 0.0f}), DType::boolean).to_vector<bool>() == std::vector<bool>{true, false});
  // filling an integer tensor with a value it cannot hold is an error too
  CHECK_THROWS_WITH_AS(full({3}, kNaN, DType::int64), doctest::Contains("[fill] cannot fill a int64 tensor with nan"),
                       Error);
  CHECK_THROWS_WITH_AS(full({3}, 1e10, DType::int32), doctest::Contains("[fill]"), Error);
  CHECK(full({2}, -2147483648.0, DType::int32).to_vector<int32_t>()[0] == std::numeric_limits<int32_t>::min());
  CHECK_THROWS_WITH_AS(masked_fill(from_vector<int64_t>({1, 2}), from_vector<bool>({true, false}), -kInf),
                       doctest::Contains("[fill]"), Error);
}
