// The backward engine: ordering, accumulation, graph lifetime, grad mode, detach, anomaly mode.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/node.h"
#include "autograd/ops.h"

using namespace memgrad;

namespace {
std::vector<double> values(const Tensor& t) { return contiguous(t).to_vector<double>(); }
}  // namespace

TEST_CASE("gradients of a small expression") {
  Tensor x = from_vector<double>({1, 2, 3}).set_requires_grad();
  Tensor y = sum(x * x * 3.0 + x);  // dy/dx = 6x + 1
  y.backward();
  CHECK(values(x.grad()) == std::vector<double>{7, 13, 19});
  CHECK(x.is_leaf());
  CHECK(!y.is_leaf());
  CHECK(y.grad_fn()->name() == "sum");
}

TEST_CASE("gradients accumulate across backward calls and into shared leaves") {
  Tensor x = from_vector<double>({1, -1}).set_requires_grad();
  sum(x * 2.0).backward();
  sum(x * 3.0).backward();
  CHECK(values(x.grad()) == std::vector<double>{5, 5});
  x.set_grad(Tensor());
  CHECK(!x.grad().defined());
  // a leaf used by both inputs of add receives two separate gradients
  Tensor a = from_vector<double>({2}).set_requires_grad();
  Tensor b = from_vector<double>({5}).set_requires_grad();
  sum(a + b).backward();
  CHECK(!a.grad().shares_storage(b.grad()));
}

TEST_CASE("each node runs once in a diamond") {
  int calls = 0;
  Tensor x = from_vector<double>({1.5}).set_requires_grad();
  // a custom op that counts its backward runs
  Tensor y = finish("count", {x}, clone(detach(x)), [&calls](const Tensor& g) {
    ++calls;
    return std::vector<Tensor>{g};
  });
  Tensor z = sum(y * y + y * 2.0 + exp(y));  // y feeds three consumers
  z.backward();
  CHECK(calls == 1);
  CHECK(x.grad().item<double>() == doctest::Approx(2 * 1.5 + 2 + std::exp(1.5)));
}

TEST_CASE("a second backward through a freed graph is a clear error") {
  Tensor x = from_vector<double>({1, 2}).set_requires_grad();
  Tensor y = sum(exp(x));
  y.backward();
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("retain_graph"), Error);
  Tensor z = sum(exp(x));
  x.set_grad(Tensor());
  z.backward({}, true);
  z.backward();
  CHECK(values(x.grad())[0] == doctest::Approx(2 * std::exp(1.0)));
}

TEST_CASE("non-scalar roots need an explicit gradient") {
  Tensor x = from_vector<double>({1, 2, 3}).set_requires_grad();
  Tensor y = x * 2.0;
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("[backward] a gradient can be implied only for one-element"),
                       Error);
  y.backward(from_vector<double>({1, 0, -1}));
  CHECK(values(x.grad()) == std::vector<double>{2, 0, -2});
  CHECK_THROWS_WITH_AS(y.backward(ones({2}, DType::float64)), doctest::Contains("[2]"), Error);
}

TEST_CASE("no_grad, detach and requires_grad rules") {
  Tensor x = randn({3}, DType::float64).set_requires_grad();
  {
    NoGradGuard ng;
    Tensor y = exp(x);
    CHECK(!y.requires_grad());
    CHECK(!grad_enabled());
  }
  CHECK(grad_enabled());
  Tensor d = detach(x);
  CHECK(d.shares_storage(x));
  CHECK(!d.requires_grad());
  Tensor y = x * d;  // gradient flows through x only: dy/dx = d
  sum(y).backward();
  CHECK(values(x.grad()) == values(d));
  CHECK_THROWS_WITH_AS(from_vector<int64_t>({1}).set_requires_grad(), doctest::Contains("only float tensors"), Error);
}

TEST_CASE("backward of a leaf root and of untracked tensors") {
  Tensor c = ones({2});
  CHECK_THROWS_WITH_AS(sum(c).backward(), doctest::Contains("does not require grad"), Error);
}

TEST_CASE("a very deep graph neither overflows the stack in backward nor when destroyed") {
  Tensor x = from_vector<double>({0.5}).set_requires_grad();
  Tensor h = x;
  for (int i = 0; i < 200000; ++i) h = h * 1.0;
  sum(h).backward();
  CHECK(x.grad().item<double>() == 1.0);
  Tensor g = x;
  for (int i = 0; i < 200000; ++i) g = g + 0.0;
  g = Tensor();  // never ran backward: the whole chain is destroyed here
  CHECK(!g.defined());
}

TEST_CASE("anomaly mode names the op that produced a non-finite value") {
  AnomalyGuard on;
  Tensor x = from_vector<double>({-1.0, 4.0}).set_requires_grad();
  CHECK_THROWS_WITH_AS(log(x), doctest::Contains("forward of 'log' produced a non-finite value"), Error);
  Tensor z = from_vector<double>({0.0, 4.0}).set_requires_grad();
  Tensor y = sum(sqrt(z));  // finite forward, infinite gradient at 0
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("backward of 'sqrt' produced a non-finite gradient"), Error);
}

TEST_CASE("without anomaly mode the same code runs through") {
  Tensor x = from_vector<double>({-1.0, 4.0});
  Tensor y = log(x);
  CHECK(std::isnan(y.to_vector<double>()[0]));
}

TEST_CASE("grads of ints are refused, float32 leaves work") {
  Tensor w = randn({4, 3}).set_requires_grad();
  Tensor x = randn({2, 4});
  Tensor l = mean(matmul(x, w));
  l.backward();
  CHECK(w.grad().dtype() == DType::float32);
  CHECK(w.grad().shape() == Shape{4, 3});
}
