// Forward values of the neural-network ops against references computed in the test: softmax and
// log_softmax, where/masked_fill, layer_norm, dropout, index_select/gather/embedding,
// cross_entropy, cat/stack.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autograd/ops.h"
#include "ops_test_util.h"

using namespace memgrad;
using namespace memgrad::optest;

namespace {

// Softmax (or log-softmax) of v (shape s) along dim, by loops in double.
Vec ref_softmax(const Vec& v, const Shape& s, int64_t dim, bool log) {
  Shape ks = s;
  ks[dim] = 1;
  Vec out(v.size());
  for (int64_t k = 0; k < numel(ks); ++k) {
    auto idx = unravel(k, ks);
    std::vector<int64_t> lin(s[dim]);
    double m = -INFINITY, z = 0;
    for (int64_t j = 0; j < s[dim]; ++j) {
      idx[dim] = j;
      lin[j] = bcast_index(idx, s);
      m = std::max(m, v[lin[j]]);
    }
    for (int64_t j = 0; j < s[dim]; ++j) z += std::exp(v[lin[j]] - m);
    for (int64_t j = 0; j < s[dim]; ++j)
      out[lin[j]] = log ? v[lin[j]] - m - std::log(z) : std::exp(v[lin[j]] - m) / z;
  }
  return out;
}

std::vector<int64_t> ints(const Tensor& t) {
  std::vector<int64_t> out;
  for (double v : vals(t)) out.push_back(static_cast<int64_t>(v));
  return out;
}

}  // namespace

TEST_CASE("ops forward: softmax and log_softmax over every dim, strided inputs") {
  for (DType dt : kFloats)
    for (int layout = 0; layout < 2; ++layout) {
      // layout 1: a non-contiguous view
      Tensor x = layout == 0 ? rnd({3, 4, 5}, dt, 1) * 3.0 : permute(rnd({4, 5, 3}, dt, 1) * 3.0, {2, 0, 1});
      for (int64_t dim : {0, 1, 2, -1, -3})
        for (bool log : {false, true}) {
          CAPTURE(to_string(dt));
          CAPTURE(layout);
          CAPTURE(dim);
          CAPTURE(log);
          Tensor y = log ? log_softmax(x, dim) : softmax(x, dim);
          CHECK(y.shape() == x.shape());
          CHECK(y.dtype() == dt);
          int64_t d = dim < 0 ? dim + 3 : dim;
          CHECK_VALUES(y, ref_softmax(vals(x), x.shape(), d, log), tol(dt));
        }
    }
  // large logits stay finite; a 1-d input; a single element
  Tensor big = from_vector<float>({1000.f, 999.f, -1000.f});
  CHECK(all_finite(softmax(big, 0)));
  CHECK(all_finite(log_softmax(big, 0)));
  CHECK_VALUES(softmax(big, 0), ref_softmax(vals(big), {3}, 0, false), 1e-6);
  CHECK_VALUES(log_softmax(big, 0), ref_softmax(vals(big), {3}, 0, true), 1e-5);
  CHECK_VALUES(softmax(from_vector<double>({2.0}, {1}), 0), (Vec{1.0}), 0);
  CHECK_THROWS_AS(softmax(zeros({2, 3}), 2), Error);
  CHECK_THROWS_AS(softmax(zeros({2, 3}, DType::int64), 1), Error);
}

TEST_CASE("ops forward: softmax with -inf entries, fully masked rows and empty inputs") {
  for (DType dt : kFloats) {
    CAPTURE(to_string(dt));
    Tensor x = to(from_vector<double>({0, -INFINITY, 1, -INFINITY, -INFINITY, -INFINITY, -100, 0, -1000}, {3, 3}), dt);
    Vec p = vals(softmax(x, 1));
    double e = std::exp(1.0);
    CHECK_VALUES(narrow(softmax(x, 1), 0, 0, 1), (Vec{1 / (1 + e), 0, e / (1 + e)}), tol(dt));
    CHECK(p[3] == 0);  // a fully masked row gives zeros, not NaN
    CHECK(p[4] == 0);
    CHECK(p[5] == 0);
    CHECK_VALUES(narrow(softmax(x, 1), 0, 2, 1), ref_softmax({-100, 0, -1000}, {3}, 0, false), tol(dt));
    Vec lp = vals(log_softmax(narrow(x, 0, 0, 1), 1));
    CHECK(lp[1] == -INFINITY);
    CHECK(lp[0] == doctest::Approx(-std::log(1 + e)));
    CHECK(softmax(zeros({0, 3}, dt), 1).shape() == Shape{0, 3});
    CHECK(softmax(zeros({3, 0}, dt), 1).shape() == Shape{3, 0});
  }
}

TEST_CASE("ops forward: where and masked_fill broadcast condition and values") {
  Generator g(2);
  for (DType dt : {DType::float32, DType::float64, DType::int32, DType::int64}) {
    CAPTURE(to_string(dt));
    Tensor cond = gt(rnd({3, 1, 4}, DType::float64, 3), scalar(0.0, DType::float64));
    Tensor a = rnd({2, 4}, dt, 4), b = rnd({3, 2, 1}, dt, 5);
    Tensor y = where(cond, a, b);
    CHECK(y.shape() == Shape{3, 2, 4});
    CHECK(y.dtype() == dt);
    Vec c = vals(cond), va = vals(a), vb = vals(b), ref;
    for (int64_t i = 0; i < 24; ++i) {
      auto idx = unravel(i, {3, 2, 4});
      ref.push_back(c[bcast_index(idx, {3, 1, 4})] ? va[bcast_index(idx, {2, 4})] : vb[bcast_index(idx, {3, 2, 1})]);
    }
    CHECK_VALUES(y, ref, 0);
    Tensor s = where(cond, scalar(7.0, dt), b);  // a 0-d branch
    CHECK(s.shape() == Shape{3, 2, 4});
  }
  Tensor x = rnd({3, 4}, DType::float32, 6);
  Tensor row_mask = from_vector<bool>({true, false, false, true}, {1, 4});
  Tensor m = masked_fill(x, row_mask, -5.0);
  CHECK(m.shape() == Shape{3, 4});
  Vec xv = vals(x), ref = xv;
  for (int64_t i = 0; i < 3; ++i) ref[i * 4] = ref[i * 4 + 3] = -5.0;
  CHECK_VALUES(m, ref, 0);
  Tensor full_mask = lt(x, scalar(0.0f));
  Tensor neg_inf = masked_fill(x, full_mask, -INFINITY);
  Vec nv = vals(neg_inf);
  for (size_t i = 0; i < nv.size(); ++i) CHECK(nv[i] == (xv[i] < 0 ? -INFINITY : xv[i]));
  CHECK_THROWS_AS(masked_fill(x, from_vector<bool>({true, false, true}, {3}), 0.0), Error);
  CHECK_THROWS_AS(masked_fill(zeros({4}), from_vector<bool>({true, false, true, true, false, true, true, false}, {2, 4}), 0.0),
                  Error);  // the mask may not grow the input
  CHECK_THROWS_AS(where(x, x, x), Error);  // condition must be bool
}

TEST_CASE("ops forward: layer_norm with and without weight and bias") {
  for (DType dt : kFloats)
    for (int variant = 0; variant < 4; ++variant) {
      CAPTURE(to_string(dt));
      CAPTURE(variant);
      const int64_t C = 5;
      Tensor x = variant == 3 ? transpose(rnd({C, 3, 2}, dt, 7) * 2.0 + 1.0, 0, 2) : rnd({2, 3, C}, dt, 7) * 2.0 + 1.0;
      Tensor w = variant == 0 || variant == 3 ? rnd({C}, dt, 8) : Tensor();
      Tensor b = variant == 0 || variant == 2 ? rnd({C}, dt, 9) : Tensor();
      const double eps = 1e-5;
      Tensor y = layer_norm(x, w, b, eps);
      CHECK(y.shape() == x.shape());
      Vec xv = vals(x), wv = w.defined() ? vals(w) : Vec(C, 1.0), bv = b.defined() ? vals(b) : Vec(C, 0.0), ref;
      for (int64_t r = 0; r < x.numel() / C; ++r) {
        double mu = 0, var = 0;
        for (int64_t c = 0; c < C; ++c) mu += xv[r * C + c] / C;
        for (int64_t c = 0; c < C; ++c) var += (xv[r * C + c] - mu) * (xv[r * C + c] - mu) / C;
        for (int64_t c = 0; c < C; ++c) ref.push_back((xv[r * C + c] - mu) / std::sqrt(var + eps) * wv[c] + bv[c]);
      }
      CHECK_VALUES(y, ref, dt == DType::float64 ? 1e-10 : 1e-5);
    }
  Tensor x = rnd({2, 4}, DType::float32, 10);
  CHECK_THROWS_AS(layer_norm(x, ones({3}), Tensor()), Error);
  CHECK_THROWS_AS(layer_norm(x, ones({4}, DType::float64), Tensor()), Error);
  CHECK_THROWS_AS(layer_norm(x, Tensor(), Tensor(), 0.0), Error);
}

TEST_CASE("ops forward: dropout") {
  const double p = 0.3;
  Tensor x = rnd({100, 100}, DType::float32, 11);
  Vec xv = vals(x);
  SUBCASE("seeded reproducibility") {
    Generator g1(7), g2(7), g3(8);
    Vec a1 = vals(dropout(x, p, true, &g1));
    CHECK(vals(dropout(x, p, true, &g2)) == a1);
    CHECK(vals(dropout(x, p, true, &g1)) != a1);  // the generator advanced
    CHECK(vals(dropout(x, p, true, &g3)) != a1);  // another seed
    g2.set_state(7, 0);
    CHECK(vals(dropout(x, p, true, &g2)) == a1);  // reset to the same state: the same mask
    manual_seed(123);
    Vec a = vals(dropout(x, p));
    manual_seed(123);
    CHECK(vals(dropout(x, p)) == a);
  }
  SUBCASE("about 1 - p kept, kept values scaled by 1 / (1 - p)") {
    for (DType dt : kFloats) {
      Generator g(8);
      Tensor xd = to(x, dt);
      Vec y = vals(dropout(xd, p, true, &g));
      int64_t kept = 0;
      bool scaled = true;
      for (size_t i = 0; i < y.size(); ++i) {
        if (y[i] == 0) continue;
        ++kept;
        scaled &= std::abs(y[i] - xv[i] / (1 - p)) <= 1e-5 * std::abs(xv[i]) + 1e-6;
      }
      CHECK(scaled);
      double frac = static_cast<double>(kept) / y.size();  // std of the fraction: 0.0046
      CHECK(frac == doctest::Approx(1 - p).epsilon(0.03));
    }
  }
  SUBCASE("identity when not training or p = 0; zeros when p = 1") {
    Tensor y = dropout(x, p, false);
    CHECK(y.shares_storage(x));
    CHECK(vals(y) == xv);
    CHECK(vals(dropout(x, 0.0, true)) == xv);
    CHECK(vals(dropout(x, 1.0, true)) == Vec(xv.size(), 0.0));
    CHECK_THROWS_AS(dropout(x, 1.5), Error);
    CHECK_THROWS_AS(dropout(x, -0.1), Error);
  }
}

TEST_CASE("ops forward: index_select with repeated indices along each dim") {
  for (DType idt : kInts)
    for (DType dt : {DType::float32, DType::float64, DType::int64}) {
      Tensor t = rnd({4, 3, 5}, dt, 12);
      Vec tv = vals(t);
      for (int64_t dim : {0, 1, 2, -1}) {
        CAPTURE(dim);
        CAPTURE(to_string(idt));
        CAPTURE(to_string(dt));
        int64_t d = dim < 0 ? dim + 3 : dim;
        Tensor idx = to(from_vector<int64_t>({2, 0, 2, 1, 2}), idt);
        Tensor y = index_select(t, dim, idx);
        Shape os = t.shape();
        os[d] = 5;
        CHECK(y.shape() == os);
        auto ix = ints(idx);
        Vec ref;
        for (int64_t i = 0; i < numel(os); ++i) {
          auto m = unravel(i, os);
          m[d] = ix[m[d]];
          ref.push_back(tv[bcast_index(m, t.shape())]);
        }
        CHECK_VALUES(y, ref, 0);
      }
    }
  Tensor t = rnd({4, 3}, DType::float32, 13);
  CHECK_VALUES(index_select(transpose(t, 0, 1), 1, from_vector<int64_t>({3, 3, 0})),
               (Vec{vals(t)[9], vals(t)[9], vals(t)[0], vals(t)[10], vals(t)[10], vals(t)[1], vals(t)[11],
                    vals(t)[11], vals(t)[2]}),
               0);
  CHECK_THROWS_AS(index_select(t, 0, from_vector<int64_t>({0, 4})), Error);
  CHECK_THROWS_AS(index_select(t, 0, from_vector<int64_t>({0, -1})), Error);
  CHECK_THROWS_AS(index_select(t, 0, from_vector<int64_t>({0, 1, 2, 3}, {2, 2})), Error);
  CHECK_THROWS_AS(index_select(t, 0, from_vector<float>({0, 1})), Error);
}

TEST_CASE("ops forward: gather along each dim (torch semantics)") {
  Generator g(14);
  for (DType dt : kFloats)
    for (int64_t dim : {0, 1, 2}) {
      CAPTURE(dim);
      Tensor t = rnd({3, 4, 2}, dt, 15);
      Shape is = t.shape();
      is[dim] = 5;  // more indices than the dim's size: repeats
      Tensor idx = randint(0, t.shape()[dim], is, dim == 1 ? DType::int32 : DType::int64, &g);
      Tensor y = gather(t, dim, idx);
      CHECK(y.shape() == is);
      Vec tv = vals(t), ref;
      auto ix = ints(idx);
      for (int64_t i = 0; i < numel(is); ++i) {
        auto m = unravel(i, is);
        m[dim] = ix[i];
        ref.push_back(tv[bcast_index(m, t.shape())]);
      }
      CHECK_VALUES(y, ref, 0);
    }
  Tensor t = rnd({2, 3}, DType::float32, 16);
  CHECK(vals(gather(t, 1, from_vector<int64_t>({2, 0, 1, 1}, {2, 2}))) ==
        Vec{vals(t)[2], vals(t)[0], vals(t)[4], vals(t)[4]});
  CHECK_THROWS_AS(gather(t, 1, from_vector<int64_t>({3, 0}, {2, 1})), Error);
  CHECK_THROWS_AS(gather(t, 1, from_vector<int64_t>({0, 0, 0}, {3, 1})), Error);
}

TEST_CASE("ops forward: embedding looks up rows for ids of any shape") {
  Tensor w = rnd({6, 3}, DType::float32, 17);
  Vec wv = vals(w);
  for (DType idt : kInts) {
    Tensor ids = to(from_vector<int64_t>({5, 0, 5, 2, 2, 1}, {2, 3}), idt);
    Tensor y = embedding(w, ids);
    CHECK(y.shape() == Shape{2, 3, 3});
    Vec ref;
    for (int64_t id : ints(ids))
      for (int64_t c = 0; c < 3; ++c) ref.push_back(wv[id * 3 + c]);
    CHECK_VALUES(y, ref, 0);
  }
  Tensor one = embedding(w, full({}, 4.0, DType::int64));
  CHECK(one.shape() == Shape{3});
  CHECK_VALUES(one, (Vec{wv[12], wv[13], wv[14]}), 0);
  CHECK_THROWS_AS(embedding(w, from_vector<int64_t>({6})), Error);
  CHECK_THROWS_AS(embedding(w, from_vector<float>({1, 2})), Error);
  CHECK_THROWS_AS(embedding(ones({6}), from_vector<int64_t>({1, 2})), Error);
}

// ---- cross-entropy -----------------------------------------------------------------------------

namespace {
// Per-row losses (0 where ignored) and the mean over rows that are not ignored (0 when none).
struct CeRef {
  Vec losses;
  double sum = 0, mean = 0;
};
CeRef ref_cross_entropy(const Tensor& logits, const std::vector<int64_t>& target, int64_t ignore, double ls) {
  const int64_t N = logits.shape()[0], C = logits.shape()[1];
  Vec x = vals(logits);
  CeRef r;
  int64_t count = 0;
  for (int64_t n = 0; n < N; ++n) {
    if (target[n] == ignore) {
      r.losses.push_back(0);
      continue;
    }
    double m = -INFINITY, z = 0;
    for (int64_t c = 0; c < C; ++c) m = std::max(m, x[n * C + c]);
    for (int64_t c = 0; c < C; ++c) z += std::exp(x[n * C + c] - m);
    double lse = m + std::log(z), loss = 0;
    for (int64_t c = 0; c < C; ++c) {  // -sum q log p, q = (1 - ls) onehot + ls / C
      double q = (c == target[n] ? 1 - ls : 0) + ls / C;
      loss -= q * (x[n * C + c] - lse);
    }
    r.losses.push_back(loss);
    r.sum += loss;
    ++count;
  }
  r.mean = count > 0 ? r.sum / count : 0;
  return r;
}
}  // namespace

TEST_CASE("ops forward: cross_entropy reductions, ignore_index, label smoothing") {
  for (DType dt : kFloats)
    for (DType tdt : kInts)
      for (double ls : {0.0, 0.1, 0.35})
        for (int64_t ignore : {int64_t{-100}, int64_t{2}}) {
          CAPTURE(to_string(dt));
          CAPTURE(to_string(tdt));
          CAPTURE(ls);
          CAPTURE(ignore);
          Tensor logits = rnd({6, 4}, dt, 18) * 3.0;
          std::vector<int64_t> tv = {1, 2, -100, 0, 3, 2};
          Tensor target = to(from_vector<int64_t>(tv), tdt);
          CeRef ref = ref_cross_entropy(logits, tv, ignore, ls);
          CrossEntropyOptions o;
          o.ignore_index = ignore;
          o.label_smoothing = ls;
          if (ignore != -100) {  // -100 is then an invalid class
            CHECK_THROWS_AS(cross_entropy(logits, target, o), Error);
            tv[2] = 1;
            target = to(from_vector<int64_t>(tv), tdt);
            ref = ref_cross_entropy(logits, tv, ignore, ls);
          }
          o.reduction = Reduction::none;
          Tensor none = cross_entropy(logits, target, o);
          CHECK(none.shape() == Shape{6});
          CHECK(none.dtype() == dt);
          CHECK_VALUES(none, ref.losses, tol(dt));
          o.reduction = Reduction::sum;
          Tensor s = cross_entropy(logits, target, o);
          CHECK(s.dim() == 0);
          CHECK_VALUES(s, (Vec{ref.sum}), tol(dt));
          o.reduction = Reduction::mean;
          CHECK_VALUES(cross_entropy(logits, target, o), (Vec{ref.mean}), tol(dt));
          // strided logits give the same values
          Tensor lt_ = transpose(contiguous(transpose(logits, 0, 1)), 0, 1);
          CHECK_FALSE(lt_.is_contiguous());
          CHECK_VALUES(cross_entropy(lt_, target, o), (Vec{ref.mean}), tol(dt));
        }
}

TEST_CASE("ops forward: cross_entropy edge cases") {
  Tensor logits = rnd({3, 5}, DType::float64, 19);
  SUBCASE("a fully ignored batch gives 0, not NaN") {
    Tensor target = from_vector<int64_t>({-100, -100, -100});
    for (double ls : {0.0, 0.2}) {
      CrossEntropyOptions o;
      o.label_smoothing = ls;
      Tensor m = cross_entropy(logits, target, o);
      CHECK(all_finite(m));
      CHECK(m.item<double>() == 0.0);
      o.reduction = Reduction::sum;
      CHECK(cross_entropy(logits, target, o).item<double>() == 0.0);
      o.reduction = Reduction::none;
      CHECK(vals(cross_entropy(logits, target, o)) == Vec{0, 0, 0});
    }
  }
  SUBCASE("a single sample: logits [C], target 0-d") {
    Tensor row = select(logits, 0, 1);
    Tensor target = full({}, 3.0, DType::int64);
    CeRef ref = ref_cross_entropy(unsqueeze(row, 0), {3}, -100, 0.0);
    Tensor l = cross_entropy(row, target);
    CHECK(l.dim() == 0);
    CHECK_VALUES(l, (Vec{ref.mean}), 1e-10);
    CrossEntropyOptions o;
    o.reduction = Reduction::none;
    CHECK(cross_entropy(row, target, o).dim() == 0);
  }
  SUBCASE("bad targets are errors") {
    CHECK_THROWS_AS(cross_entropy(logits, from_vector<int64_t>({0, 5, 1})), Error);
    CHECK_THROWS_AS(cross_entropy(logits, from_vector<int64_t>({0, -1, 1})), Error);
    CHECK_THROWS_AS(cross_entropy(logits, from_vector<int64_t>({0, 1})), Error);
    CHECK_THROWS_AS(cross_entropy(logits, from_vector<double>({0, 1, 1})), Error);
    CrossEntropyOptions o;
    o.label_smoothing = 1.5;
    CHECK_THROWS_AS(cross_entropy(logits, from_vector<int64_t>({0, 1, 1}), o), Error);
  }
  SUBCASE("huge logits stay finite") {
    Tensor big = from_vector<float>({1000.f, -1000.f, 0.f, 500.f}, {2, 2});
    Tensor l = cross_entropy(big, from_vector<int64_t>({1, 0}));
    CHECK(all_finite(l));
    CHECK(l.item<float>() == doctest::Approx((2000.0 + 500.0) / 2));
  }
}

// ---- cat and stack -----------------------------------------------------------------------------

TEST_CASE("ops forward: cat along each dim, strided and integer inputs") {
  for (DType dt : {DType::float32, DType::float64, DType::int64}) {
    Tensor a = rnd({2, 3, 4}, dt, 20), b = rnd({2, 1, 4}, dt, 21), c = transpose(rnd({2, 4, 2}, dt, 22), 1, 2);
    Tensor y = cat({a, b, c}, 1);
    CHECK(y.shape() == Shape{2, 6, 4});
    CHECK(y.dtype() == dt);
    CHECK(vals(narrow(y, 1, 0, 3)) == vals(a));
    CHECK(vals(narrow(y, 1, 3, 1)) == vals(b));
    CHECK(vals(narrow(y, 1, 4, 2)) == vals(c));
    Tensor y0 = cat({a, a}, 0);
    CHECK(y0.shape() == Shape{4, 3, 4});
    Vec av = vals(a), twice = av;
    twice.insert(twice.end(), av.begin(), av.end());
    CHECK(vals(y0) == twice);
    Tensor yl = cat({a, rnd({2, 3, 1}, dt, 23)}, -1);
    CHECK(yl.shape() == Shape{2, 3, 5});
    CHECK(vals(narrow(yl, 2, 0, 4)) == av);
    CHECK(vals(cat({a}, 2)) == av);
  }
  CHECK(cat({zeros({0, 3}), ones({2, 3})}, 0).shape() == Shape{2, 3});
  CHECK_THROWS_AS(cat({zeros({2, 3}), zeros({2, 4})}, 0), Error);
  CHECK_THROWS_AS(cat({zeros({2, 3}), zeros({2, 3}, DType::float64)}, 0), Error);
  CHECK_THROWS_AS(cat({zeros({2, 3}), zeros({3})}, 0), Error);
  CHECK_THROWS_AS(cat({scalar(1.0), scalar(2.0)}, 0), Error);
  CHECK_THROWS_AS(cat({}, 0), Error);
}

TEST_CASE("ops forward: stack along each dim") {
  std::vector<Tensor> ts = {rnd({2, 3}, DType::float32, 24), transpose(rnd({3, 2}, DType::float32, 25), 0, 1),
                            rnd({2, 3}, DType::float32, 26)};
  for (int64_t dim : {0, 1, 2, -1}) {
    CAPTURE(dim);
    Tensor y = stack(ts, dim);
    int64_t d = dim < 0 ? dim + 3 : dim;
    Shape expected = {2, 3};
    expected.insert(expected.begin() + d, 3);
    CHECK(y.shape() == expected);
    for (int64_t i = 0; i < 3; ++i) CHECK(vals(select(y, d, i)) == vals(ts[i]));
  }
  Tensor s0 = stack({scalar(1.0), scalar(2.0)});  // 0-d tensors stack into a vector
  CHECK(s0.shape() == Shape{2});
  CHECK(vals(s0) == Vec{1, 2});
  CHECK_THROWS_AS(stack({zeros({2, 3}), zeros({3, 2})}), Error);
}
