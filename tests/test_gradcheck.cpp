// gradcheck() itself: it passes a right backward and reports a wrong or missing one, naming the
// input. (The op table, tests/op_table.h, runs it on every differentiable op.)
#include <doctest/doctest.h>

#include <vector>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "ops_test_util.h"

using namespace memgrad;
using namespace memgrad::optest;

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

TEST_CASE("gradcheck reports a wrong backward") {
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

TEST_CASE("gradcheck checks several outputs") {
  Tensor x = randn64({2, 3}, 510);
  TensorFn two = [](const std::vector<Tensor>& v) { return std::vector<Tensor>{exp(v[0]), sum(v[0], {1})}; };
  CHECK_GRAD(two, {x});
  TensorFn one_wrong = [](const std::vector<Tensor>& v) { return std::vector<Tensor>{exp(v[0]), wrong_triple(v[0])}; };
  CHECK_FALSE(gradcheck(one_wrong, {x}).ok);
}
