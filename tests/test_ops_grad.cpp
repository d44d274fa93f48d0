// Gradient checks (central differences in float64) of the elementwise ops, with every broadcasting
// pattern and strided inputs, the reductions and matmul; and tests that gradcheck itself fails on a
// wrong backward. (nn ops: test_ops_grad_nn.cpp; views and copies: test_ops_grad_views.cpp)
#include <doctest/doctest.h>

#include <functional>
#include <vector>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "ops_test_util.h"

using namespace memgrad;
using namespace memgrad::optest;

namespace {

using Fn2 = std::function<Tensor(const Tensor&, const Tensor&)>;
using Fn1 = std::function<Tensor(const Tensor&)>;

const std::vector<std::pair<Shape, Shape>> kBroadcastPairs = {
    {{2, 3}, {2, 3}}, {{2, 3}, {3}},    {{3}, {2, 3}},       {{2, 3}, {}},          {{}, {2, 3}},
    {{2, 3}, {2, 1}}, {{2, 1}, {1, 3}}, {{2, 1, 3}, {4, 1}}, {{1, 3}, {2, 2, 3}},   {{}, {}},
};

}  // namespace

// ---- elementwise -----------------------------------------------------------------------------

TEST_CASE("ops grad: binary ops, every broadcasting pattern (gradients summed to each input's shape)") {
  struct Case {
    const char* name;
    Fn2 op;
    bool b_positive;  // div needs b away from 0, pow a positive base (a is made positive below)
  };
  std::vector<Case> cases = {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }, false},
      {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }, false},
      {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }, false},
      {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); }, true},
      {"pow", [](const Tensor& a, const Tensor& b) { return pow(a, b); }, false},
      {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }, false},
      {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }, false},
      {"operators", [](const Tensor& a, const Tensor& b) { return (a + b) * a - b / (b * b + 1.0); }, false},
  };
  uint64_t seed = 100;
  for (const auto& c : cases)
    for (const auto& shape_pair : kBroadcastPairs) {  // not a structured binding: clang < 16 cannot capture one
      const Shape &sa = shape_pair.first, &sb = shape_pair.second;
      CAPTURE(c.name);
      CAPTURE(str(sa));
      CAPTURE(str(sb));
      bool is_pow = std::string(c.name) == "pow";
      Tensor a = is_pow ? pos64(sa, ++seed) : randn64(sa, ++seed);
      Tensor b = c.b_positive ? pos64(sb, ++seed) : randn64(sb, ++seed);
      CHECK_GRAD(fn1([&](const std::vector<Tensor>& x) { return c.op(x[0], x[1]); }), {a, b});
      // only one input requiring grad: the other gets none
      Tensor a_const = detach(a), b_const = detach(b);
      CHECK_GRAD(fn1([&](const std::vector<Tensor>& x) { return c.op(x[0], x[1]); }), {a_const, b});
      CHECK_GRAD(fn1([&](const std::vector<Tensor>& x) { return c.op(x[0], x[1]); }), {a, b_const});
    }
}

TEST_CASE("ops grad: binary ops on non-contiguous inputs") {
  Tensor a = leaf(transpose(raw64({4, 3}, 601), 0, 1));          // [3, 4] strides [1, 3]
  Tensor b = leaf(slice(raw64({3, 8}, 602) + 3.0, 1, 1, 8, 2));  // [3, 4] strides [8, 2]
  Tensor c = leaf(permute(raw64({4, 1, 3}, 603), {2, 1, 0}));    // [3, 1, 4]
  CHECK_FALSE(a.is_contiguous());
  CHECK_FALSE(b.is_contiguous());
  CHECK_FALSE(c.is_contiguous());
  CHECK_GRAD(fn1([](const std::vector<Tensor>& x) { return x[0] * x[1] + x[2]; }), {a, b, c});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& x) { return x[0] / x[1] - x[2] * x[0]; }), {a, b, c});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& x) { return pow(x[1], x[0]); }), {a, b});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& x) { return maximum(x[0], x[1]); }), {a, c});
}

TEST_CASE("ops grad: tensor-scalar operators") {
  Tensor a = pos64({2, 3}, 1);
  CHECK_GRAD(fn1([](const std::vector<Tensor>& x) { return x[0] + 2.0; }), {a});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& x) { return 2.0 + x[0]; }), {a});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& x) { return x[0] - 2.0; }), {a});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& x) { return 2.0 - x[0]; }), {a});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& x) { return x[0] * 3.0; }), {a});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& x) { return 3.0 * x[0]; }), {a});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& x) { return x[0] / 3.0; }), {a});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& x) { return 3.0 / x[0]; }), {a});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& x) { return -x[0]; }), {a});
}

TEST_CASE("ops grad: unary ops, contiguous and strided") {
  struct Case {
    const char* name;
    Fn1 op;
    int domain;  // 0 any, 1 positive, 2 away from 0
  };
  std::vector<Case> cases = {
      {"neg", [](const Tensor& t) { return neg(t); }, 0},
      {"exp", [](const Tensor& t) { return exp(t); }, 0},
      {"log", [](const Tensor& t) { return log(t); }, 1},
      {"sqrt", [](const Tensor& t) { return sqrt(t); }, 1},
      {"tanh", [](const Tensor& t) { return tanh(t); }, 0},
      {"sigmoid", [](const Tensor& t) { return sigmoid(t); }, 0},
      {"relu", [](const Tensor& t) { return relu(t); }, 2},
      {"gelu", [](const Tensor& t) { return gelu(t); }, 0},
      {"abs", [](const Tensor& t) { return abs(t); }, 2},
      {"pow 2", [](const Tensor& t) { return pow(t, 2.0); }, 0},
      {"pow 3", [](const Tensor& t) { return pow(t, 3.0); }, 0},
      {"pow 0.5", [](const Tensor& t) { return pow(t, 0.5); }, 1},
      {"pow -1.5", [](const Tensor& t) { return pow(t, -1.5); }, 1},
  };
  uint64_t seed = 200;
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto make = [&](const Shape& s) {
      return c.domain == 1 ? pos64(s, ++seed) : c.domain == 2 ? away_from_zero64(s, ++seed) : randn64(s, ++seed);
    };
    TensorFn f = fn1([&](const std::vector<Tensor>& x) { return c.op(x[0]); });
    CHECK_GRAD(f, {make({3, 4})});
    CHECK_GRAD(f, {leaf(transpose(detach(make({4, 3})), 0, 1))});
    CHECK_GRAD(f, {leaf(slice(detach(make({3, 6})), 1, 0, 6, 2))});
    CHECK_GRAD(f, {make({})});  // 0-d
    // through a non-leaf input (the gradient flows on into the leaf)
    Tensor base = make({2, 3});
    CHECK_GRAD(fn1([&](const std::vector<Tensor>& x) { return c.op(transpose(x[0], 0, 1)); }), {base});
  }
}

TEST_CASE("ops grad: kinks and ties take the documented subgradient") {
  Tensor x = leaf(from_vector<double>({-1, 0, 2}));
  sum(relu(x) + abs(x)).backward();
  CHECK(vals(x.grad()) == Vec{-1, 0, 2});  // relu'(0) = abs'(0) = 0
  // maximum/minimum split the gradient of a tie in half
  Tensor a = leaf(from_vector<double>({1, 2, 3})), b = leaf(from_vector<double>({1, 5, 0}));
  sum(maximum(a, b)).backward();
  CHECK(vals(a.grad()) == Vec{0.5, 0, 1});
  CHECK(vals(b.grad()) == Vec{0.5, 1, 0});
  Tensor c = leaf(from_vector<double>({4, 4}));
  sum(minimum(c, c)).backward();
  CHECK(vals(c.grad()) == Vec{1, 1});
  // a constant power: zero gradient everywhere, also at 0 (not 0 * inf = NaN)
  Tensor z = leaf(from_vector<double>({0, 1.5}));
  sum(pow(z, 0.0)).backward();
  CHECK(vals(z.grad()) == Vec{0, 0});
  Tensor z1 = leaf(from_vector<double>({0, 1.5}));
  sum(pow(z1, 1.0)).backward();
  CHECK(vals(z1.grad()) == Vec{1, 1});
}

TEST_CASE("ops grad: empty tensors give empty gradients") {
  Tensor a = leaf(zeros({2, 0}, DType::float64)), b = leaf(zeros({0, 3}, DType::float64));
  Tensor y = matmul(a, b);
  sum(y * 2.0).backward();
  CHECK(a.grad().shape() == Shape{2, 0});
  CHECK(b.grad().shape() == Shape{0, 3});
  Tensor e = leaf(zeros({0, 4}, DType::float64));
  sum(softmax(e, 1) + exp(e)).backward();
  CHECK(e.grad().shape() == Shape{0, 4});
  Tensor c = leaf(ones({2, 4}, DType::float64)), e2 = leaf(zeros({0, 4}, DType::float64));
  sum(cat({c, e2}, 0)).backward();
  CHECK(e2.grad().shape() == Shape{0, 4});
  CHECK(vals(c.grad()) == Vec(8, 1.0));
}

// ---- reductions --------------------------------------------------------------------------------

TEST_CASE("ops grad: sum/mean/amax/amin over dims, keepdim true and false") {
  using R = std::function<Tensor(const Tensor&, std::vector<int64_t>, bool)>;
  std::vector<std::pair<const char*, R>> ops = {
      {"sum", [](const Tensor& t, std::vector<int64_t> d, bool k) { return sum(t, d, k); }},
      {"mean", [](const Tensor& t, std::vector<int64_t> d, bool k) { return mean(t, d, k); }},
      {"amax", [](const Tensor& t, std::vector<int64_t> d, bool k) { return amax(t, d, k); }},
      {"amin", [](const Tensor& t, std::vector<int64_t> d, bool k) { return amin(t, d, k); }},
  };
  std::vector<std::vector<int64_t>> dim_sets = {{}, {0}, {1}, {-1}, {0, 2}, {1, 2}, {0, 1, 2}};
  // random inputs have no ties
  Tensor x = randn64({2, 3, 4}, 300);
  Tensor xp = leaf(permute(raw64({3, 4, 2}, 604), {2, 0, 1}));  // non-contiguous
  for (const auto& name_op : ops)  // not a structured binding: clang < 16 cannot capture one
    for (const auto& dims : dim_sets)
      for (bool keepdim : {false, true})
        for (const Tensor& in : {x, xp}) {
          const auto& name = name_op.first;
          const auto& op = name_op.second;
          CAPTURE(name);
          CAPTURE(str(dims));
          CAPTURE(keepdim);
          CAPTURE(in.is_contiguous());
          CHECK_GRAD(fn1([&](const std::vector<Tensor>& v) { return op(v[0], dims, keepdim); }), {in});
        }
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return sum(v[0]); }), {randn64({}, 301)});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return amax(v[0], {0}); }), {randn64({}, 302)});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return sum_to(v[0], {3, 1}); }), {randn64({2, 3, 4}, 303)});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return sum_to(v[0], {}); }), {randn64({2, 3}, 304)});
}

TEST_CASE("ops grad: amax/amin share the gradient evenly among ties") {
  Tensor x = leaf(from_vector<double>({1, 3, 3, 0, 2, -1}, {2, 3}));
  amax(x, {1}).backward(from_vector<double>({2, 5}));
  CHECK(vals(x.grad()) == Vec{0, 1, 1, 0, 5, 0});
  Tensor y = leaf(from_vector<double>({1, 1, 1, 1}));
  sum(amin(y)).backward();
  CHECK(vals(y.grad()) == Vec{0.25, 0.25, 0.25, 0.25});
}

TEST_CASE("ops grad: max/min over a dim route the gradient to the chosen index") {
  Tensor x = randn64({3, 4, 2}, 310);
  Tensor xp = leaf(transpose(raw64({3, 2, 4}, 605), 1, 2));
  for (const Tensor& in : {x, xp})
    for (int64_t dim : {0, 1, 2, -1})
      for (bool keepdim : {false, true})
        for (bool is_max : {true, false}) {
          CAPTURE(dim);
          CAPTURE(keepdim);
          CAPTURE(is_max);
          CHECK_GRAD(fn1([&](const std::vector<Tensor>& v) {
                       return is_max ? max(v[0], dim, keepdim).values : min(v[0], dim, keepdim).values;
                     }),
                     {in});
        }
  // a tie: the whole gradient goes to the returned index
  Tensor t = leaf(from_vector<double>({2, 5, 5, 1}, {1, 4}));
  ValuesIndices r = max(t, 1);
  r.values.backward(from_vector<double>({3}));
  Vec expected(4, 0.0);
  expected[r.indices.item<int64_t>()] = 3;
  CHECK(vals(t.grad()) == expected);
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return max(v[0], 0).values; }), {randn64({}, 311)});
}

// ---- matmul ------------------------------------------------------------------------------------

TEST_CASE("ops grad: matmul, plain, batched, broadcast, shared weight, 1-d, strided") {
  TensorFn mm = fn1([](const std::vector<Tensor>& x) { return matmul(x[0], x[1]); });
  std::vector<std::pair<Shape, Shape>> shapes = {
      {{3, 4}, {4, 2}},       {{1, 4}, {4, 2}},       {{3, 1}, {1, 2}},     {{2, 3, 4}, {2, 4, 2}},
      {{2, 1, 3, 2}, {3, 2, 2}}, {{2, 3, 4}, {4, 2}},  {{2, 2, 3, 4}, {4, 2}}, {{3, 4}, {2, 4, 2}},
      {{1, 3, 4}, {2, 4, 2}}, {{4}, {4, 3}},          {{3, 4}, {4}},         {{4}, {4}},
      {{4}, {2, 4, 3}},       {{2, 3, 4}, {4}},
  };
  uint64_t seed = 400;
  for (const auto& shape_pair : shapes) {  // not a structured binding: clang < 16 cannot capture one
    const Shape &sa = shape_pair.first, &sb = shape_pair.second;
    CAPTURE(str(sa));
    CAPTURE(str(sb));
    Tensor a = randn64(sa, ++seed), b = randn64(sb, ++seed);
    CHECK_GRAD(mm, {a, b});
    CHECK_GRAD(mm, {detach(a), b});  // only b needs a gradient
    CHECK_GRAD(mm, {a, detach(b)});
  }
  SUBCASE("transposed, sliced and permuted operands") {
    Tensor at = leaf(transpose(raw64({4, 3}, 606), 0, 1));
    Tensor bt = leaf(transpose(raw64({2, 4}, 607), 0, 1));
    CHECK_GRAD(mm, {at, bt});
    Tensor as = leaf(slice(raw64({3, 8}, 608), 1, 0, 8, 2));
    CHECK_GRAD(mm, {as, bt});
    // a non-contiguous [B, M, K] against a shared [K, N] weight
    Tensor ap = leaf(permute(raw64({3, 2, 4}, 609), {1, 0, 2}));
    CHECK_GRAD(mm, {ap, randn64({4, 2}, 450)});
    Tensor apt = leaf(transpose(raw64({2, 4, 3}, 610), 1, 2));
    CHECK_GRAD(mm, {apt, bt});
    CHECK_GRAD(mm, {apt, leaf(transpose(raw64({2, 2, 4}, 611), 1, 2))});
  }
  SUBCASE("the same weight used twice, and a product with itself") {
    Tensor w = randn64({3, 3}, 460), x = randn64({2, 3}, 461);
    CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return matmul(matmul(v[1], v[0]), v[0]); }), {w, x});
    CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return matmul(v[0], transpose(v[0], 0, 1)); }), {w});
  }
}

// ---- gradcheck itself ----------------------------------------------------------------------------

namespace {
// x * 3, whose backward claims 2x the right gradient. Built the way every op is: forward without
// recording, then finish() attaches the (wrong) backward.
Tensor wrong_triple(const Tensor& x) {
  Tensor out;
  {
    NoGradGuard ng;
    out = mul(x, scalar(3.0, x.dtype()));
  }
  return finish("wrong_triple", {x}, out, [](const Tensor& g) { return std::vector<Tensor>{mul(g, scalar(6.0, g.dtype()))}; });
}

// a * b with the gradient of the second input dropped (returned undefined).
Tensor forgets_b(const Tensor& a, const Tensor& b) {
  Tensor out;
  {
    NoGradGuard ng;
    out = mul(a, b);
  }
  Tensor sb = saved(b);
  return finish("forgets_b", {a, b}, out, [sb](const Tensor& g) { return std::vector<Tensor>{mul(g, sb), Tensor()}; });
}

// The right backward for x * 3: the control.
Tensor right_triple(const Tensor& x) {
  Tensor out;
  {
    NoGradGuard ng;
    out = mul(x, scalar(3.0, x.dtype()));
  }
  return finish("right_triple", {x}, out, [](const Tensor& g) { return std::vector<Tensor>{mul(g, scalar(3.0, g.dtype()))}; });
}
}  // namespace

TEST_CASE("ops grad: gradcheck reports a wrong backward") {
  Tensor x = randn64({2, 3}, 500);
  GradcheckResult ok = gradcheck(fn1([](const std::vector<Tensor>& v) { return right_triple(v[0]); }), {x});
  INFO(ok.message);
  CHECK(ok.ok);

  GradcheckResult bad = gradcheck(fn1([](const std::vector<Tensor>& v) { return wrong_triple(v[0]); }), {x});
  CHECK_FALSE(bad.ok);
  CHECK(bad.message.find("input 0") != std::string::npos);
  // inside a larger graph too
  GradcheckResult bad2 = gradcheck(
      fn1([](const std::vector<Tensor>& v) { return tanh(wrong_triple(exp(v[0])) * v[1]); }), {x, randn64({3}, 501)});
  CHECK_FALSE(bad2.ok);

  // a gradient that is missing for the second input
  Tensor a = randn64({3}, 502), b = randn64({3}, 503);
  GradcheckResult miss = gradcheck(fn1([](const std::vector<Tensor>& v) { return forgets_b(v[0], v[1]); }), {a, b});
  CHECK_FALSE(miss.ok);
  CHECK(miss.message.find("input 1") != std::string::npos);

  // bad inputs are errors
  Tensor f32 = leaf(ones({2}));
  CHECK_THROWS_AS(gradcheck(fn1([](const std::vector<Tensor>& v) { return v[0] * 2.0; }), {f32}), Error);
  Tensor no_grad = raw64({2}, 612);
  CHECK_THROWS_AS(gradcheck(fn1([](const std::vector<Tensor>& v) { return v[0] * 2.0; }), {no_grad}), Error);
}

TEST_CASE("ops grad: gradcheck checks several outputs") {
  Tensor x = randn64({2, 3}, 510);
  TensorFn two = [](const std::vector<Tensor>& v) { return std::vector<Tensor>{exp(v[0]), sum(v[0], {1})}; };
  CHECK_GRAD(two, {x});
  TensorFn one_wrong = [](const std::vector<Tensor>& v) { return std::vector<Tensor>{exp(v[0]), wrong_triple(v[0])}; };
  CHECK_FALSE(gradcheck(one_wrong, {x}).ok);
}
