// checkpoint(): the same gradients as without it, with fewer saved bytes.
#include <doctest/doctest.h>

#include "autograd/ops.h"

using namespace memgrad;

namespace {

// A block of several ops, each of which saves a tensor of x's size.
Tensor block(const Tensor& x, const Tensor& w) {
  Tensor h = tanh(x * w);
  h = sigmoid(h) * h;
  h = gelu(h + x);
  return exp(h * 0.5) * w;
}

std::vector<float> grad_values(const Tensor& t) { return contiguous(t.grad()).to_vector<float>(); }

}  // namespace

TEST_CASE("checkpoint gives the same gradients while saving fewer bytes") {
  const int64_t n = 1 << 16, bytes = n * 4;
  Generator gen(3);
  Tensor x0 = randn({n}, DType::float32, &gen).set_requires_grad();
  Tensor w0 = randn({n}, DType::float32, &gen).set_requires_grad();
  Tensor x1 = clone(detach(x0)).set_requires_grad();
  Tensor w1 = clone(detach(w0)).set_requires_grad();

  const int64_t base = memory::stats().current;
  Tensor plain = block(x0, w0);
  const int64_t plain_held = memory::stats().current - base;  // output + everything saved
  Tensor ck = checkpoint([](const std::vector<Tensor>& in) { return std::vector<Tensor>{block(in[0], in[1])}; },
                         {x1, w1})[0];
  const int64_t ck_held = memory::stats().current - base - plain_held;
  CHECK(ck_held == bytes);  // only the output: the inputs are saved by reference
  CHECK(plain_held >= 5 * bytes);  // tanh, sigmoid, gelu and exp each save one, plus the output
  CHECK(plain.to_vector<float>() == ck.to_vector<float>());

  sum(plain).backward();
  sum(ck).backward();
  CHECK(grad_values(x0) == grad_values(x1));
  CHECK(grad_values(w0) == grad_values(w1));
}

TEST_CASE("checkpoint replays random ops with the same numbers") {
  Tensor x0 = randn({1000}, DType::float64).set_requires_grad();
  Tensor x1 = clone(detach(x0)).set_requires_grad();
  auto fn = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{dropout(in[0], 0.5) * in[0]}; };
  manual_seed(11);
  Tensor a = fn({x0})[0];
  manual_seed(11);
  Tensor b = checkpoint(fn, {x1})[0];
  randn({10});  // move the generator on before backward
  sum(a).backward();
  sum(b).backward();
  CHECK(contiguous(x0.grad()).to_vector<double>() == contiguous(x1.grad()).to_vector<double>());
}

TEST_CASE("checkpoint passes gradients to params used inside and handles several outputs") {
  Tensor w = randn({3, 3}, DType::float64).set_requires_grad();
  Tensor x = randn({2, 3}, DType::float64);  // data: no grad
  auto fn = [&w](const std::vector<Tensor>& in) {
    Tensor h = matmul(in[0], w);
    return std::vector<Tensor>{tanh(h), h};
  };
  auto outs = checkpoint(fn, {x}, {w});
  REQUIRE(outs[0].requires_grad());
  sum(outs[0] + outs[1] * 2.0).backward();
  std::vector<double> ck = contiguous(w.grad()).to_vector<double>();
  w.set_grad(Tensor());
  auto ref = fn({x});
  sum(ref[0] + ref[1] * 2.0).backward();
  std::vector<double> plain = contiguous(w.grad()).to_vector<double>();
  REQUIRE(ck.size() == plain.size());
  for (size_t i = 0; i < ck.size(); ++i) CHECK(ck[i] == doctest::Approx(plain[i]).epsilon(1e-12));
}

TEST_CASE("checkpoint of an identity does not disturb its input") {
  Tensor x = randn({4}, DType::float64).set_requires_grad();
  Tensor y = checkpoint([](const std::vector<Tensor>& in) { return in; }, {x})[0];
  CHECK(x.is_leaf());
  sum(y * 3.0).backward();
  for (double g : x.grad().to_vector<double>()) CHECK(g == 3.0);
}

TEST_CASE("gradcheck through a checkpointed block") {
  Tensor x = randn({5}, DType::float64).set_requires_grad();
  Tensor w = randn({5}, DType::float64).set_requires_grad();
  auto r = gradcheck(
      [](const std::vector<Tensor>& in) {
        return checkpoint([](const std::vector<Tensor>& v) { return std::vector<Tensor>{block(v[0], v[1])}; }, in);
      },
      {x, w});
  INFO(r.message);
  CHECK(r.ok);
}
