// Attention on any view: every kind, given q, k, v as broadcast (stride 0), transposed, sliced,
// stepped, overlapping, negative-stride, empty or one-element views, gives the values and the
// gradients it gives on contiguous copies of them (backend.h, "Attention input layout").
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>

#include "autograd/attention.h"
#include "autograd/ops.h"
#include "backends/backend.h"

using namespace memgrad;

namespace {

constexpr int64_t B = 2, H = 3, N = 13, D = 8;

// max |a - b| / max(max |b|, 1e-30); NaN only where the other has NaN.
double diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  auto x = contiguous(to(a, DType::float64)).to_vector<double>();
  auto y = contiguous(to(b, DType::float64)).to_vector<double>();
  double num = 0, den = 1e-30;
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) != std::isnan(y[i])) return INFINITY;
    if (std::isnan(x[i])) continue;
    num = std::max(num, std::abs(x[i] - y[i]));
    den = std::max(den, std::abs(y[i]));
  }
  return num / den;
}

std::vector<AttentionOptions> all_kinds() {
  return {{.kind = AttentionKind::vanilla},
          {.kind = AttentionKind::chunked, .q_chunk = 5, .k_chunk = 4},
          {.kind = AttentionKind::chunked, .causal = true, .q_chunk = 4, .k_chunk = 3},
          {.kind = AttentionKind::topk, .q_chunk = 3, .top_k = 4},
          {.kind = AttentionKind::topk, .top_k = 100}};
}
std::string name(const AttentionOptions& o) {
  return to_string(o.kind) + (o.causal ? " causal" : "") +
         (o.kind == AttentionKind::topk ? " k=" + std::to_string(o.top_k) : "");
}

// A way to make a [B, H, N, D] operand: a random leaf `base` (its shape from the target shape)
// and the view of it that attention gets.
struct ViewKind {
  const char* name;
  std::function<Shape(const Shape&)> base_shape;
  std::function<Tensor(const Tensor&, const Shape&)> view;  // (base, target shape)
};

std::vector<ViewKind> view_kinds() {
  auto with = [](Shape s, int64_t d, int64_t v) { return s[d] = v, s; };
  return {
      {"contiguous", [](const Shape& s) { return s; }, [](const Tensor& x, const Shape&) { return x; }},
      {"expanded batch", [=](const Shape& s) { return with(s, 0, 1); },
       [](const Tensor& x, const Shape& s) { return expand(x, s); }},
      {"expanded heads", [=](const Shape& s) { return with(s, 1, 1); },
       [](const Tensor& x, const Shape& s) { return expand(x, s); }},
      {"expanded rows", [=](const Shape& s) { return with(s, 2, 1); },  // the case: row stride 0
       [](const Tensor& x, const Shape& s) { return expand(x, s); }},
      {"expanded last dim", [=](const Shape& s) { return with(s, 3, 1); },
       [](const Tensor& x, const Shape& s) { return expand(x, s); }},
      {"heads transposed", [](const Shape& s) { return Shape{s[0], s[2], s[1], s[3]}; },
       [](const Tensor& x, const Shape&) { return transpose(x, 1, 2); }},
      {"last two dims transposed", [](const Shape& s) { return Shape{s[0], s[1], s[3], s[2]}; },
       [](const Tensor& x, const Shape&) { return transpose(x, 2, 3); }},
      {"sliced with offset", [](const Shape& s) { return Shape{s[0] + 1, s[1] + 2, s[2] + 3, s[3] + 5}; },
       [](const Tensor& x, const Shape& s) {
         return narrow(narrow(narrow(narrow(x, 0, 1, s[0]), 1, 2, s[1]), 2, 3, s[2]), 3, 2, s[3]);
       }},
      {"stepped rows and columns", [](const Shape& s) { return Shape{s[0], s[1], 2 * s[2], 3 * s[3]}; },
       [](const Tensor& x, const Shape&) { return slice(slice(x, 2, 0, x.size(2), 2), 3, 1, x.size(3), 3); }},
      {"batch and head dims permuted", [](const Shape& s) { return Shape{s[1], s[0], s[2], s[3]}; },
       [](const Tensor& x, const Shape&) { return transpose(x, 0, 1); }},
  };
}

struct Result {
  Tensor out, gq, gk, gv;  // gradients of the three bases
};

// attention(view(q), view(k), view(v)) or, with copy, of contiguous clones of the views; the
// loss sum(out * w) with a fixed random w; gradients of the bases.
Result run(const Tensor& bq, const Tensor& bk, const Tensor& bv, const std::function<Tensor(const Tensor&, int)>& mk,
           const AttentionOptions& o, bool copy) {
  for (const Tensor* t : {&bq, &bk, &bv}) t->impl()->grad = nullptr;
  auto in = [&](const Tensor& b, int which) { return copy ? clone(mk(b, which)) : mk(b, which); };
  Tensor q = in(bq, 0), k = in(bk, 1), v = in(bv, 2);
  if (copy) CHECK(q.is_contiguous());
  Tensor out = attention(q, k, v, o);
  Generator g(99);
  Tensor w = randn(out.shape(), out.dtype(), &g);
  sum(out * w).backward();
  auto grad = [](const Tensor& t) { return t.grad().defined() ? t.grad() : zeros(t.shape(), t.dtype()); };
  return {detach(out), grad(bq), grad(bk), grad(bv)};
}

void check_same(const Result& a, const Result& b, double tol) {
  CHECK(diff(a.out, b.out) <= tol);
  CHECK(diff(a.gq, b.gq) <= tol);
  CHECK(diff(a.gk, b.gk) <= tol);
  CHECK(diff(a.gv, b.gv) <= tol);
}

}  // namespace

TEST_CASE("attention on every view kind equals attention on the contiguous copy, values and gradients") {
  const Shape qs{B, H, N, D}, ks{B, H, N + 4, D}, vs{B, H, N + 4, 6};
  uint64_t seed = 1;
  for (const ViewKind& vk : view_kinds()) {
    // the view on q, k, v one at a time, then on all three
    for (int on = 0; on < 4; ++on) {
      const Shape target[3] = {qs, ks, vs};
      Tensor base[3];
      for (int i = 0; i < 3; ++i) {
        Generator g(seed++);
        base[i] = randn(on == 3 || on == i ? vk.base_shape(target[i]) : target[i], DType::float32, &g);
        base[i].set_requires_grad();
      }
      auto mk = [&](const Tensor& b, int which) {
        return on == 3 || on == which ? vk.view(b, target[which]) : b;
      };
      for (const AttentionOptions& o : all_kinds()) {
        CAPTURE(std::string(vk.name));
        CAPTURE(on);
        CAPTURE(name(o));
        Result got = run(base[0], base[1], base[2], mk, o, false);
        Result want = run(base[0], base[1], base[2], mk, o, true);
        check_same(got, want, 1e-5);
      }
    }
  }
}

TEST_CASE("attention on overlapping and negative-stride views equals the contiguous copy") {
  // views that no op makes, made with alias(): rows overlapping in a sliding window, rows read
  // backwards, and both; the view itself is the leaf whose gradient is compared
  Generator g(7);
  Tensor store = randn({B * H * N * D + 64}, DType::float32, &g);  // holds each layout's span
  struct Layout {
    const char* name;
    Strides st;
    int64_t offset;
  };
  const Layout layouts[] = {
      {"overlapping rows (row stride 3 < D)", {H * (N + D), N + D, 3, 1}, 0},
      {"rows backwards", {H * N * D, N * D, -D, 1}, (N - 1) * D},
      {"heads backwards, rows of stride 1", {H * (N + D), -(N + D), 1, 1}, (H - 1) * (N + D)},
  };
  for (const Layout& L : layouts)
    for (const AttentionOptions& o : all_kinds()) {
      CAPTURE(std::string(L.name));
      CAPTURE(name(o));
      Tensor q = alias(store, {B, H, N, D}, L.st, L.offset);
      CHECK(!attention_layout_ok(q));
      auto grads = [&](const Tensor& q0, const Tensor& k0, const Tensor& v0) {
        Tensor q1 = detach(q0).set_requires_grad(), k1 = detach(k0).set_requires_grad(),
               v1 = detach(v0).set_requires_grad();
        Tensor out = attention(q1, k1, v1, o);
        Generator gw(5);
        sum(out * randn(out.shape(), DType::float32, &gw)).backward();
        return Result{detach(out), q1.grad(), k1.grad(), v1.grad()};
      };
      Result got = grads(q, q, q);
      Tensor c = clone(q);
      Result want = grads(c, c, c);
      check_same(got, want, 1e-5);
    }
}

TEST_CASE("attention with empty dims gives empty or zero results like vanilla, in every kind") {
  struct Case {
    int64_t B, H, Nq, Nk, D, Dv;
  };
  const Case cases[] = {{0, 2, 5, 5, 4, 4}, {2, 0, 5, 5, 4, 4}, {2, 2, 0, 5, 4, 4},
                        {2, 2, 5, 0, 4, 4}, {2, 2, 5, 5, 0, 4}, {2, 2, 5, 5, 4, 0}};
  for (const Case& c : cases)
    for (const AttentionOptions& o : all_kinds()) {
      CAPTURE(c.B);
      CAPTURE(c.H);
      CAPTURE(c.Nq);
      CAPTURE(c.Nk);
      CAPTURE(c.D);
      CAPTURE(c.Dv);
      CAPTURE(name(o));
      Generator g(3);
      Tensor q = randn({c.B, c.H, c.Nq, c.D}, DType::float32, &g).set_requires_grad();
      Tensor k = randn({c.B, c.H, c.Nk, c.D}, DType::float32, &g).set_requires_grad();
      Tensor v = randn({c.B, c.H, c.Nk, c.Dv}, DType::float32, &g).set_requires_grad();
      auto mk = [&](const Tensor& b, int) { return b; };
      AttentionOptions ov = o;
      ov.kind = AttentionKind::vanilla;
      Result got = run(q, k, v, mk, o, false);
      CHECK(got.out.shape() == Shape{c.B, c.H, c.Nq, c.Dv});
      // vanilla is the reference where the kind is exact (topk: when it keeps every key)
      if (o.kind != AttentionKind::topk || o.top_k >= c.Nk) check_same(got, run(q, k, v, mk, ov, false), 1e-5);
      CHECK(all_finite(got.out));
      CHECK(all_finite(got.gq));
      // and as expanded views of one row / batch / head
      if (c.B > 0 && c.H > 0 && c.Nq > 0 && c.Nk > 0) {
        auto ex = [&](const Tensor& b, int) { return expand(narrow(b, 2, 0, 1), b.shape()); };
        check_same(run(q, k, v, ex, o, false), run(q, k, v, ex, o, true), 1e-5);
      }
    }
}

TEST_CASE("attention with one element, and with D = 1 in any layout, equals the contiguous copy") {
  for (const AttentionOptions& o : all_kinds()) {
    CAPTURE(name(o));
    Generator g(11);
    Tensor q = randn({1, 1, 1, 1}, DType::float32, &g).set_requires_grad();
    Tensor k = randn({1, 1, 1, 1}, DType::float32, &g).set_requires_grad();
    Tensor v = randn({1, 1, 1, 1}, DType::float32, &g).set_requires_grad();
    auto id = [&](const Tensor& b, int) { return b; };
    Result one = run(q, k, v, id, o, false);
    CHECK(one.out.item<float>() == doctest::Approx(v.item<float>()));  // softmax over one key is 1
    CHECK(one.gq.item<float>() == 0);
    // D = 1 (and Dv = 1): rows [.., N, 1] from a transposed [.., 1, N] base (last stride N)
    Tensor bq = randn({B, H, 1, N}, DType::float32, &g).set_requires_grad();
    Tensor bk = randn({B, H, 1, N + 2}, DType::float32, &g).set_requires_grad();
    Tensor bv = randn({B, H, 1, N + 2}, DType::float32, &g).set_requires_grad();
    auto tr = [&](const Tensor& b, int) { return transpose(b, 2, 3); };
    check_same(run(bq, bk, bv, tr, o, false), run(bq, bk, bv, tr, o, true), 1e-5);
    // D = 1 broadcast along the rows (row stride 0)
    auto ex = [&](const Tensor& b, int) { return expand(narrow(b, 3, 0, 1), {B, H, N, 1}); };
    check_same(run(bq, bk, bv, ex, o, false), run(bq, bk, bv, ex, o, true), 1e-5);
  }
}

TEST_CASE("the attention layout contract accepts what the kernels read in place and nothing else") {
  Tensor x = zeros({2, 3, 4, 5});
  CHECK(attention_layout_ok(x));
  CHECK(attention_layout_ok(transpose(zeros({2, 4, 3, 5}), 1, 2)));   // strided rows
  CHECK(attention_layout_ok(expand(zeros({1, 1, 4, 5}), {2, 3, 4, 5})));  // broadcast batch and heads
  CHECK(!attention_layout_ok(expand(zeros({2, 3, 1, 5}), {2, 3, 4, 5})));  // broadcast rows
  CHECK(!attention_layout_ok(transpose(zeros({2, 3, 5, 4}), 2, 3)));      // columns strided
  CHECK(attention_layout_ok(transpose(zeros({2, 3, 1, 4}), 2, 3)));       // D = 1: any column stride
  CHECK(attention_layout_ok(zeros({2, 3, 0, 5})));
  CHECK(attention_row_ld(zeros({2, 3, 4, 5})) == 5);
  CHECK(attention_row_ld(expand(zeros({2, 3, 1, 5}), {2, 3, 1, 5})) == 5);
  CHECK(attention_row_ld(alias(x, {2, 3, 1, 5}, {60, 20, 0, 1}, 0)) == 5);  // one row: any stride
  CHECK(attention_row_ld(zeros({2, 3, 4, 0})) == 1);
  Tensor c = attention_input(expand(zeros({2, 3, 1, 5}), {2, 3, 4, 5}));
  CHECK(c.is_contiguous());
  CHECK(c.strides()[2] == 5);
}
