// Forward values of the core ops against naive references computed in double in the test:
// elementwise ops and broadcasting, comparisons and logic, reductions, matmul.
// (factories, conversions, views: test_ops_forward_tensor.cpp; nn ops: test_ops_forward_nn.cpp)
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "ops_test_util.h"

using namespace memgrad;
using namespace memgrad::optest;

// ---- elementwise -----------------------------------------------------------------------------

TEST_CASE("ops forward: unary float ops match std:: references, contiguous and strided") {
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&)> op;
    std::function<double(double)> ref;
    bool positive_only;
  };
  std::vector<Case> cases = {
      {"neg", [](const Tensor& t) { return neg(t); }, [](double v) { return -v; }, false},
      {"operator-", [](const Tensor& t) { return -t; }, [](double v) { return -v; }, false},
      {"exp", [](const Tensor& t) { return exp(t); }, [](double v) { return std::exp(v); }, false},
      {"log", [](const Tensor& t) { return log(t); }, [](double v) { return std::log(v); }, true},
      {"sqrt", [](const Tensor& t) { return sqrt(t); }, [](double v) { return std::sqrt(v); }, true},
      {"tanh", [](const Tensor& t) { return tanh(t); }, [](double v) { return std::tanh(v); }, false},
      {"sigmoid", [](const Tensor& t) { return sigmoid(t); }, [](double v) { return 1 / (1 + std::exp(-v)); }, false},
      {"relu", [](const Tensor& t) { return relu(t); }, [](double v) { return v > 0 ? v : 0; }, false},
      {"gelu", [](const Tensor& t) { return gelu(t); },
       [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }, false},
      {"abs", [](const Tensor& t) { return abs(t); }, [](double v) { return std::abs(v); }, false},
      {"pow 2", [](const Tensor& t) { return pow(t, 2.0); }, [](double v) { return v * v; }, false},
      {"pow 3", [](const Tensor& t) { return pow(t, 3.0); }, [](double v) { return v * v * v; }, false},
      {"pow 0.5", [](const Tensor& t) { return pow(t, 0.5); }, [](double v) { return std::sqrt(v); }, true},
      {"pow -1.5", [](const Tensor& t) { return pow(t, -1.5); }, [](double v) { return std::pow(v, -1.5); }, true},
  };
  for (DType dt : kFloats)
    for (const auto& c : cases) {
      CAPTURE(c.name);
      CAPTURE(to_string(dt));
      Tensor x = c.positive_only ? positive({4, 6}, dt, 1) : rnd({4, 6}, dt, 1);
      Tensor y = c.op(x);
      CHECK(y.shape() == x.shape());
      CHECK(y.dtype() == dt);
      CHECK_VALUES(y, ref_unary(x, c.ref), tol(dt));
      Tensor xt = transpose(x, 0, 1);  // a strided input
      CHECK_VALUES(c.op(xt), ref_unary(xt, c.ref), tol(dt));
      Tensor xs = slice(x, 1, 1, 6, 2);
      CHECK_VALUES(c.op(xs), ref_unary(xs, c.ref), tol(dt));
    }
}

TEST_CASE("ops forward: unary ops on integers") {
  for (DType dt : kInts) {
    CAPTURE(to_string(dt));
    Tensor x = rnd({3, 5}, dt, 2);
    CHECK(neg(x).dtype() == dt);
    CHECK_VALUES(neg(x), ref_unary(x, [](double v) { return -v; }), 0);
    CHECK_VALUES(abs(x), ref_unary(x, [](double v) { return std::abs(v); }), 0);
    CHECK_VALUES(relu(x), ref_unary(x, [](double v) { return v > 0 ? v : 0; }), 0);
    CHECK_THROWS_AS(exp(x), Error);  // float-only ops say so
    CHECK_THROWS_AS(sqrt(x), Error);
  }
}

TEST_CASE("ops forward: binary float ops over every broadcasting pattern") {
  std::vector<std::pair<Shape, Shape>> shapes = {
      {{2, 3}, {2, 3}},       {{2, 3}, {}},         {{}, {2, 3}},         {{}, {}},
      {{2, 3}, {3}},          {{3}, {2, 3}},        {{2, 3}, {1, 3}},     {{2, 3}, {2, 1}},
      {{2, 1}, {1, 3}},       {{4, 2, 3}, {2, 3}},  {{4, 1, 3}, {2, 1}},  {{2, 3, 1, 4}, {3, 5, 1}},
      {{1}, {2, 3}},          {{0, 3}, {3}},        {{5, 1, 1}, {1, 1, 4}},
  };
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&, const Tensor&)> op;
    std::function<double(double, double)> ref;
  };
  std::vector<Case> cases = {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }, [](double a, double b) { return a + b; }},
      {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }, [](double a, double b) { return a - b; }},
      {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }, [](double a, double b) { return a * b; }},
      {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); }, [](double a, double b) { return a / b; }},
      {"+", [](const Tensor& a, const Tensor& b) { return a + b; }, [](double a, double b) { return a + b; }},
      {"-", [](const Tensor& a, const Tensor& b) { return a - b; }, [](double a, double b) { return a - b; }},
      {"*", [](const Tensor& a, const Tensor& b) { return a * b; }, [](double a, double b) { return a * b; }},
      {"/", [](const Tensor& a, const Tensor& b) { return a / b; }, [](double a, double b) { return a / b; }},
      {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); },
       [](double a, double b) { return std::max(a, b); }},
      {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); },
       [](double a, double b) { return std::min(a, b); }},
      {"pow", [](const Tensor& a, const Tensor& b) { return pow(abs(a) + 0.5, b); },
       [](double a, double b) { return std::pow(std::abs(a) + 0.5, b); }},
  };
  for (DType dt : kFloats)
    for (const auto& shape_pair : shapes)  // not a structured binding: clang < 16 cannot capture one
      for (const auto& c : cases) {
        const Shape &sa = shape_pair.first, &sb = shape_pair.second;
        CAPTURE(c.name);
        CAPTURE(to_string(dt));
        CAPTURE(str(sa));
        CAPTURE(str(sb));
        Tensor a = rnd(sa, dt, 3), b = rnd(sb, dt, 4);
        Tensor y = c.op(a, b);
        CHECK(y.shape() == bshape(sa, sb));
        CHECK(y.dtype() == dt);
        CHECK_VALUES(y, ref_binary(a, b, c.ref), tol(dt));
      }
}

TEST_CASE("ops forward: binary ops on strided and expanded views") {
  Tensor base = rnd({4, 6}, DType::float32, 5);
  Tensor a = transpose(base, 0, 1);                        // [6, 4], strides [1, 6]
  Tensor b = slice(rnd({6, 8}, DType::float32, 6), 1, 0, 8, 2);  // [6, 4], strides [8, 2]
  Tensor c = expand(rnd({6, 1}, DType::float32, 7), {6, 4});      // stride 0
  CHECK_VALUES(a + b, ref_binary(a, b, [](double x, double y) { return x + y; }), 1e-5);
  CHECK_VALUES(a * c, ref_binary(a, c, [](double x, double y) { return x * y; }), 1e-5);
  CHECK_VALUES(b - c, ref_binary(b, c, [](double x, double y) { return x - y; }), 1e-5);
}

TEST_CASE("ops forward: tensor-scalar operators") {
  for (DType dt : kFloats) {
    Tensor a = positive({2, 3}, dt, 8);
    double t = tol(dt);
    CHECK_VALUES(a + 2.5, ref_unary(a, [](double v) { return v + 2.5; }), t);
    CHECK_VALUES(2.5 + a, ref_unary(a, [](double v) { return 2.5 + v; }), t);
    CHECK_VALUES(a - 2.5, ref_unary(a, [](double v) { return v - 2.5; }), t);
    CHECK_VALUES(2.5 - a, ref_unary(a, [](double v) { return 2.5 - v; }), t);
    CHECK_VALUES(a * 3.0, ref_unary(a, [](double v) { return v * 3; }), t);
    CHECK_VALUES(3.0 * a, ref_unary(a, [](double v) { return 3 * v; }), t);
    CHECK_VALUES(a / 4.0, ref_unary(a, [](double v) { return v / 4; }), t);
    CHECK_VALUES(4.0 / a, ref_unary(a, [](double v) { return 4 / v; }), t);
  }
  Tensor i = from_vector<int64_t>({-3, 0, 7}, {3});
  CHECK(vals(i + 2.0) == Vec{-1, 2, 9});
  CHECK(vals(i * 3.0) == Vec{-9, 0, 21});
  CHECK(vals(10.0 - i) == Vec{13, 10, 3});
}

TEST_CASE("ops forward: binary ops on integers") {
  for (DType dt : kInts) {
    CAPTURE(to_string(dt));
    Tensor a = rnd({3, 4}, dt, 9), b = rnd({4}, dt, 10);
    CHECK(add(a, b).dtype() == dt);
    CHECK_VALUES(add(a, b), ref_binary(a, b, [](double x, double y) { return x + y; }), 0);
    CHECK_VALUES(sub(a, b), ref_binary(a, b, [](double x, double y) { return x - y; }), 0);
    CHECK_VALUES(mul(a, b), ref_binary(a, b, [](double x, double y) { return x * y; }), 0);
    CHECK_VALUES(maximum(a, b), ref_binary(a, b, [](double x, double y) { return std::max(x, y); }), 0);
    CHECK_VALUES(minimum(a, b), ref_binary(a, b, [](double x, double y) { return std::min(x, y); }), 0);
    // non-negative operands: truncating and flooring division agree
    Generator g(11);
    Tensor n = randint(0, 50, {3, 4}, dt, &g), d = randint(1, 7, {4}, dt, &g);
    CHECK_VALUES(div(n, d), ref_binary(n, d, [](double x, double y) { return std::floor(x / y); }), 0);
    Tensor base = randint(-3, 4, {3, 4}, dt, &g), e = randint(0, 4, {3, 4}, dt, &g);
    CHECK_VALUES(pow(base, e), ref_binary(base, e, [](double x, double y) { return std::pow(x, y); }), 0);
    CHECK_THROWS_AS(div(n, zeros({4}, dt)), Error);  // integer division by zero is an error
  }
  CHECK_THROWS_AS(add(zeros({2}, DType::float32), zeros({2}, DType::float64)), Error);
  CHECK_THROWS_AS(add(zeros({2, 3}), zeros({3, 2})), Error);
}

TEST_CASE("ops forward: comparisons give bool, with ties, for every numeric dtype") {
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&, const Tensor&)> op;
    std::function<bool(double, double)> ref;
  };
  std::vector<Case> cases = {
      {"eq", [](const Tensor& a, const Tensor& b) { return eq(a, b); }, [](double a, double b) { return a == b; }},
      {"ne", [](const Tensor& a, const Tensor& b) { return ne(a, b); }, [](double a, double b) { return a != b; }},
      {"lt", [](const Tensor& a, const Tensor& b) { return lt(a, b); }, [](double a, double b) { return a < b; }},
      {"le", [](const Tensor& a, const Tensor& b) { return le(a, b); }, [](double a, double b) { return a <= b; }},
      {"gt", [](const Tensor& a, const Tensor& b) { return gt(a, b); }, [](double a, double b) { return a > b; }},
      {"ge", [](const Tensor& a, const Tensor& b) { return ge(a, b); }, [](double a, double b) { return a >= b; }},
  };
  for (DType dt : {DType::float32, DType::float64, DType::int32, DType::int64})
    for (const auto& c : cases) {
      CAPTURE(c.name);
      CAPTURE(to_string(dt));
      Generator g(12);
      // small integer values so that ties are common
      Tensor a = to(randint(-2, 3, {3, 4}, DType::int64, &g), dt), b = to(randint(-2, 3, {4}, DType::int64, &g), dt);
      Tensor y = c.op(a, b);
      CHECK(y.dtype() == DType::boolean);
      CHECK(y.shape() == Shape{3, 4});
      CHECK_VALUES(y, ref_binary(a, b, [&](double x, double z) { return c.ref(x, z) ? 1.0 : 0.0; }), 0);
      Tensor s = scalar(1.0, dt);  // against a 0-d tensor
      CHECK_VALUES(c.op(a, s), ref_binary(a, s, [&](double x, double z) { return c.ref(x, z) ? 1.0 : 0.0; }), 0);
    }
}

TEST_CASE("ops forward: logical ops on bool tensors, with broadcasting") {
  Tensor a = from_vector<bool>({true, false, true, false, false, true}, {2, 3});
  Tensor b = from_vector<bool>({true, true, false}, {3});
  Tensor c = from_vector<bool>({true, false}, {2, 1});
  CHECK(logical_and(a, b).dtype() == DType::boolean);
  CHECK(vals(logical_and(a, b)) == Vec{1, 0, 0, 0, 0, 0});
  CHECK(vals(logical_or(a, b)) == Vec{1, 1, 1, 1, 1, 1});
  CHECK(vals(logical_and(a, c)) == Vec{1, 0, 1, 0, 0, 0});
  CHECK(vals(logical_or(a, c)) == Vec{1, 1, 1, 0, 0, 1});
  Tensor n = logical_not(a);
  CHECK(n.dtype() == DType::boolean);
  CHECK(vals(n) == Vec{0, 1, 0, 1, 1, 0});
  CHECK(vals(logical_not(transpose(a, 0, 1))) == Vec{0, 1, 1, 1, 0, 0});
  CHECK(vals(eq(a, b)) == Vec{1, 0, 0, 0, 0, 0});  // equality of bools
  CHECK(vals(ne(a, b)) == Vec{0, 1, 1, 1, 1, 1});
  CHECK_THROWS_AS(logical_not(zeros({2})), Error);
  CHECK_THROWS_AS(logical_and(zeros({2}), zeros({2})), Error);
}

TEST_CASE("ops forward: all_finite") {
  CHECK(all_finite(rnd({3, 3}, DType::float32, 13)));
  CHECK_FALSE(all_finite(log(from_vector<float>({1.0f, 0.0f, 2.0f}))));
  CHECK_FALSE(all_finite(div(ones({2}, DType::float64), zeros({2}, DType::float64))));
  CHECK(all_finite(from_vector<int64_t>({1, 2})));
}

// ---- reductions --------------------------------------------------------------------------------

namespace {
// Reduces v (of shape s) over dims (empty = all) with op 's' sum, 'a' mean, 'M' max, 'm' min.
// The result is in the row-major order of the kept shape (equal to that of the squeezed shape).
Vec ref_reduce(const Vec& v, const Shape& s, std::vector<int64_t> dims, char op) {
  if (dims.empty())
    for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) dims.push_back(d);
  for (auto& d : dims) d = d < 0 ? d + static_cast<int64_t>(s.size()) : d;
  Shape ks = s;
  int64_t count = 1;
  for (int64_t d : dims) ks[d] = 1, count *= s[d];
  double init = op == 'M' ? -INFINITY : op == 'm' ? INFINITY : 0.0;
  Vec out(static_cast<size_t>(numel(ks)), init);
  for (int64_t i = 0; i < numel(s); ++i) {
    double x = v[i];
    double& o = out[bcast_index(unravel(i, s), ks)];
    o = op == 'M' ? std::max(o, x) : op == 'm' ? std::min(o, x) : o + x;
  }
  if (op == 'a')
    for (double& o : out) o /= static_cast<double>(count);
  return out;
}

Shape reduced_shape(const Shape& s, std::vector<int64_t> dims, bool keepdim) {
  if (dims.empty())
    for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) dims.push_back(d);
  for (auto& d : dims) d = d < 0 ? d + static_cast<int64_t>(s.size()) : d;
  Shape out;
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) {
    bool red = std::find(dims.begin(), dims.end(), d) != dims.end();
    if (!red) out.push_back(s[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}
}  // namespace

TEST_CASE("ops forward: sum/mean/amax/amin over single, multiple non-adjacent and all dims") {
  std::vector<std::vector<int64_t>> dim_sets = {{}, {0}, {1}, {2}, {-1}, {0, 2}, {2, 0}, {1, 2}, {0, 1}, {0, 1, 2}};
  using R = std::function<Tensor(const Tensor&, std::vector<int64_t>, bool)>;
  std::vector<std::pair<char, R>> ops = {
      {'s', [](const Tensor& t, std::vector<int64_t> d, bool k) { return sum(t, d, k); }},
      {'a', [](const Tensor& t, std::vector<int64_t> d, bool k) { return mean(t, d, k); }},
      {'M', [](const Tensor& t, std::vector<int64_t> d, bool k) { return amax(t, d, k); }},
      {'m', [](const Tensor& t, std::vector<int64_t> d, bool k) { return amin(t, d, k); }},
  };
  for (DType dt : kFloats)
    for (int layout = 0; layout < 2; ++layout) {
      // layout 1: a permuted (non-contiguous) view
      Tensor x = layout == 0 ? rnd({3, 4, 5}, dt, 14) : permute(rnd({5, 3, 4}, dt, 14), {1, 2, 0});
      Vec xv = vals(x);
      for (const auto& dims : dim_sets)
        for (bool keepdim : {false, true})
          for (const auto& code_op : ops) {  // not a structured binding: clang < 16 cannot capture one
            const auto& code = code_op.first;
            const auto& op = code_op.second;
            CAPTURE(code);
            CAPTURE(str(dims));
            CAPTURE(keepdim);
            CAPTURE(layout);
            CAPTURE(to_string(dt));
            Tensor y = op(x, dims, keepdim);
            CHECK(y.shape() == reduced_shape(x.shape(), dims, keepdim));
            CHECK(y.dtype() == dt);
            CHECK_VALUES(y, ref_reduce(xv, x.shape(), dims, code), tol(dt));
          }
    }
}

TEST_CASE("ops forward: reductions of wide and long inputs (several column blocks, threads)") {
  for (DType dt : {DType::float64, DType::int64}) {
    CAPTURE(to_string(dt));
    for (const Shape& s : {Shape{5, 600}, Shape{4, 7, 300}, Shape{300, 260}}) {
      Tensor x = rnd(s, dt, 30);
      Vec xv = vals(x);
      for (std::vector<int64_t> dims : {std::vector<int64_t>{0}, {1}, {0, static_cast<int64_t>(s.size()) - 1}}) {
        CAPTURE(str(s));
        CAPTURE(str(dims));
        CHECK_VALUES(sum(x, dims), ref_reduce(xv, s, dims, 's'), 1e-10);
        CHECK_VALUES(amax(x, dims), ref_reduce(xv, s, dims, 'M'), 0);
        CHECK_VALUES(amin(x, dims), ref_reduce(xv, s, dims, 'm'), 0);
      }
    }
  }
}

TEST_CASE("ops forward: reductions of integers and of 0-d tensors") {
  for (DType dt : kInts) {
    CAPTURE(to_string(dt));
    Tensor x = rnd({3, 4, 2}, dt, 15);
    Vec xv = vals(x);
    for (std::vector<int64_t> dims : {std::vector<int64_t>{}, {1}, {0, 2}}) {
      Tensor s = sum(x, dims);
      CHECK(s.dtype() == dt);
      CHECK_VALUES(s, ref_reduce(xv, x.shape(), dims, 's'), 0);
      CHECK_VALUES(amax(x, dims), ref_reduce(xv, x.shape(), dims, 'M'), 0);
      CHECK_VALUES(amin(x, dims), ref_reduce(xv, x.shape(), dims, 'm'), 0);
    }
    CHECK_THROWS_AS(mean(x), Error);  // mean of integers is not defined
  }
  Tensor z = scalar(2.5, DType::float64);
  CHECK(sum(z).dim() == 0);
  CHECK(sum(z).item<double>() == 2.5);
  CHECK(sum(z, {0}).item<double>() == 2.5);
  CHECK(mean(z).item<double>() == 2.5);
  CHECK(amax(z).item<double>() == 2.5);
  CHECK(sum(zeros({0, 3})).shape() == Shape{});
  CHECK(sum(zeros({0, 3})).item<float>() == 0);
  CHECK(sum(zeros({0, 3}), {0}).shape() == Shape{3});
  CHECK_THROWS_AS(sum(zeros({2, 3}), {0, 0}), Error);
  CHECK_THROWS_AS(sum(zeros({2, 3}), {2}), Error);
}

TEST_CASE("ops forward: max/min/argmax give values and indices over each dim") {
  // distinct values, so the index is unique: floats from randn, ints a permutation
  std::vector<int64_t> perm(60);
  for (int64_t i = 0; i < 60; ++i) perm[i] = (i * 7) % 61 - 30;
  std::vector<Tensor> inputs = {rnd({3, 4, 5}, DType::float32, 16), rnd({3, 4, 5}, DType::float64, 17),
                                from_vector<int64_t>(perm, {3, 4, 5}),
                                permute(rnd({5, 3, 4}, DType::float64, 18), {1, 2, 0})};
  for (const Tensor& x : inputs)
    for (int64_t dim : {0, 1, 2, -1})
      for (bool keepdim : {false, true})
        for (bool is_max : {true, false}) {
          CAPTURE(to_string(x.dtype()));
          CAPTURE(dim);
          CAPTURE(keepdim);
          CAPTURE(is_max);
          ValuesIndices r = is_max ? max(x, dim, keepdim) : min(x, dim, keepdim);
          CHECK(r.values.shape() == reduced_shape(x.shape(), {dim}, keepdim));
          CHECK(r.indices.shape() == r.values.shape());
          CHECK(r.values.dtype() == x.dtype());
          CHECK(r.indices.dtype() == DType::int64);
          // reference: scan along dim
          int64_t d = dim < 0 ? dim + 3 : dim;
          Shape ks = x.shape();
          ks[d] = 1;
          Vec xv = vals(x), rv(numel(ks)), ri(numel(ks));
          for (int64_t k = 0; k < numel(ks); ++k) {
            auto idx = unravel(k, ks);
            for (int64_t j = 0; j < x.shape()[d]; ++j) {
              idx[d] = j;
              double v = xv[bcast_index(idx, x.shape())];
              if (j == 0 || (is_max ? v > rv[k] : v < rv[k])) rv[k] = v, ri[k] = static_cast<double>(j);
            }
          }
          CHECK_VALUES(r.values, rv, 0);
          CHECK_VALUES(r.indices, ri, 0);
          if (is_max) CHECK_VALUES(argmax(x, dim, keepdim), ri, 0);
        }
  // ties: the value is right and the index points at one of the tied maxima
  Tensor t = from_vector<float>({1, 3, 3, 0, 2, 2, 2, 1}, {2, 4});
  ValuesIndices r = max(t, 1);
  CHECK(vals(r.values) == Vec{3, 2});
  CHECK(t.at<float>({0, r.indices.at<int64_t>({0})}) == 3);
  CHECK(t.at<float>({1, r.indices.at<int64_t>({1})}) == 2);
  // a 0-d input
  ValuesIndices z = max(scalar(4.0, DType::float64), 0);
  CHECK(z.values.item<double>() == 4.0);
  CHECK(z.indices.item<int64_t>() == 0);
}

// ---- matmul ------------------------------------------------------------------------------------

namespace {
// numpy matmul with a naive triple loop: 1-d operands, broadcast batch dims.
Vec ref_matmul(const Tensor& at, const Tensor& bt, Shape& out_shape) {
  Shape sa = at.shape(), sb = bt.shape();
  bool vec_a = sa.size() == 1, vec_b = sb.size() == 1;
  if (vec_a) sa = {1, sa[0]};
  if (vec_b) sb = {sb[0], 1};
  int64_t M = sa[sa.size() - 2], K = sa.back(), N = sb.back();
  Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
  Shape batch = bshape(ba, bb);
  Vec a = vals(at), b = vals(bt), out;
  for (int64_t i = 0; i < numel(batch); ++i) {
    auto idx = unravel(i, batch);
    int64_t oa = bcast_index(idx, ba) * M * K, ob = bcast_index(idx, bb) * K * N;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += a[oa + m * K + k] * b[ob + k * N + n];
        out.push_back(s);
      }
  }
  out_shape = batch;
  if (!vec_a) out_shape.push_back(M);
  if (!vec_b) out_shape.push_back(N);
  return out;
}

void check_matmul(const Tensor& a, const Tensor& b) {
  CAPTURE(str(a.shape()));
  CAPTURE(str(b.shape()));
  CAPTURE(str(a.strides()));
  CAPTURE(str(b.strides()));
  Shape expected_shape;
  Vec ref = ref_matmul(a, b, expected_shape);
  Tensor y = matmul(a, b);
  CHECK(y.shape() == expected_shape);
  CHECK(y.dtype() == a.dtype());
  CHECK_VALUES(y, ref, a.dtype() == DType::float64 ? 1e-12 : 1e-5);
}
}  // namespace

TEST_CASE("ops forward: matmul against a naive triple loop") {
  for (DType dt : kFloats) {
    CAPTURE(to_string(dt));
    auto r = [&](const Shape& s, uint64_t seed) { return rnd(s, dt, seed); };
    SUBCASE("2-d") {
      check_matmul(r({3, 4}, 1), r({4, 5}, 2));
      check_matmul(r({1, 4}, 1), r({4, 5}, 2));  // M = 1
      check_matmul(r({3, 1}, 1), r({1, 5}, 2));  // K = 1
      check_matmul(r({3, 4}, 1), r({4, 1}, 2));  // N = 1
    }
    SUBCASE("batched") {
      check_matmul(r({2, 3, 4}, 3), r({2, 4, 5}, 4));
      check_matmul(r({2, 2, 3, 4}, 3), r({2, 2, 4, 5}, 4));
    }
    SUBCASE("broadcast batch dims") {
      check_matmul(r({2, 1, 3, 4}, 5), r({3, 4, 2}, 6));  // batch [2,1] x [3] -> [2,3]
      check_matmul(r({3, 4}, 5), r({2, 4, 5}, 6));        // 2-d left operand
      check_matmul(r({2, 3, 4}, 5), r({4, 5}, 6));        // shared weight (folded into one gemm)
      check_matmul(r({1, 3, 4}, 5), r({3, 4, 5}, 6));
    }
    SUBCASE("1-d operands") {
      check_matmul(r({4}, 7), r({4, 5}, 8));
      check_matmul(r({3, 4}, 7), r({4}, 8));
      check_matmul(r({4}, 7), r({2, 4, 5}, 8));
      check_matmul(r({2, 3, 4}, 7), r({4}, 8));
      check_matmul(r({4}, 7), r({4}, 8));  // a dot product: 0-d
    }
    SUBCASE("transposed and strided operands") {
      check_matmul(transpose(r({4, 3}, 9), 0, 1), r({4, 5}, 10));
      check_matmul(r({3, 4}, 9), transpose(r({5, 4}, 10), 0, 1));
      check_matmul(transpose(r({4, 3}, 9), 0, 1), transpose(r({5, 4}, 10), 0, 1));
      check_matmul(slice(r({3, 8}, 9), 1, 0, 8, 2), r({4, 5}, 10));       // row stride 8, col stride 2
      check_matmul(narrow(r({3, 7}, 9), 1, 2, 4), narrow(r({6, 5}, 10), 0, 1, 4));  // ld > cols
      check_matmul(narrow(r({2, 3, 7}, 9), 2, 1, 4), r({4, 5}, 10));  // batch folded into rows, ld > K
      check_matmul(narrow(r({2, 3, 7}, 9), 2, 1, 4), transpose(r({5, 4}, 10), 0, 1));
      check_matmul(narrow(r({2, 4, 4}, 9), 1, 1, 1), r({4, 5}, 10));  // M = 1 rows spaced apart
      check_matmul(transpose(r({2, 4, 3}, 11), 1, 2), r({2, 4, 5}, 12));  // batched, transposed
      check_matmul(permute(r({3, 2, 4}, 11), {1, 0, 2}), r({4, 5}, 12));  // batch not outermost
      check_matmul(permute(r({3, 4, 2}, 11), {2, 0, 1}), transpose(r({2, 5, 4}, 12), 1, 2));
      check_matmul(expand(r({1, 3, 4}, 13), {2, 3, 4}), r({2, 4, 5}, 14));  // expanded batch
      check_matmul(expand(r({3, 1}, 13), {3, 4}), r({4, 5}, 14));          // expanded columns
      check_matmul(select(r({3, 4, 2}, 15), 2, 1), r({4, 5}, 16));          // column stride 2
    }
  }
  SUBCASE("empty operands") {
    CHECK(matmul(zeros({0, 3}), zeros({3, 4})).shape() == Shape{0, 4});
    Tensor z = matmul(ones({2, 0}), ones({0, 3}));  // K = 0: zeros
    CHECK(z.shape() == Shape{2, 3});
    CHECK(vals(z) == Vec(6, 0.0));
    CHECK(matmul(zeros({0, 2, 3}), zeros({3, 4})).shape() == Shape{0, 2, 4});
  }
  CHECK_THROWS_AS(matmul(zeros({2, 3}), zeros({4, 5})), Error);
  CHECK_THROWS_AS(matmul(zeros({2, 2, 3}), zeros({3, 3, 4})), Error);
  CHECK_THROWS_AS(matmul(scalar(1.0), zeros({2})), Error);
  CHECK_THROWS_AS(matmul(zeros({2, 3}), zeros({3, 4}, DType::float64)), Error);
  CHECK_THROWS_AS(matmul(zeros({2, 3}, DType::int64), zeros({3, 4}, DType::int64)), Error);
}

