// Gradient checks of every view op, cat/stack, copies and dtype conversions, and a deeper graph
// that mixes many ops (shared inputs, views of views, non-contiguous intermediate gradients).
#include <doctest/doctest.h>

#include <vector>

#include "autograd/ops.h"
#include "ops_test_util.h"

using namespace memgrad;
using namespace memgrad::optest;

namespace {
using Fn1 = std::function<Tensor(const Tensor&)>;
}

TEST_CASE("ops grad: every view op, on contiguous and strided inputs") {
  struct Case {
    const char* name;
    Fn1 op;
  };
  // all take a [2, 3, 4] input
  std::vector<Case> cases = {
      {"reshape", [](const Tensor& t) { return reshape(t, {4, 6}); }},
      {"reshape -1", [](const Tensor& t) { return reshape(t, {-1, 2}); }},
      {"reshape 1-d", [](const Tensor& t) { return reshape(t, {24}); }},
      {"view", [](const Tensor& t) { return view(contiguous(t), {3, 8}); }},
      {"flatten", [](const Tensor& t) { return flatten(t); }},
      {"flatten 1", [](const Tensor& t) { return flatten(t, 1); }},
      {"flatten 0..1", [](const Tensor& t) { return flatten(t, 0, 1); }},
      {"transpose", [](const Tensor& t) { return transpose(t, 0, 2); }},
      {"transpose -1 -2", [](const Tensor& t) { return transpose(t, -1, -2); }},
      {"permute", [](const Tensor& t) { return permute(t, {2, 0, 1}); }},
      {"narrow", [](const Tensor& t) { return narrow(t, 2, 1, 2); }},
      {"narrow 0", [](const Tensor& t) { return narrow(t, 0, 1, 1); }},
      {"slice", [](const Tensor& t) { return slice(t, 1, 1, 3); }},
      {"slice step", [](const Tensor& t) { return slice(t, 2, 0, 4, 3); }},
      {"slice negative", [](const Tensor& t) { return slice(t, -1, -3, 100, 2); }},
      {"select", [](const Tensor& t) { return select(t, 1, 2); }},
      {"select negative", [](const Tensor& t) { return select(t, -1, -4); }},
      {"expand", [](const Tensor& t) { return expand(narrow(t, 1, 0, 1), {2, 5, 4}); }},
      {"expand leading", [](const Tensor& t) { return expand(t, {3, 2, 3, 4}); }},
      {"expand -1", [](const Tensor& t) { return expand(unsqueeze(t, 1), {-1, 2, -1, -1}); }},
      {"squeeze", [](const Tensor& t) { return squeeze(narrow(t, 0, 1, 1)); }},
      {"squeeze dim", [](const Tensor& t) { return squeeze(narrow(t, 1, 2, 1), 1); }},
      {"squeeze noop", [](const Tensor& t) { return squeeze(t, 0); }},
      {"unsqueeze", [](const Tensor& t) { return unsqueeze(t, 1); }},
      {"unsqueeze last", [](const Tensor& t) { return unsqueeze(t, -1); }},
      {"views of views", [](const Tensor& t) { return reshape(transpose(slice(t, 2, 1, 4), 0, 1), {3, -1}); }},
      {"select twice", [](const Tensor& t) { return select(select(t, 2, 1), 0, 1); }},
  };
  Tensor x = randn64({2, 3, 4}, 1);
  Tensor xp = leaf(permute(raw64({4, 2, 3}, 2), {1, 2, 0}));  // [2, 3, 4], non-contiguous
  Tensor xs = leaf(slice(raw64({2, 3, 8}, 3), 2, 1, 8, 2));   // [2, 3, 4], stride 2 inside rows
  for (const auto& c : cases)
    for (const Tensor& in : {x, xp, xs}) {
      CAPTURE(c.name);
      CAPTURE(str(in.strides()));
      TensorFn f = fn1([&](const std::vector<Tensor>& v) { return c.op(v[0]); });
      CHECK_GRAD(f, {in});
      // followed by an op whose backward needs the values (the view's gradient is not all ones)
      CHECK_GRAD(fn1([&](const std::vector<Tensor>& v) { return exp(c.op(v[0])) * c.op(v[0]); }), {in});
    }
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return reshape(v[0], {1, 1}); }), {randn64({}, 4)});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return reshape(v[0], {}); }), {randn64({1, 1}, 5)});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return flatten(v[0]); }), {randn64({}, 6)});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return unsqueeze(v[0], 0); }), {randn64({}, 7)});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return expand(v[0], {3, 2}); }), {randn64({}, 8)});
}

TEST_CASE("ops grad: a view used twice and overlapping slices accumulate") {
  Tensor x = randn64({4, 5}, 10);
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) {
               return narrow(v[0], 0, 0, 3) * narrow(v[0], 0, 1, 3) + sum(slice(v[0], 0, 0, 4, 2));
             }),
             {x});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return v[0] * transpose(transpose(v[0], 0, 1), 0, 1); }), {x});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return matmul(v[0], transpose(v[0], 0, 1)); }), {x});
}

TEST_CASE("ops grad: cat and stack along each dim") {
  Tensor a = randn64({2, 3, 2}, 20), b = randn64({2, 1, 2}, 21);
  Tensor c = leaf(transpose(raw64({2, 2, 2}, 22), 0, 2));  // non-contiguous
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return cat({v[0], v[1], v[2]}, 1); }), {a, b, c});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return cat({v[0], v[1], v[2]}, -2); }), {a, b, detach(c)});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return cat({v[0], v[0]}, 0); }), {a});  // an input used twice
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return cat({v[0], v[1]}, 2); }),
             {randn64({2, 3, 1}, 23), randn64({2, 3, 4}, 24)});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return cat({v[0]}, 0); }), {a});
  Tensor p = randn64({2, 3}, 25), q = leaf(transpose(raw64({3, 2}, 26), 0, 1)), r = randn64({2, 3}, 27);
  for (int64_t dim : {0, 1, 2, -1}) {
    CAPTURE(dim);
    CHECK_GRAD(fn1([&](const std::vector<Tensor>& v) { return stack({v[0], v[1], v[2]}, dim); }), {p, q, r});
  }
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return stack({v[0], v[1]}); }), {randn64({}, 28), randn64({}, 29)});
  // a mixed cat: one input needs no gradient
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return cat({v[0], v[1]}, 0) * 2.0; }), {detach(p), r});
}

TEST_CASE("ops grad: to(dtype) round trips, clone, contiguous") {
  Tensor x = randn64({2, 3}, 30);
  // float64 -> float32 -> float64 rounds: a larger step keeps the differences above float32 noise
  GradcheckOptions coarse;
  coarse.eps = 1e-2;
  coarse.atol = 1e-4;
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return to(to(v[0], DType::float32), DType::float64); }), {x},
             coarse);
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return to(v[0], DType::float64) * v[0]; }), {x});
  // the gradient comes back in the input's dtype
  Tensor f = leaf(from_vector<float>({1, 2, 3}));
  Tensor y = to(f, DType::float64) * from_vector<double>({2, 3, 4});
  sum(y).backward();
  CHECK(f.grad().dtype() == DType::float32);
  CHECK(vals(f.grad()) == Vec{2, 3, 4});
  Tensor d = leaf(from_vector<double>({1, 2}));
  sum(to(d, DType::float32) * 3.0).backward();
  CHECK(d.grad().dtype() == DType::float64);
  CHECK(vals(d.grad()) == Vec{3, 3});
  // to an integer type cuts the graph
  CHECK_FALSE(to(d, DType::int64).requires_grad());

  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return clone(v[0]); }), {x});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return clone(transpose(v[0], 0, 1)) * v[1]; }),
             {x, randn64({3, 1}, 31)});
  Tensor xt = leaf(transpose(raw64({3, 2}, 32), 0, 1));
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return contiguous(v[0]); }), {xt});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return contiguous(v[0]) * v[0]; }), {x});
  // detach: no gradient through the detached factor (not a gradcheck: it shares x's storage)
  x.set_grad(Tensor());
  sum(x * detach(x)).backward();
  CHECK(vals(x.grad()) == vals(x));
}

TEST_CASE("ops grad: a deeper graph mixing many ops") {
  // a tiny attention block followed by a classifier: shared weights, views, reductions, losses
  Tensor x = randn64({2, 3, 4}, 40), wq = randn64({4, 4}, 41), wk = randn64({4, 4}, 42), wv = randn64({4, 4}, 43);
  Tensor g = randn64({4}, 44), b = randn64({4}, 45), wo = randn64({4, 3}, 46);
  Tensor target = from_vector<int64_t>({2, 0, 1, 1, -100, 0});
  TensorFn f = fn1([&](const std::vector<Tensor>& v) {
    Tensor h = layer_norm(v[0], v[4], v[5]);
    Tensor q = matmul(h, v[1]), k = matmul(h, v[2]), val = matmul(h, v[3]);
    Tensor s = matmul(q, transpose(k, -1, -2)) / 2.0;
    Tensor causal = from_vector<bool>({false, true, true, false, false, true, false, false, false}, {3, 3});
    Tensor p = softmax(masked_fill(s, causal, -1e9), -1);
    Tensor o = matmul(p, val) + v[0];
    Tensor logits = matmul(gelu(reshape(o, {6, 4})), v[6]);
    CrossEntropyOptions opt;
    opt.label_smoothing = 0.1;
    return cross_entropy(logits, target, opt) + mean(pow(o, 2.0)) * 0.1;
  });
  CHECK_GRAD(f, {x, wq, wk, wv, g, b, wo});
}
