// In-place writes and version counters: every write through memgrad's in-place ops bumps the
// storage version; backward refuses a tensor saved before such a write (naming the op and the
// tensor) instead of computing with the new values; the ops refuse writes autograd cannot follow.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "autograd/ops.h"
#include "nn/layers.h"
#include "nn/optim/adam.h"
#include "nn/optim/clip.h"
#include "nn/optim/sgd.h"
#include "tests/error_test_util.h"

using namespace memgrad;

namespace {
Tensor rnd(const Shape& s, uint64_t seed, DType dt = DType::float32) {
  Generator g(seed);
  return randn(s, dt, &g);
}
std::vector<float> fvals(const Tensor& t) { return contiguous(t).to_vector<float>(); }
}  // namespace

TEST_CASE("inplace: every in-place op bumps its storage's version, views share it") {
  Tensor t = rnd({3, 4}, 1);
  Tensor v = narrow(t, 0, 1, 2);
  const uint64_t v0 = t.storage()->version();
  copy_(v, ones({2, 4}));
  fill_(t, 2.0);
  zero_(v);
  add_(t, ones({4}), 3.0);
  sub_(t, ones({1}));
  mul_(v, scalar(2.0));
  mul_(t, 0.5);
  div_(t, full({3, 4}, 4.0));
  CHECK(t.storage()->version() == v0 + 8);
  CHECK(v.storage()->version() == t.storage()->version());
  // the values: row 0 = ((2 + 3 - 1) * 0.5) / 4 = 0.5; rows 1-2 = ((0 + 3 - 1) * 2 * 0.5) / 4 = 0.5
  for (float x : fvals(t)) CHECK(x == doctest::Approx(0.5));
  // broadcasting, dtype conversion and a non-contiguous destination
  Tensor d = transpose(zeros({4, 3}, DType::float64), 0, 1);  // [3, 4], strided
  copy_(d, from_vector<float>({1, 2, 3, 4}));
  CHECK(contiguous(d).to_vector<double>() == std::vector<double>{1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4});
  Tensor i = zeros({3}, DType::int64);
  fill_(i, 7);
  add_(i, from_vector<int64_t>({1, 2, 3}));
  CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{8, 9, 10});
}

TEST_CASE("inplace: an overlapping copy reads everything before writing") {
  Tensor t = from_vector<float>({0, 1, 2, 3, 4});
  copy_(narrow(t, 0, 1, 4), narrow(t, 0, 0, 4));  // shift right by one
  CHECK(fvals(t) == std::vector<float>{0, 0, 1, 2, 3});
}

TEST_CASE("inplace: a write after use makes backward fail, naming the op and the tensor") {
  // the example: y = (w * x).sum(); x += 100; y.backward()
  Tensor w = rnd({3}, 2).set_requires_grad();
  Tensor x = rnd({3}, 3);
  Tensor y = sum(mul(w, x));
  add_(x, full({3}, 100.0));
  check_error([&] { y.backward(); }, {"backward of mul", "input 1", "shape [3]", "modified by an in-place operation",
                                     "version 0 when saved, 1 now"});
  CHECK_FALSE(w.grad().defined());  // nothing was accumulated from the stale values

  // a write through a view of a saved tensor counts too
  Tensor a = rnd({2, 3}, 4).set_requires_grad();
  Tensor b = rnd({3, 2}, 5);
  Tensor loss = sum(matmul(a, b));
  fill_(select(b, 0, 1), 0.0);
  check_error([&] { loss.backward(); }, {"backward of matmul", "input 1", "shape [3, 2]"});

  // a saved output written under no_grad
  Tensor e = rnd({4}, 6).set_requires_grad();
  Tensor out = exp(e);
  {
    NoGradGuard ng;
    mul_(out, 2.0);
  }
  check_error([&] { sum(out).backward(); }, {"backward of exp", "output 0"});
}

TEST_CASE("inplace: writes that no saved tensor sees are fine, and the gradient is right") {
  Tensor w = rnd({3}, 7).set_requires_grad();
  Tensor x = rnd({3}, 8);
  Tensor y = sum(add(w, x));  // add saves neither input
  add_(x, full({3}, 100.0));
  y.backward();
  for (float g : fvals(w.grad())) CHECK(g == 1.0f);
  // a write before the forward op is fine: the op saves the new version
  Tensor w2 = rnd({3}, 9).set_requires_grad();
  Tensor x2 = rnd({3}, 10);
  mul_(x2, 2.0);
  sum(mul(w2, x2)).backward();
  CHECK(fvals(w2.grad()) == fvals(x2));
}

TEST_CASE("inplace: an optimizer step between forward and backward is caught") {
  nn::Linear lin(4, 2);
  Tensor x = rnd({3, 4}, 11).set_requires_grad();  // then the weight is saved (for x's gradient)
  Tensor loss = sum(lin.forward(x));
  sum(lin.forward(x)).backward();  // gradients for the step
  optim::SGD opt(lin.parameters(), {.lr = 0.1});
  opt.step();
  check_error([&] { loss.backward(); }, {"backward of", "modified by an in-place operation"});
  // Adam, clipping and state loading bump versions too
  optim::Adam adam(lin.parameters(), {});
  const uint64_t v = lin.weight.storage()->version();
  adam.step();
  CHECK(lin.weight.storage()->version() == v + 1);
  optim::clip_grad_norm(lin.parameters(), 1e-3);
  nn::Linear other(4, 2);
  lin.load_state_dict(other.state_dict());
  CHECK(lin.weight.storage()->version() == v + 2);
  CHECK(fvals(lin.weight) == fvals(other.weight));
}

TEST_CASE("inplace: retain_graph does not excuse a write between two backward passes") {
  Tensor w = rnd({3}, 12).set_requires_grad();
  Tensor x = rnd({3}, 13);
  Tensor y = sum(mul(w, x));
  y.backward(Tensor(), true);
  zero_(x);
  check_error([&] { y.backward(); }, {"backward of mul", "input 1"});
}

TEST_CASE("inplace: a checkpointed input written before backward is caught") {
  Tensor x = rnd({2, 3}, 14);
  Tensor w = rnd({3, 3}, 15).set_requires_grad();
  auto outs = checkpoint([&](const std::vector<Tensor>& in) { return std::vector<Tensor>{matmul(in[0], w)}; }, {x},
                         {w});
  fill_(x, 1.0);
  check_error([&] { sum(outs[0]).backward(); }, {"backward of checkpoint", "input 0"});
}

TEST_CASE("inplace: memory memgrad does not own is copied when saved, so writes to it cannot change gradients") {
  // a Storage over external memory, as Python's from_numpy makes one over a numpy array's buffer
  auto buf = std::make_shared<std::vector<float>>(std::vector<float>{1, 2, 3});
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(buf->data(), buf->size() * sizeof(float), Device::cpu(), buf);
  impl->shape = {3};
  impl->strides = {1};
  Tensor x(impl);
  Tensor w = rnd({3}, 16).set_requires_grad();
  Tensor y = sum(mul(w, x));
  (*buf)[0] = 100;  // written behind memgrad's back: no version to bump
  y.backward();
  CHECK(fvals(w.grad()) == std::vector<float>{1, 2, 3});  // the values the forward pass saw
  // without a graph nothing is copied: the next op reads the memory as it is now
  NoGradGuard ng;
  CHECK(sum(x).item<float>() == 105);
}

TEST_CASE("inplace: refused writes") {
  Tensor p = rnd({3}, 17).set_requires_grad();
  check_error([&] { fill_(p, 0.0); }, {"[fill_]", "requires grad", "grad mode is on"});
  check_error([&] { add_(p, ones({3})); }, {"[add_]", "requires grad"});
  Tensor h = p * 2.0;  // a non-leaf that requires grad
  check_error([&] { copy_(h, ones({3})); }, {"[copy_]", "requires grad"});
  check_error([&] { copy_(narrow(p, 0, 0, 1), ones({1})); }, {"[copy_]", "requires grad"});
  {
    NoGradGuard ng;  // allowed: optimizer-style updates of leaves
    fill_(p, 1.0);
  }
  CHECK(fvals(p) == std::vector<float>{1, 1, 1});
  Tensor buf = zeros({3});
  check_error([&] { copy_(buf, p); }, {"[copy_]", "the source", "requires grad", "detach()"});
  copy_(buf, detach(p));
  Tensor e = expand(zeros({1, 3}), {4, 3});
  check_error([&] { fill_(e, 1.0); }, {"[fill_]", "expanded view", "stride 0 in dim 0"});
  check_error([&] { copy_(zeros({2, 3}), ones({3, 3})); }, {"[copy_]", "cannot"});
  check_error([&] { copy_(Tensor(), ones({1})); }, {"[copy_]", "undefined"});
  check_error([&] { mul_(zeros({2}), ones({3})); }, {"[mul_]", "[2]", "[3]"});
  check_error([&] { fill_(zeros({2}, DType::int32), INFINITY); }, {"[fill]", "int32", "inf"});
  // a refused write leaves the version alone
  Tensor q = zeros({2});
  const uint64_t v = q.storage()->version();
  CHECK_THROWS(add_(q, ones({5})));
  CHECK(q.storage()->version() == v);
}

TEST_CASE("inplace: optimizer step ops check their arguments once, for every backend") {
  Tensor p = rnd({2, 3}, 18), g = rnd({2, 3}, 19);
  NoGradGuard ng;
  check_error([&] { sgd_step_(p, rnd({3, 2}, 20), Tensor(), {}); }, {"[sgd_step]", "gradient [3, 2]", "[2, 3]"});
  check_error([&] { sgd_step_(p, g, Tensor(), {.momentum = 0.9}); }, {"[sgd_step]", "momentum_buffer", "undefined"});
  check_error([&] { sgd_step_(transpose(rnd({3, 2}, 21), 0, 1), g, Tensor(), {}); }, {"[sgd_step]", "contiguous"});
  check_error([&] { adam_step_(p, g, zeros({2, 3}), zeros({3}), {}); }, {"[adam_step]", "exp_avg_sq"});
  check_error([&] { adam_step_(p, g, zeros({2, 3}), zeros({2, 3}), {.step = 0}); }, {"[adam_step]", "step counts"});
  check_error([&] { sgd_step_(zeros({2}, DType::int64), zeros({2}, DType::int64), Tensor(), {}); },
              {"[sgd_step]", "int64"});
}
