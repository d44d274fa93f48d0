// Grad-ready hooks (autograd/engine.h), which nn::DataParallel starts its bucket all-reduces from:
// one call per backward pass, after every edge into the leaf delivered, with the final gradient;
// also when a checkpointed segment's nested backward accumulates into the leaf.
#include <doctest/doctest.h>

#include <vector>

#include "autograd/engine.h"
#include "autograd/ops.h"

using namespace memgrad;

TEST_CASE("grad-ready hooks: once per pass, after every edge into the leaf delivered") {
  Generator g(4);
  Tensor w = randn({3}, DType::float64, &g).set_requires_grad();  // [3]
  std::vector<std::vector<double>> seen;
  const int64_t h = add_grad_ready_hook(w, [&](const Tensor& leaf) { seen.push_back(leaf.grad().to_vector<double>()); });
  Tensor y = sum(w * 2.0) + sum(w * w);  // two edges into w
  y.backward();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0] == w.grad().to_vector<double>());  // 2 + 2w: both edges were in
  remove_grad_ready_hook(h);
  w.set_grad(Tensor());
  sum(w * 3.0).backward();
  CHECK(seen.size() == 1);  // removed: not called again
}

TEST_CASE("grad-ready hooks: a checkpointed segment calls them once, with the final gradient") {
  Generator g(5);
  Tensor w = randn({4, 4}, DType::float64, &g).set_requires_grad();  // [4, 4], used inside and after
  Tensor x = randn({2, 4}, DType::float64, &g).set_requires_grad();  // [2, 4]
  auto segment = [w](const std::vector<Tensor>& in) { return std::vector<Tensor>{tanh(matmul(in[0], w))}; };
  auto loss = [&](bool ckpt) {
    Tensor h = ckpt ? checkpoint(segment, {x}, {w})[0] : segment({x})[0];  // [2, 4]
    return sum(matmul(h, w));  // w again outside the segment: two edges in the outer graph
  };
  loss(false).backward();
  const std::vector<double> plain = w.grad().to_vector<double>();
  w.set_grad(Tensor()), x.set_grad(Tensor());

  int calls = 0;
  std::vector<double> at_call;
  const int64_t h = add_grad_ready_hook(w, [&](const Tensor& leaf) {
    ++calls;
    at_call = leaf.grad().to_vector<double>();
  });
  loss(true).backward();
  remove_grad_ready_hook(h);
  CHECK(calls == 1);  // not once more from checkpoint's nested backward
  CHECK(at_call == w.grad().to_vector<double>());
  REQUIRE(at_call.size() == plain.size());
  for (size_t i = 0; i < plain.size(); ++i) CHECK(at_call[i] == doctest::Approx(plain[i]).epsilon(1e-12));
}
