// Op semantics a table row cannot express (tests/op_table.h runs every op's values, views,
// gradients and errors): the subgradients taken at kinks and ties, numerical stability at extreme
// logits and -inf entries, what shares storage, and gradients through graphs that reuse tensors.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autograd/ops.h"
#include "backends/backend.h"
#include "ops_test_util.h"

using namespace memgrad;
using namespace memgrad::optest;

// ---- kinks and ties --------------------------------------------------------------------------------

TEST_CASE("ops semantics: kinks and ties take the documented subgradient") {
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

TEST_CASE("ops semantics: linear's activations take relu's and gelu's gradients at 0 and NaN") {
  // linear + relu reads the derivative from its output (relu(pre) > 0 exactly where pre > 0): the
  // same values and gradients as relu(x W^T + b) at pre-activations exactly 0, NaN and both signs
  for (Activation act : {Activation::relu, Activation::gelu}) {
    auto run = [act](bool fused) {
      Tensor x = leaf(from_vector<double>({1, 2, NAN, 1, -1, 0.5, 3, 0}, {4, 2}));
      Tensor w = leaf(from_vector<double>({1, 1, 2, -1}, {2, 2})), b = leaf(from_vector<double>({-3, 0}, {2}));
      Tensor pre = matmul(x, transpose(w, 0, 1)) + b;  // rows: (0, 0), (NaN, NaN), (-3.5, -2.5), (0, 6)
      Tensor y = fused ? linear(x, w, b, act) : (act == Activation::relu ? relu(pre) : gelu(pre));
      sum(y * from_vector<double>({1, 2, 3, 4, 5, 6, 7, 8}, {4, 2})).backward();
      return std::vector<Vec>{vals(y), vals(x.grad()), vals(w.grad()), vals(b.grad())};
    };
    const auto fused = run(true), plain = run(false);
    for (size_t k = 0; k < fused.size(); ++k)
      for (size_t i = 0; i < fused[k].size(); ++i) {
        const double f = fused[k][i], p = plain[k][i];
        CHECK_MESSAGE((std::isnan(f) ? std::isnan(p) : std::fabs(f - p) <= 1e-15 * (1 + std::fabs(p))),
                      "output/grad ", k, " element ", i, ": fused ", f, ", unfused ", p);
      }
  }
}

TEST_CASE("ops semantics: amax/amin share the gradient evenly among ties") {
  Tensor x = leaf(from_vector<double>({1, 3, 3, 0, 2, -1}, {2, 3}));
  amax(x, {1}).backward(from_vector<double>({2, 5}));
  CHECK(vals(x.grad()) == Vec{0, 1, 1, 0, 5, 0});
  Tensor y = leaf(from_vector<double>({1, 1, 1, 1}));
  sum(amin(y)).backward();
  CHECK(vals(y.grad()) == Vec{0.25, 0.25, 0.25, 0.25});
}

TEST_CASE("ops semantics: amax of a row all -inf is -inf, amin of a row all +inf is +inf (as torch)") {
  for (DType dt : {DType::float32, DType::float64}) {
    const Tensor ninf = full({2, 3}, -INFINITY, dt), pinf = full({2, 3}, INFINITY, dt);
    for (double v : to(amax(ninf, {1}), DType::float64).to_vector<double>()) CHECK(v == -INFINITY);
    for (double v : to(amin(pinf, {1}), DType::float64).to_vector<double>()) CHECK(v == INFINITY);
    CHECK(to(amax(ninf), DType::float64).item<double>() == -INFINITY);
    CHECK(to(max(pinf * -1.0, 0).values, DType::float64).to_vector<double>()[0] == -INFINITY);
  }
}

TEST_CASE("ops semantics: max/min over a dim pick the first of tied values and route the whole gradient there") {
  Tensor t = leaf(from_vector<double>({2, 5, 5, 1}, {1, 4}));
  ValuesIndices r = max(t, 1);
  CHECK(r.indices.item<int64_t>() == 1);
  r.values.backward(from_vector<double>({3}));
  CHECK(vals(t.grad()) == Vec{0, 3, 0, 0});
  Tensor u = from_vector<float>({1, 3, 3, 0, 2, 0, 0, 1}, {2, 4});
  CHECK(vals(argmax(u, 1)) == Vec{1, 0});       // row 0: 3 at 1 and 2
  CHECK(vals(min(u, 1).indices) == Vec{3, 1});  // row 1: 0 at 1 and 2
}

// ---- extreme values ----------------------------------------------------------------------------------

TEST_CASE("ops semantics: softmax and cross_entropy stay finite at huge logits") {
  Tensor big = from_vector<float>({1000.f, 999.f, -1000.f});
  CHECK(all_finite(softmax(big, 0)));
  CHECK(all_finite(log_softmax(big, 0)));
  const double e1 = std::exp(-1.0);
  CHECK_VALUES(softmax(big, 0), (Vec{1 / (1 + e1), e1 / (1 + e1), 0}), 1e-6);
  CHECK_VALUES(log_softmax(big, 0), (Vec{-std::log1p(e1), -1 - std::log1p(e1), -2000 - std::log1p(e1)}), 1e-5);
  Tensor logits = from_vector<float>({1000.f, -1000.f, 0.f, 500.f}, {2, 2});
  Tensor l = cross_entropy(logits, from_vector<int64_t>({1, 0}));
  CHECK(all_finite(l));
  CHECK(l.item<float>() == doctest::Approx((2000.0 + 500.0) / 2));
}

TEST_CASE("ops semantics: softmax with -inf entries and fully masked rows") {
  for (DType dt : kFloats) {
    CAPTURE(to_string(dt));
    Tensor x = to(from_vector<double>({0, -INFINITY, 1, -INFINITY, -INFINITY, -INFINITY, -100, 0, -1000}, {3, 3}), dt);
    Vec p = vals(softmax(x, 1));
    const double e = std::exp(1.0);
    CHECK_VALUES(narrow(softmax(x, 1), 0, 0, 1), (Vec{1 / (1 + e), 0, e / (1 + e)}), tol(dt));
    CHECK(p[3] == 0);  // a fully masked row gives zeros, not NaN
    CHECK(p[4] == 0);
    CHECK(p[5] == 0);
    Vec lp = vals(log_softmax(narrow(x, 0, 0, 1), 1));
    CHECK(lp[1] == -INFINITY);
    CHECK(lp[0] == doctest::Approx(-std::log(1 + e)));
  }
}

// ---- storage ---------------------------------------------------------------------------------------------

TEST_CASE("ops semantics: no-op conversions and dropout when not training return their input") {
  Tensor f = from_vector<float>({1, 2, 3});
  CHECK(to(f, DType::float32).shares_storage(f));
  CHECK(to(f, Device::cpu()).shares_storage(f));
  CHECK(dropout(f, 0.3, false).shares_storage(f));
  CHECK(dropout(f, 0.0).shares_storage(f));
  Tensor x = randn64({3}, 21);
  Tensor y = detach(x * 2.0);
  CHECK_FALSE(y.requires_grad());
  CHECK(y.is_leaf());
  CHECK_FALSE(to(x, DType::int64).requires_grad());  // a conversion to integers cuts the graph
}

// ---- graphs that reuse tensors -------------------------------------------------------------------------

TEST_CASE("ops semantics: a view used twice and overlapping slices accumulate") {
  Tensor x = randn64({4, 5}, 10);
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) {
               return narrow(v[0], 0, 0, 3) * narrow(v[0], 0, 1, 3) + sum(slice(v[0], 0, 0, 4, 2));
             }),
             {x});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return v[0] * transpose(transpose(v[0], 0, 1), 0, 1); }), {x});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return matmul(v[0], transpose(v[0], 0, 1)); }), {x});
  Tensor w = randn64({3, 3}, 460), a = randn64({2, 3}, 461);
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return matmul(matmul(v[1], v[0]), v[0]); }), {w, a});
  // detach: no gradient through the detached factor (not a gradcheck: it shares x's storage)
  x.set_grad(Tensor());
  sum(x * detach(x)).backward();
  CHECK(vals(x.grad()) == vals(x));
  // gradients come back in the input's dtype through conversions
  Tensor f = leaf(from_vector<float>({1, 2, 3}));
  sum(to(f, DType::float64) * from_vector<double>({2, 3, 4})).backward();
  CHECK(f.grad().dtype() == DType::float32);
  CHECK(vals(f.grad()) == Vec{2, 3, 4});
}

TEST_CASE("ops semantics: a deeper graph mixing many ops") {
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

TEST_CASE("backend matmul: accumulate adds a @ b to out (transposed views, tall, wide and batched, K = 0)") {
  Backend& be = backend_for(Device::cpu());
  Generator g(11);
  struct Case {
    Shape a, b;
    bool ta, tb;
  };
  // tall (rows split over the threads), wide (OpenBLAS's threading), batched, transposed operands
  for (const Case& c : {Case{{300, 7}, {7, 5}, false, false}, Case{{3, 40}, {40, 90}, false, false},
                        Case{{4, 6, 9}, {4, 9, 3}, false, false}, Case{{9, 6}, {5, 9}, true, true},
                        Case{{300, 0}, {0, 5}, false, false}}) {
    for (DType t : {DType::float32, DType::float64}) {
      Tensor a = randn(c.a, t, &g), b = randn(c.b, t, &g);
      if (c.ta) a = transpose(a, -2, -1);
      if (c.tb) b = transpose(b, -2, -1);
      Tensor out0 = randn(matmul(a, b).shape(), t, &g);
      Tensor out = contiguous(out0 + 0.0);  // a copy that the backend adds into
      be.matmul(a, b, out, true);
      const Tensor want = out0 + matmul(a, b);
      CHECK(optest::mismatch(vals(out), vals(want), tol(t), tol(t)) == "");
      be.matmul(a, b, out);  // without: overwritten
      CHECK(optest::mismatch(vals(out), vals(matmul(a, b)), 0, 0) == "");
    }
  }
}

TEST_CASE("backend linear_epilogue_backward: act_out is the forward's activation, made in act' 's pass") {
  // feed_forward's backward takes the recomputed activation from the derivative's pass (backend.h):
  // the same bits as linear_epilogue's output, and the gradient the same as without act_out
  Backend& be = backend_for(Device::cpu());
  for (DType t : {DType::float32, DType::float64})
    for (Activation act : {Activation::gelu, Activation::relu}) {
      CAPTURE(to_string(t));
      const int64_t R = 70, C = 37;
      const Tensor pre = rnd({R, C}, t, 5) * 3.0, g = rnd({R, C}, t, 6), none;
      Tensor y = contiguous(pre + 0.0), h_fwd = empty({R, C}, t);
      be.linear_epilogue(act, y, none, h_fwd);  // y stays pre (no bias)
      Tensor gp = empty({R, C}, t), gp2 = empty({R, C}, t), h = empty({R, C}, t), nb, nb2;
      be.linear_epilogue_backward(act, pre, g, gp, nb, nb2);
      be.linear_epilogue_backward(act, pre, g, gp2, nb, h);
      CHECK(optest::mismatch(vals(h), vals(h_fwd), 0, 0) == "");
      CHECK(optest::mismatch(vals(gp2), vals(gp), 0, 0) == "");
    }
}
