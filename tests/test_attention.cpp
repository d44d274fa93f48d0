// Attention: chunked equals vanilla (values and gradients), top-k semantics, masks, gradchecks.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/attention.h"
#include "autograd/ops.h"
#include "backends/backend.h"

using namespace memgrad;

namespace {

struct Inputs {
  Tensor q, k, v;
};

Inputs make_inputs(int64_t B, int64_t H, int64_t Nq, int64_t Nk, int64_t D, DType dt, uint64_t seed,
                   int64_t Dv = -1) {
  Generator g(seed);
  return {randn({B, H, Nq, D}, dt, &g).set_requires_grad(), randn({B, H, Nk, D}, dt, &g).set_requires_grad(),
          randn({B, H, Nk, Dv < 0 ? D : Dv}, dt, &g).set_requires_grad()};
}

// Output and the three gradients of sum(attention(...) * w) for a fixed random w.
struct Result {
  Tensor out, dq, dk, dv;
};
Result run(const Inputs& in, const AttentionOptions& o, const Tensor& w) {
  for (auto* t : {&in.q, &in.k, &in.v}) t->impl()->grad = nullptr;
  Tensor out = attention(in.q, in.k, in.v, o);
  sum(out * w).backward();
  return {detach(out), in.q.grad(), in.k.grad(), in.v.grad()};
}

// max |a - b| / max |b|
double rel_err(const Tensor& a, const Tensor& b) {
  auto x = contiguous(to(a, DType::float64)).to_vector<double>();
  auto y = contiguous(to(b, DType::float64)).to_vector<double>();
  REQUIRE(x.size() == y.size());
  double num = 0, den = 0;
  bool finite = true;
  for (size_t i = 0; i < x.size(); ++i) {
    finite &= std::isfinite(x[i]);
    num = std::max(num, std::abs(x[i] - y[i]));
    den = std::max(den, std::abs(y[i]));
  }
  REQUIRE(finite);
  return den == 0 ? num : num / den;
}

void check_same(const Result& a, const Result& b, double tol) {
  CHECK(rel_err(a.out, b.out) <= tol);
  CHECK(rel_err(a.dq, b.dq) <= tol);
  CHECK(rel_err(a.dk, b.dk) <= tol);
  CHECK(rel_err(a.dv, b.dv) <= tol);
}

AttentionOptions with_kind(AttentionOptions o, AttentionKind k) {
  o.kind = k;
  return o;
}

}  // namespace

TEST_CASE("chunked equals vanilla in float32: values and gradients") {
  struct Case {
    int64_t B, H, Nq, Nk, D, qc, kc;
    bool causal;
    int mask;  // 0 none, 1 bool padding, 2 lengths
  };
  const Case cases[] = {
      {1, 1, 1000, 1000, 64, 128, 128, false, 0},  // chunks that do not divide N
      {1, 1, 1000, 1000, 64, 300, 300, false, 0},
      {2, 3, 257, 257, 16, 64, 100, true, 0},
      {2, 2, 130, 333, 32, 128, 300, false, 1},  // Nq != Nk
      {2, 2, 333, 130, 32, 50, 64, true, 2},     // causal with Nq > Nk: the first rows see no key
      {1, 2, 200, 200, 128, 64, 256, true, 1},
      {3, 1, 77, 91, 64, 1, 7, true, 2},  // tiny chunks
  };
  for (const Case& c : cases) {
    CAPTURE(c.Nq);
    CAPTURE(c.Nk);
    CAPTURE(c.D);
    CAPTURE(c.qc);
    CAPTURE(c.kc);
    CAPTURE(c.causal);
    CAPTURE(c.mask);
    Inputs in = make_inputs(c.B, c.H, c.Nq, c.Nk, c.D, DType::float32, 7 + c.Nq);
    AttentionOptions o{.causal = c.causal, .q_chunk = c.qc, .k_chunk = c.kc};
    if (c.mask == 1) {
      std::vector<bool> pad(c.B * c.Nk);
      for (int64_t i = 0; i < c.B * c.Nk; ++i) pad[i] = (i * 7919) % 5 == 0;  // scattered padding
      o.key_padding_mask = from_vector<bool>(pad, {c.B, c.Nk});
    } else if (c.mask == 2) {
      std::vector<int64_t> len(c.B);
      for (int64_t b = 0; b < c.B; ++b) len[b] = c.Nk - 13 * (b + 1);
      o.key_lengths = from_vector<int64_t>(len);
    }
    Generator g(99);
    Tensor w = randn({c.B, c.H, c.Nq, c.D}, DType::float32, &g);
    Result ref = run(in, with_kind(o, AttentionKind::vanilla), w);
    Result chk = run(in, with_kind(o, AttentionKind::chunked), w);
    check_same(chk, ref, 1e-5);
  }
}

TEST_CASE("chunked equals vanilla for every head dim and a different value dim") {
  for (int64_t D : {16, 32, 64, 128}) {
    CAPTURE(D);
    Inputs in = make_inputs(2, 2, 150, 150, D, DType::float32, D);
    Generator g(5);
    Tensor w = randn({2, 2, 150, D}, DType::float32, &g);
    AttentionOptions o{.causal = true};
    check_same(run(in, with_kind(o, AttentionKind::chunked), w), run(in, with_kind(o, AttentionKind::vanilla), w),
               1e-5);
  }
  Inputs in = make_inputs(1, 2, 90, 70, 32, DType::float32, 3, /*Dv=*/48);
  Generator g(6);
  Tensor w = randn({1, 2, 90, 48}, DType::float32, &g);
  check_same(run(in, {.kind = AttentionKind::chunked, .q_chunk = 32, .k_chunk = 16}, w),
             run(in, {.kind = AttentionKind::vanilla}, w), 1e-5);
}

TEST_CASE("chunked reads strided views in place") {
  // [B, N, H, D] projections viewed as [B, H, N, D], as multi-head attention does
  Generator g(4);
  Tensor x = randn({2, 100, 3, 32}, DType::float32, &g).set_requires_grad();
  Tensor w = randn({2, 3, 100, 32}, DType::float32, &g);
  auto grad_of = [&](AttentionKind kind) {
    x.impl()->grad = nullptr;
    Tensor q = transpose(x, 1, 2);  // [B, H, N, D], row stride H*D
    Tensor o = attention(q, q, q, {.kind = kind, .causal = true});
    sum(o * w).backward();
    return std::pair{detach(o), x.grad()};
  };
  auto [oc, gc] = grad_of(AttentionKind::chunked);
  auto [ov, gv] = grad_of(AttentionKind::vanilla);
  CHECK(rel_err(oc, ov) <= 1e-5);
  CHECK(rel_err(gc, gv) <= 1e-5);
}

TEST_CASE("chunked and topk give bitwise the same values and gradients on every run") {
  // Blocks go to threads dynamically (parallel_for_dynamic); with at least two (batch, head) groups
  // per thread a head's dQ parts are still added by one thread in key-block order.
  const Inputs in = make_inputs(2, 4, 200, 300, 16, DType::float32, 31);
  Generator g(32);
  const Tensor w = randn({2, 4, 200, 16}, DType::float32, &g);
  for (AttentionKind kind : {AttentionKind::chunked, AttentionKind::topk}) {
    AttentionOptions o;
    o.kind = kind;
    o.q_chunk = 32, o.k_chunk = 64;  // many blocks per head
    o.top_k = 20;
    const Result first = run(in, o, w);
    for (int rep = 0; rep < 4; ++rep) {
      const Result again = run(in, o, w);
      for (auto [a, b] : {std::pair{first.out, again.out}, {first.dq, again.dq}, {first.dk, again.dk},
                          {first.dv, again.dv}})
        CHECK(contiguous(a).to_vector<float>() == contiguous(b).to_vector<float>());
    }
  }
}

TEST_CASE("topk with k >= Nk equals vanilla") {
  Inputs in = make_inputs(2, 2, 120, 100, 32, DType::float32, 11);
  Generator g(12);
  Tensor w = randn({2, 2, 120, 32}, DType::float32, &g);
  for (bool causal : {false, true}) {
    CAPTURE(causal);
    AttentionOptions o{.causal = causal, .key_lengths = from_vector<int64_t>({100, 61}), .top_k = 100};
    check_same(run(in, with_kind(o, AttentionKind::topk), w), run(in, with_kind(o, AttentionKind::vanilla), w),
               1e-5);
    o.top_k = 1000;
    check_same(run(in, with_kind(o, AttentionKind::topk), w), run(in, with_kind(o, AttentionKind::vanilla), w),
               1e-5);
  }
}

TEST_CASE("topk keeps the k largest unmasked scores and never a masked key") {
  const int64_t B = 2, H = 1, N = 50, D = 8, K = 5;
  Inputs in = make_inputs(B, H, N, N, D, DType::float64, 21);
  std::vector<bool> pad(B * N);
  for (int64_t i = 0; i < B * N; ++i) pad[i] = i % 3 == 0;
  Tensor mask = from_vector<bool>(pad, {B, N});
  Tensor valid = contiguous(logical_not(mask));
  Tensor out = empty({B, H, N, D}, DType::float64), idx = empty({B, H, N, K}, DType::int32),
         probs = empty({B, H, N, K}, DType::float64);
  AttentionParams p{.scale = 0.5, .causal = true, .q_chunk = 16, .k_chunk = 16, .top_k = K};
  Tensor no_lse;
  backend_for(Device::cpu()).attention_topk_forward(in.q, in.k, in.v, AttentionMods{.key_valid = valid}, p, out, idx,
                                                    probs, no_lse);
  Tensor scores = matmul(detach(in.q), transpose(detach(in.k), -1, -2)) * 0.5;  // [B, H, N, N]
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < N; ++i) {
      std::vector<std::pair<double, int>> cand;  // unmasked keys this query may see
      for (int64_t j = 0; j <= i; ++j)
        if (!pad[b * N + j]) cand.push_back({scores.at<double>({b, 0, i, j}), static_cast<int>(j)});
      std::sort(cand.rbegin(), cand.rend());
      int64_t expect = std::min<int64_t>(K, cand.size());
      std::vector<int> want, got;
      for (int64_t t = 0; t < expect; ++t) want.push_back(cand[t].second);
      double psum = 0;
      for (int64_t t = 0; t < K; ++t) {
        int j = idx.at<int32_t>({b, 0, i, t});
        double pt = probs.at<double>({b, 0, i, t});
        if (j < 0) {
          CHECK(pt == 0);
          continue;
        }
        CHECK(!pad[b * N + j]);  // never a masked key
        CHECK(j <= i);           // never a future key
        got.push_back(j);
        psum += pt;
      }
      std::sort(want.begin(), want.end());
      CHECK(got == want);
      if (expect > 0) CHECK(psum == doctest::Approx(1.0));
    }
}

TEST_CASE("a fully masked row gives zeros and zero gradients in every kind") {
  Inputs in = make_inputs(2, 2, 20, 20, 16, DType::float32, 31);
  Generator g(32);
  Tensor w = randn({2, 2, 20, 16}, DType::float32, &g);
  for (auto kind : {AttentionKind::vanilla, AttentionKind::chunked, AttentionKind::topk}) {
    CAPTURE(to_string(kind));
    // batch 1 has no valid key at all
    Result r = run(in, {.kind = kind, .key_lengths = from_vector<int64_t>({20, 0}), .q_chunk = 8, .k_chunk = 8, .top_k = 4},
                   w);
    CHECK(all_finite(r.out));
    CHECK(all_finite(r.dq));
    CHECK(all_finite(r.dk));
    CHECK(all_finite(r.dv));
    for (const Tensor* t : {&r.out, &r.dq, &r.dk, &r.dv}) {
      Tensor b1 = select(*t, 0, 1);
      CHECK(amax(abs(b1)).item<float>() == 0);
      CHECK(amax(abs(select(*t, 0, 0))).item<float>() > 0);
    }
  }
  // causal with Nq > Nk: the first Nq - Nk queries see no key
  Inputs in2 = make_inputs(1, 1, 12, 5, 8, DType::float32, 33);
  Tensor w2 = ones({1, 1, 12, 8});
  for (auto kind : {AttentionKind::vanilla, AttentionKind::chunked, AttentionKind::topk}) {
    Result r = run(in2, {.kind = kind, .causal = true, .q_chunk = 4, .k_chunk = 2, .top_k = 3}, w2);
    CHECK(amax(abs(narrow(r.out, 2, 0, 7))).item<float>() == 0);
    CHECK(amax(abs(narrow(r.dq, 2, 0, 7))).item<float>() == 0);
    CHECK(amax(abs(narrow(r.out, 2, 7, 5))).item<float>() > 0);
    CHECK(all_finite(r.dk));
  }
}

TEST_CASE("gradcheck of every kind in float64 with masks") {
  Inputs in = make_inputs(2, 2, 7, 9, 4, DType::float64, 41);
  Tensor lengths = from_vector<int64_t>({9, 5});
  Tensor pad = from_vector<bool>({false, true, false, false, true, false, false, false, true,  //
                                  false, false, false, true, false, false, false, false, false},
                                 {2, 9});
  for (auto kind : {AttentionKind::vanilla, AttentionKind::chunked, AttentionKind::topk}) {
    for (int variant = 0; variant < 2; ++variant) {
      CAPTURE(to_string(kind));
      CAPTURE(variant);
      AttentionOptions o{.kind = kind, .causal = variant == 1, .q_chunk = 3, .k_chunk = 4, .top_k = 3};
      if (variant == 0) o.key_lengths = lengths;
      else o.key_padding_mask = pad;
      auto r = gradcheck(
          [&](const std::vector<Tensor>& x) { return std::vector<Tensor>{attention(x[0], x[1], x[2], o)}; },
          {in.q, in.k, in.v});
      INFO(r.message);
      CHECK(r.ok);
    }
  }
}

TEST_CASE("invalid attention options are clear errors") {
  Inputs in = make_inputs(1, 2, 8, 8, 4, DType::float32, 51);
  auto err = [&](const AttentionOptions& o) { return attention(in.q, in.k, in.v, o); };
  CHECK_THROWS_WITH_AS(err({.q_chunk = 0}), doctest::Contains("[attention] q_chunk must be positive, got 0"), Error);
  CHECK_THROWS_WITH_AS(err({.k_chunk = -3}), doctest::Contains("[attention] k_chunk must be positive, got -3"), Error);
  CHECK_THROWS_WITH_AS(err({.kind = AttentionKind::topk, .top_k = 0}), doctest::Contains("top_k must be positive"),
                       Error);
  CHECK_THROWS_WITH_AS(err({.scale = -1.0}), doctest::Contains("scale must be positive"), Error);
  CHECK_THROWS_WITH_AS(err({.key_padding_mask = zeros({1, 8})}), doctest::Contains("key_padding_mask must be bool"),
                       Error);
  CHECK_THROWS_WITH_AS(err({.key_lengths = from_vector<int64_t>({1, 2})}),
                       doctest::Contains("key_lengths must be int [B] = [1], got int64 [2]"), Error);
  CHECK_THROWS_WITH_AS(attention(in.q, in.k, zeros({1, 2, 9, 4}).set_requires_grad()),
                       doctest::Contains("[attention] k and v lengths differ: q [1, 2, 8, 4], k [1, 2, 8, 4], v [1, 2, 9, 4]"),
                       Error);
  CHECK_THROWS_WITH_AS(attention(in.q, to(in.k, DType::float64), in.v), doctest::Contains("dtype mismatch"), Error);
  CHECK_THROWS_WITH_AS(attention(reshape(in.q, {2, 8, 4}), in.k, in.v), doctest::Contains("expected [B, H, N, D]"),
                       Error);
  CHECK_THROWS_WITH_AS(parse_attention_kind("flash"), doctest::Contains("unknown attention kind 'flash'"), Error);
}

TEST_CASE("key_lengths outside [0, Nk] are errors naming the batch index and the value, in every kind") {
  Inputs in = make_inputs(3, 2, 8, 8, 4, DType::float32, 52);
  for (auto kind : {AttentionKind::vanilla, AttentionKind::chunked, AttentionKind::topk}) {
    CAPTURE(to_string(kind));
    auto run_with = [&](std::vector<int64_t> len) {
      return attention(in.q, in.k, in.v, {.kind = kind, .key_lengths = from_vector<int64_t>(len)});
    };
    CHECK_THROWS_WITH_AS(run_with({8, -1, 3}),
                         doctest::Contains("[attention] key_lengths[1] = -1 is out of range: a length must be in [0, Nk = 8]"),
                         Error);
    CHECK_THROWS_WITH_AS(run_with({8, 2, 9}), doctest::Contains("key_lengths[2] = 9 is out of range"), Error);
    CHECK_THROWS_WITH_AS(run_with({INT64_MIN, 0, 0}), doctest::Contains("key_lengths[0] = -9223372036854775808"),
                         Error);
    CHECK_NOTHROW(run_with({8, 0, 3}));  // the bounds themselves are lengths
  }
  // int32 lengths, and the shared rule called directly (as the pooling heads may)
  CHECK_THROWS_WITH_AS(key_valid_mask(Tensor(), from_vector<int32_t>({4, 5}), 2, 4, Device::cpu(), "pool"),
                       doctest::Contains("[pool] key_lengths[1] = 5 is out of range"), Error);
  Tensor valid = key_valid_mask(Tensor(), from_vector<int32_t>({2, 0}), 2, 3, Device::cpu());
  CHECK(valid.to_vector<bool>() == std::vector<bool>{true, true, false, false, false, false});
  Tensor pad = from_vector<bool>({false, true, false, true, true, true}, {2, 3});
  CHECK(key_valid_mask(pad, Tensor(), 2, 3, Device::cpu()).to_vector<bool>() ==
        std::vector<bool>{true, false, true, false, false, false});
  CHECK(!key_valid_mask(Tensor(), Tensor(), 2, 3, Device::cpu()).defined());
  CHECK_THROWS_WITH_AS(key_valid_mask(pad, from_vector<int64_t>({1, 1}), 2, 3, Device::cpu(), "pool"),
                       doctest::Contains("[pool] give key_padding_mask or key_lengths, not both"), Error);
}
