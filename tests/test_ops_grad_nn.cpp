// Gradient checks of the neural-network ops: softmax/log_softmax, where/masked_fill, layer_norm,
// dropout, index_select/gather/embedding, cross_entropy. Then, on inputs large enough for the
// kernels' multi-threaded paths, the fused ops' gradients against compositions of primitive ops.
#include <doctest/doctest.h>

#include <vector>

#include "autograd/ops.h"
#include "ops_test_util.h"

using namespace memgrad;
using namespace memgrad::optest;

TEST_CASE("ops grad: softmax and log_softmax over each dim, strided inputs") {
  Tensor x = randn64({2, 3, 4}, 1);
  Tensor xp = leaf(permute(raw64({3, 4, 2}, 2), {2, 0, 1}));
  for (const Tensor& in : {x, xp})
    for (int64_t dim : {0, 1, 2, -1})
      for (bool log : {false, true}) {
        CAPTURE(dim);
        CAPTURE(log);
        CAPTURE(in.is_contiguous());
        CHECK_GRAD(fn1([&](const std::vector<Tensor>& v) { return log ? log_softmax(v[0], dim) : softmax(v[0], dim); }),
                   {in});
      }
  // composed with other ops (a non-contiguous upstream gradient)
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return transpose(softmax(v[0] * 2.0, 0), 0, 1) * v[1]; }),
             {randn64({3, 4}, 3), randn64({4, 3}, 4)});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return softmax(v[0], 0); }), {randn64({5}, 5)});
}

TEST_CASE("ops grad: where and masked_fill, with broadcasting") {
  Tensor cond = gt(raw64({2, 1, 4}, 10), scalar(0.0, DType::float64));
  for (const auto& shape_pair : std::vector<std::pair<Shape, Shape>>{{{3, 4}, {2, 3, 1}}, {{2, 3, 4}, {}}, {{4}, {1, 4}}}) {
    const Shape &sa = shape_pair.first, &sb = shape_pair.second;  // not a structured binding: clang < 16 cannot capture one
    CAPTURE(str(sa));
    CAPTURE(str(sb));
    Tensor a = randn64(sa, 11), b = randn64(sb, 12);
    CHECK_GRAD(fn1([&](const std::vector<Tensor>& v) { return where(cond, v[0], v[1]); }), {a, b});
    CHECK_GRAD(fn1([&](const std::vector<Tensor>& v) { return where(cond, v[0], v[1]); }), {a, detach(b)});
  }
  Tensor x = randn64({3, 4}, 13);
  Tensor mask = from_vector<bool>({true, false, false, true}, {1, 4});
  CHECK_GRAD(fn1([&](const std::vector<Tensor>& v) { return masked_fill(v[0], mask, -2.5); }), {x});
  Tensor full_mask = gt(raw64({3, 4}, 14), scalar(0.0, DType::float64));
  CHECK_GRAD(fn1([&](const std::vector<Tensor>& v) { return masked_fill(v[0], full_mask, 0.0) * v[0]; }), {x});
  CHECK_GRAD(fn1([&](const std::vector<Tensor>& v) { return masked_fill(v[0], mask, 1.0); }),
             {leaf(transpose(raw64({4, 3}, 15), 0, 1))});
}

TEST_CASE("ops grad: layer_norm, x, weight and bias") {
  const int64_t C = 5;
  Tensor x = randn64({2, 3, C}, 20), w = randn64({C}, 21), b = randn64({C}, 22);
  TensorFn full = fn1([](const std::vector<Tensor>& v) { return layer_norm(v[0], v[1], v[2]); });
  CHECK_GRAD(full, {x, w, b});
  CHECK_GRAD(full, {detach(x), w, b});  // weight and bias only
  CHECK_GRAD(full, {x, detach(w), detach(b)});
  CHECK_GRAD(full, {leaf(transpose(raw64({C, 3}, 23), 0, 1)), w, b});  // strided x
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return layer_norm(v[0], Tensor(), Tensor()); }), {x});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return layer_norm(v[0], v[1], Tensor()); }), {x, w});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return layer_norm(v[0], Tensor(), v[1]); }), {x, b});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return layer_norm(v[0], v[1], v[2], 0.5); }),
             {randn64({C}, 24), w, b});  // a 1-d input, a large eps
}

TEST_CASE("ops grad: dropout through a fixed mask") {
  Generator gen(77);
  for (double p : {0.25, 0.5}) {
    CAPTURE(p);
    // reset to the same state on every evaluation: the same mask each time
    TensorFn f = fn1([&](const std::vector<Tensor>& v) {
      gen.set_state(77, 5);
      return dropout(v[0], p, true, &gen);
    });
    Tensor x = randn64({4, 5}, 30);
    CHECK_GRAD(f, {x});
    CHECK_GRAD(f, {leaf(transpose(raw64({5, 4}, 31), 0, 1))});
    // the gradient is the mask scaled by 1/(1-p)
    x.set_grad(Tensor());
    gen.set_state(77, 5);
    Tensor y = dropout(x, p, true, &gen);
    sum(y).backward();
    Vec yv = vals(y), xv = vals(x), gv = vals(x.grad());
    bool ok = true;
    for (size_t i = 0; i < yv.size(); ++i) ok &= gv[i] == (yv[i] == 0 ? 0.0 : 1 / (1 - p));
    CHECK(ok);
  }
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return dropout(v[0], 0.5, false); }), {randn64({3}, 32)});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return dropout(v[0], 1.0, true); }), {randn64({3}, 33)});
}

TEST_CASE("ops grad: index_select, gather and embedding scatter-add repeated indices") {
  Tensor t = randn64({4, 3, 2}, 40);
  for (DType idt : kInts)
    for (int64_t dim : {0, 1, 2, -1}) {
      CAPTURE(dim);
      Tensor idx = to(from_vector<int64_t>({1, 0, 1, 1}), idt);  // index 1 three times
      CHECK_GRAD(fn1([&](const std::vector<Tensor>& v) { return index_select(v[0], dim, idx); }), {t});
    }
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return index_select(v[0], 1, from_vector<int64_t>({2, 2, 0})); }),
             {leaf(transpose(raw64({3, 4}, 41), 0, 1))});
  Generator g(42);
  for (int64_t dim : {0, 1, 2}) {
    CAPTURE(dim);
    Shape is = t.shape();
    is[dim] = 5;
    Tensor idx = randint(0, t.shape()[dim], is, DType::int64, &g);
    CHECK_GRAD(fn1([&](const std::vector<Tensor>& v) { return gather(v[0], dim, idx); }), {t});
    Tensor idx_t = transpose(randint(0, t.shape()[dim], {is[2], is[1], is[0]}, DType::int32, &g), 0, 2);
    CHECK_GRAD(fn1([&](const std::vector<Tensor>& v) { return gather(v[0], dim, idx_t); }), {t});
  }
  Tensor w = randn64({5, 3}, 43);
  for (DType idt : kInts) {
    Tensor ids = to(from_vector<int64_t>({4, 0, 4, 2, 4, 0}, {2, 3}), idt);
    CHECK_GRAD(fn1([&](const std::vector<Tensor>& v) { return embedding(v[0], ids); }), {w});
  }
  // the embedding gradient of an id used k times is k times the upstream row sum
  Tensor ids = from_vector<int64_t>({4, 0, 4, 4});
  w.set_grad(Tensor());
  sum(embedding(w, ids)).backward();
  CHECK(vals(w.grad()) == Vec{1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3});
}

TEST_CASE("ops grad: cross_entropy, each reduction, ignore_index, label smoothing") {
  Tensor logits = randn64({5, 4}, 50);
  for (Reduction red : {Reduction::none, Reduction::sum, Reduction::mean})
    for (double ls : {0.0, 0.2})
      for (int64_t ignore : {int64_t{-100}, int64_t{3}})
        for (DType tdt : kInts) {
          CAPTURE(static_cast<int>(red));
          CAPTURE(ls);
          CAPTURE(ignore);
          Tensor target = to(from_vector<int64_t>({1, 3, ignore == 3 ? 0 : -100, 0, 2}), tdt);
          CrossEntropyOptions o;
          o.reduction = red;
          o.label_smoothing = ls;
          o.ignore_index = ignore;
          CHECK_GRAD(fn1([&](const std::vector<Tensor>& v) { return cross_entropy(v[0], target, o); }), {logits});
        }
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return cross_entropy(v[0], from_vector<int64_t>({2, 0, 1})); }),
             {leaf(transpose(raw64({4, 3}, 51), 0, 1))});
  // a single sample, and through a non-leaf (log of a positive input)
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return cross_entropy(v[0], full({}, 2.0, DType::int64)); }),
             {randn64({4}, 52)});
  CHECK_GRAD(fn1([](const std::vector<Tensor>& v) { return cross_entropy(log(v[0]), from_vector<int64_t>({0, 1})); }),
             {pos64({2, 3}, 53)});
  // a fully ignored batch: loss 0 and gradient 0, never NaN
  Tensor all_ignored = from_vector<int64_t>({-100, -100});
  for (Reduction red : {Reduction::mean, Reduction::sum}) {
    CrossEntropyOptions o;
    o.reduction = red;
    Tensor x = randn64({2, 3}, 54);
    Tensor l = cross_entropy(x, all_ignored, o);
    l.backward();
    CHECK(l.item<double>() == 0.0);
    CHECK(vals(x.grad()) == Vec(6, 0.0));
    CHECK_GRAD(fn1([&](const std::vector<Tensor>& v) { return cross_entropy(v[0], all_ignored, o); }), {x});
  }
}

// ---- large inputs: the kernels' parallel paths, against primitive-op compositions ---------------

namespace {
// Gradients of sum(f(inputs) * w) with respect to each input, for a fixed random w.
std::vector<Vec> grads_of(const std::function<Tensor(const std::vector<Tensor>&)>& f, std::vector<Tensor> inputs) {
  for (auto& t : inputs) t.set_grad(Tensor());
  Tensor y = f(inputs);
  Generator g(999);
  sum(y * randn(y.shape(), DType::float64, &g)).backward();
  std::vector<Vec> out;
  for (auto& t : inputs) out.push_back(vals(t.grad()));
  return out;
}

void check_same_grads(const std::vector<Vec>& a, const std::vector<Vec>& b, double tolerance) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    std::string m = mismatch(a[i], b[i], tolerance, tolerance);
    INFO(m);
    CHECK(m.empty());
  }
}
}  // namespace

TEST_CASE("ops grad: large inputs match compositions of primitive ops") {
  SUBCASE("layer_norm") {
    const int64_t R = 300, C = 200;
    Tensor x = randn64({R, C}, 60), w = randn64({C}, 61), b = randn64({C}, 62);
    const double eps = 1e-5;
    auto fused = [&](const std::vector<Tensor>& v) { return layer_norm(v[0], v[1], v[2], eps); };
    auto composed = [&](const std::vector<Tensor>& v) {
      Tensor mu = mean(v[0], {-1}, true);
      Tensor var = mean(pow(v[0] - mu, 2.0), {-1}, true);
      return (v[0] - mu) / sqrt(var + eps) * v[1] + v[2];
    };
    std::vector<Tensor> in = {x, w, b};
    check_same_grads(grads_of(fused, in), grads_of(composed, in), 1e-9);
  }
  SUBCASE("softmax and log_softmax over a long and a short dim") {
    Tensor x = randn64({300, 200}, 63);
    for (int64_t dim : {0, 1})
      for (bool use_log : {false, true}) {
        CAPTURE(dim);
        CAPTURE(use_log);
        auto fused = [&](const std::vector<Tensor>& v) { return use_log ? log_softmax(v[0], dim) : softmax(v[0], dim); };
        auto composed = [&](const std::vector<Tensor>& v) {
          Tensor z = v[0] - amax(v[0], {dim}, true);
          Tensor lse = log(sum(exp(z), {dim}, true));
          return use_log ? z - lse : exp(z - lse);
        };
        check_same_grads(grads_of(fused, {x}), grads_of(composed, {x}), 1e-10);
      }
  }
  SUBCASE("cross_entropy with ignored rows and label smoothing") {
    const int64_t N = 2000, C = 40;
    Tensor logits = randn64({N, C}, 64);
    Generator g(65);
    Tensor target = randint(-1, C, {N}, DType::int64, &g);  // -1: ignored
    const double ls = 0.1;
    CrossEntropyOptions o;
    o.ignore_index = -1;
    o.label_smoothing = ls;
    auto fused = [&](const std::vector<Tensor>& v) { return cross_entropy(v[0], target, o); };
    auto composed = [&](const std::vector<Tensor>& v) {
      Tensor valid = ne(target, scalar(-1.0, DType::int64));
      Tensor safe = where(valid, target, zeros_like(target));
      Tensor lsm = log_softmax(v[0], 1);
      Tensor picked = squeeze(gather(lsm, 1, unsqueeze(safe, 1)), 1);
      Tensor per_row = (picked * (1 - ls) + mean(lsm, {1}) * ls) * -1.0;
      Tensor w = to(valid, DType::float64);
      return sum(per_row * w) / sum(w);
    };
    std::vector<Vec> a = grads_of(fused, {logits}), b = grads_of(composed, {logits});
    check_same_grads(a, b, 1e-10);
  }
  SUBCASE("index_select, gather, max(dim)") {
    const int64_t R = 300, C = 200;
    Tensor x = randn64({R, C}, 66);
    Generator g(67);
    Tensor idx = randint(0, R, {400}, DType::int64, &g);
    // index_select (index_add backward) against a one-hot matrix product
    Tensor onehot = to(eq(unsqueeze(idx, 1), unsqueeze(arange(R), 0)), DType::float64);  // [400, R]
    check_same_grads(grads_of([&](const std::vector<Tensor>& v) { return index_select(v[0], 0, idx); }, {x}),
                     grads_of([&](const std::vector<Tensor>& v) { return matmul(onehot, v[0]); }, {x}), 1e-12);
    // gather along dim 0 (scatter_add backward) against index_select of the flattened input
    Tensor gidx = randint(0, R, {400, C}, DType::int64, &g);
    Tensor lin = reshape(gidx * static_cast<double>(C) + arange(C), {-1});
    check_same_grads(grads_of([&](const std::vector<Tensor>& v) { return gather(v[0], 0, gidx); }, {x}),
                     grads_of([&](const std::vector<Tensor>& v) {
                       return reshape(index_select(reshape(v[0], {-1}), 0, lin), {400, C});
                     }, {x}),
                     1e-12);
    // max over a dim against amax (random input: no ties)
    for (int64_t dim : {0, 1}) {
      CAPTURE(dim);
      check_same_grads(grads_of([&](const std::vector<Tensor>& v) { return max(v[0], dim).values; }, {x}),
                       grads_of([&](const std::vector<Tensor>& v) { return amax(v[0], {dim}); }, {x}), 1e-12);
    }
  }
}

TEST_CASE("ops grad: float32 backward kernels agree with float64") {
  using F = std::function<Tensor(const std::vector<Tensor>&)>;
  Tensor ids = from_vector<int64_t>({3, 0, 3, 1});
  Tensor gidx = from_vector<int64_t>({2, 0, 2, 1, 1, 1, 0, 0, 2, 2, 1, 0}, {4, 3});
  Tensor target = from_vector<int64_t>({1, -100, 4, 0});
  CrossEntropyOptions ce;
  ce.label_smoothing = 0.1;
  std::vector<std::pair<const char*, F>> cases = {
      {"layer_norm", [](const std::vector<Tensor>& v) { return layer_norm(v[0], v[1], v[2]); }},
      {"softmax", [](const std::vector<Tensor>& v) { return softmax(v[0], 0) * v[1]; }},
      {"log_softmax", [](const std::vector<Tensor>& v) { return log_softmax(v[0], 1) * v[2]; }},
      {"cross_entropy", [&](const std::vector<Tensor>& v) { return cross_entropy(v[0] * 2.0, target, ce); }},
      {"matmul", [](const std::vector<Tensor>& v) { return matmul(v[0], unsqueeze(v[1], 1)); }},
      {"unary", [](const std::vector<Tensor>& v) { return gelu(v[0]) + sigmoid(v[0]) * tanh(v[0]) + exp(v[0] / 4.0); }},
      {"pow/div", [](const std::vector<Tensor>& v) { return pow(abs(v[0]) + 1.0, v[2]) / (v[1] * v[1] + 1.0); }},
      {"index", [&](const std::vector<Tensor>& v) { return index_select(v[0], 0, ids) + sum(gather(v[0], 1, gidx), {1}, true); }},
      {"max/amax", [](const std::vector<Tensor>& v) { return max(v[0], 1).values + amax(v[0], {1}); }},
  };
  Tensor x = raw64({4, 5}, 70), w = raw64({5}, 71), b = raw64({5}, 72);
  for (const auto& name_f : cases) {  // not a structured binding: clang < 16 cannot capture one
    const auto& name = name_f.first;
    const auto& f = name_f.second;
    CAPTURE(name);
    std::vector<Vec> g32, g64;
    for (DType dt : kFloats) {
      std::vector<Tensor> in = {leaf(clone(to(x, dt))), leaf(clone(to(w, dt))), leaf(clone(to(b, dt)))};
      Tensor y = f(in);
      Generator g(73);
      sum(y * to(randn(y.shape(), DType::float64, &g), dt)).backward();
      auto& out = dt == DType::float32 ? g32 : g64;
      for (auto& t : in) {
        if (!t.grad().defined()) {
          out.push_back({});
          continue;
        }
        CHECK(t.grad().dtype() == dt);
        out.push_back(vals(t.grad()));
      }
    }
    for (size_t i = 0; i < g32.size(); ++i) {
      CAPTURE(i);
      std::string m = mismatch(g32[i], g64[i], 1e-4, 1e-5);
      INFO(m);
      CHECK(m.empty());
    }
  }
}
