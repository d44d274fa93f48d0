// The CPU chunked kernel with issue 15's options against the vanilla composition, at sizes the op
// table does not reach: odd lengths, Nq != Nk, blocks that do not divide them, windows that skip
// key and query blocks, bias gradients broadcast over batch, heads or keys (the dims the backward
// loops inside one task), and rows with no visible key (output 0, gradients 0).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "autograd/attention.h"
#include "autograd/ops.h"
#include "backends/attention_scores.h"

using namespace memgrad;

namespace {

// One comparison: shapes, block sizes and the options (set_opts gets the case's extra tensors).
struct Case {
  std::string name;
  int64_t B = 2, H = 2, Hkv = 2, Nq = 37, Nk = 53, D = 8, Dv = 5;
  int64_t q_chunk = 8, k_chunk = 16;
  std::vector<int64_t> bias_shape;  // empty: no bias; else its shape (broadcast dims 1), with gradient
  int64_t buckets = 0;              // > 0: a relative table [H, buckets] with gradient
  std::function<void(AttentionOptions&)> set;
};

struct Run {
  Tensor out, dq, dk, dv, dbias, dtable;
};

// out and the gradients of sum(out * w), for `kind`, on fresh leaves made from the same seed.
Run run(const Case& c, AttentionKind kind, DType dt) {
  Generator g(7);
  Tensor q = randn({c.B, c.H, c.Nq, c.D}, dt, &g).set_requires_grad();
  Tensor k = randn({c.B, c.Hkv, c.Nk, c.D}, dt, &g).set_requires_grad();
  Tensor v = randn({c.B, c.Hkv, c.Nk, c.Dv}, dt, &g).set_requires_grad();
  Tensor w = randn({c.B, c.H, c.Nq, c.Dv}, dt, &g);
  AttentionOptions o{.kind = kind, .q_chunk = c.q_chunk, .k_chunk = c.k_chunk};
  Tensor bias, table;
  if (!c.bias_shape.empty()) o.bias = bias = randn(c.bias_shape, dt, &g).set_requires_grad();
  if (c.buckets > 0) {
    o.position = PositionBias::relative;
    o.relative_table = table = randn({c.H, c.buckets}, dt, &g).set_requires_grad();
    o.relative_max_distance = 20;
  }
  if (c.set) c.set(o);
  Generator drop(11);  // the same keep pattern for both kinds
  o.generator = &drop;
  Tensor out = attention(q, k, v, o);
  sum(out * w).backward();
  return {detach(out), q.grad(), k.grad(), v.grad(), bias.defined() ? bias.grad() : Tensor(),
          table.defined() ? table.grad() : Tensor()};
}

// max |a - b| / max(max |b|, 1); both finite.
double err(const Tensor& a, const Tensor& b) {
  REQUIRE(a.defined() == b.defined());
  if (!a.defined()) return 0;
  auto x = contiguous(to(a, DType::float64)).to_vector<double>();
  auto y = contiguous(to(b, DType::float64)).to_vector<double>();
  REQUIRE(x.size() == y.size());
  double num = 0, den = 1;
  bool finite = true;
  for (size_t i = 0; i < x.size(); ++i) {
    finite &= std::isfinite(x[i]);
    num = std::max(num, std::abs(x[i] - y[i]));
    den = std::max(den, std::abs(y[i]));
  }
  REQUIRE(finite);
  return num / den;
}

void check_against_vanilla(const Case& c) {
  for (DType dt : {DType::float64, DType::float32}) {
    CAPTURE(c.name);
    CAPTURE(to_string(dt));
    const double tol = dt == DType::float64 ? 1e-12 : 2e-5;
    const Run a = run(c, AttentionKind::chunked, dt), r = run(c, AttentionKind::vanilla, dt);
    CHECK(err(a.out, r.out) <= tol);
    CHECK(err(a.dq, r.dq) <= tol);
    CHECK(err(a.dk, r.dk) <= tol);
    CHECK(err(a.dv, r.dv) <= tol);
    CHECK(err(a.dbias, r.dbias) <= tol);
    CHECK(err(a.dtable, r.dtable) <= tol);
  }
}

// Whether rows [i0, i1) of head h of batch b of x [B, H, N, E] are all exactly 0.
bool rows_zero(const Tensor& x, int64_t b, int64_t h, int64_t i0, int64_t i1) {
  Tensor s = contiguous(to(narrow(select(select(x, 0, b), 0, h), 0, i0, i1 - i0), DType::float64));
  for (double e : s.to_vector<double>())
    if (e != 0) return false;
  return true;
}

}  // namespace

TEST_CASE("chunked attention options equal vanilla at odd sizes across many blocks") {
  std::vector<Case> cs;
  cs.push_back({.name = "sliding window (5, 3)", .set = [](AttentionOptions& o) { o.window_left = 5, o.window_right = 3; }});
  cs.push_back({.name = "causal window 9, Nq > Nk, top-left", .Nq = 53, .Nk = 37, .set = [](AttentionOptions& o) {
                  o.causal = true, o.window_left = 9, o.causal_align = CausalAlign::top_left;
                }});
  cs.push_back({.name = "causal window 0 (each query sees its diagonal key only)", .set = [](AttentionOptions& o) {
                  o.causal = true, o.window_left = 0;
                }});
  cs.push_back({.name = "bias [B, H, Nq, Nk] with gradient", .bias_shape = {2, 2, 37, 53}});
  cs.push_back({.name = "bias [B, 1, 1, Nk] (heads and queries broadcast), GQA", .H = 4,
                .bias_shape = {2, 1, 1, 53}});
  cs.push_back({.name = "bias [1, 1, Nq, 1] (batch, heads and keys broadcast)", .bias_shape = {1, 1, 37, 1}});
  cs.push_back({.name = "ALiBi, MQA (H 3, Hkv 1), window", .H = 3, .Hkv = 1, .set = [](AttentionOptions& o) {
                  o.position = PositionBias::alibi, o.window_left = 11, o.window_right = 6;
                }});
  cs.push_back({.name = "causal relative table, GQA (H 4, Hkv 2)", .H = 4, .buckets = 12,
                .set = [](AttentionOptions& o) { o.causal = true; }});
  cs.push_back({.name = "attn_mask [B, H, Nq, Nk], padding, dropout 0.25", .set = [](AttentionOptions& o) {
                  Generator g(5);
                  o.attn_mask = gt(rand({2, 2, 37, 53}, DType::float32, &g), full({}, 0.3));
                  o.key_lengths = from_vector<int64_t>({53, 30});
                  o.dropout_p = 0.25;
                }});
  cs.push_back({.name = "packed (10, 0, 20, 7) x (15, 8, 0, 30): causal, window, ALiBi, dropout", .B = 1,
                .set = [](AttentionOptions& o) {
                  o.cu_seqlens_q = from_vector<int64_t>({0, 10, 10, 30, 37});
                  o.cu_seqlens_k = from_vector<int64_t>({0, 15, 23, 23, 53});
                  o.causal = true, o.window_left = 6, o.position = PositionBias::alibi, o.dropout_p = 0.1;
                }});
  cs.push_back({.name = "packed with relative table and bias, GQA", .B = 1, .H = 4, .bias_shape = {1, 4, 37, 53},
                .buckets = 8, .set = [](AttentionOptions& o) {
                  o.cu_seqlens_q = from_vector<int64_t>({0, 17, 37});
                  o.cu_seqlens_k = from_vector<int64_t>({0, 30, 53});
                }});
  for (const Case& c : cs) check_against_vanilla(c);
}

TEST_CASE("chunked attention: rows with no visible key give 0 output and 0 gradients, with options") {
  // Causal bottom-right with Nq > Nk: the first Nq - Nk queries see no key. The masked rows of an
  // attn_mask, and the queries of a packed sequence without keys, likewise.
  Case causal{.name = "causal Nq > Nk with GQA, ALiBi, relative table, bias, dropout", .H = 4, .Nq = 29, .Nk = 13,
              .bias_shape = {1, 4, 29, 13}, .buckets = 8, .set = [](AttentionOptions& o) {
                o.causal = true, o.dropout_p = 0.2;
              }};
  check_against_vanilla(causal);
  const Run a = run(causal, AttentionKind::chunked, DType::float32);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t h = 0; h < 4; ++h) {
      CHECK(rows_zero(a.out, b, h, 0, 16));
      CHECK(rows_zero(a.dq, b, h, 0, 16));
      CHECK(!rows_zero(a.out, b, h, 16, 29));
    }
  CHECK(rows_zero(a.dbias, 0, 0, 0, 16));

  Case masked{.name = "attn_mask hiding rows 3 and 20 entirely, window, MQA", .H = 2, .Hkv = 1, .buckets = 8,
              .set = [](AttentionOptions& o) {
                std::vector<int32_t> m(37 * 53, 1);
                for (int64_t j = 0; j < 53; ++j) m[3 * 53 + j] = m[20 * 53 + j] = 0;
                o.attn_mask = ne(from_vector(m, {37, 53}), zeros({}, DType::int32));
                o.window_left = o.window_right = 12, o.dropout_p = 0.3;
              }};
  check_against_vanilla(masked);
  const Run m = run(masked, AttentionKind::chunked, DType::float32);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t i : {3, 20}) {
        CHECK(rows_zero(m.out, b, h, i, i + 1));
        CHECK(rows_zero(m.dq, b, h, i, i + 1));
      }

  Case packed{.name = "a packed sequence with no keys", .B = 1, .buckets = 8, .set = [](AttentionOptions& o) {
                o.cu_seqlens_q = from_vector<int64_t>({0, 12, 25, 37});
                o.cu_seqlens_k = from_vector<int64_t>({0, 20, 20, 53});
                o.dropout_p = 0.2;
              }};
  check_against_vanilla(packed);
  const Run p = run(packed, AttentionKind::chunked, DType::float32);
  for (int64_t h = 0; h < 2; ++h) {
    CHECK(rows_zero(p.out, 0, h, 12, 25));
    CHECK(rows_zero(p.dq, 0, h, 12, 25));
  }
}

TEST_CASE("DropoutRule::keep_run equals keep at every alignment and length") {
  const DropoutRule r = make_dropout_rule(0.4, 99, 7);
  uint8_t out[24];
  for (int64_t j0 = 0; j0 < 9; ++j0)
    for (int64_t n = 0; n <= 17; ++n) {
      std::fill(out, out + 24, uint8_t{2});
      r.keep_run(3, 5, j0, n, out);
      for (int64_t c = 0; c < n; ++c) CHECK(out[c] == (r.keep(3, 5, j0 + c) ? 1 : 0));
      for (int64_t c = n; c < 24; ++c) CHECK(out[c] == 2);  // nothing written beyond n
    }
}

namespace {

// out and the gradients of sum(out * w) for float64 inputs with NaN in k at key 4 and +inf in v
// at key 10 of every (batch, kv head), and NaN in q at query 2.
Run run_poisoned(const Case& c, AttentionKind kind) {
  Generator g(13);
  auto make = [&](Shape s, int64_t row, double value) {
    std::vector<double> x = randn(s, DType::float64, &g).to_vector<double>();
    const int64_t N = s[2], E = s[3];
    for (int64_t bh = 0; bh < s[0] * s[1]; ++bh)
      for (int64_t e = 0; e < E; ++e) x[static_cast<size_t>((bh * N + row) * E + e)] = value;
    return from_vector(x, s).set_requires_grad();
  };
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  Tensor q = make({c.B, c.H, c.Nq, c.D}, 2, nan), k = make({c.B, c.Hkv, c.Nk, c.D}, 4, nan),
         v = make({c.B, c.Hkv, c.Nk, c.Dv}, 10, inf);
  Tensor w = randn({c.B, c.H, c.Nq, c.Dv}, DType::float64, &g);
  AttentionOptions o{.kind = kind, .q_chunk = c.q_chunk, .k_chunk = c.k_chunk};
  c.set(o);
  Generator drop(17);
  o.generator = &drop;
  Tensor out = attention(q, k, v, o);
  sum(out * w).backward();
  return {detach(out), q.grad(), k.grad(), v.grad(), Tensor(), Tensor()};
}

// Whether a and b have NaN, +-inf and finite values at the same places, finite ones within tol.
bool same_classes(const Tensor& a, const Tensor& b, double tol) {
  auto x = contiguous(a).to_vector<double>(), y = contiguous(b).to_vector<double>();
  if (x.size() != y.size()) return false;
  for (size_t e = 0; e < x.size(); ++e) {
    if (std::isnan(x[e]) != std::isnan(y[e])) return false;
    if (std::isnan(x[e])) continue;
    if (std::isinf(x[e]) || std::isinf(y[e])) {
      if (x[e] != y[e]) return false;
      continue;
    }
    if (std::abs(x[e] - y[e]) > tol * std::max(1.0, std::abs(y[e]))) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("chunked attention options: NaN and inf in masked pairs carry nothing, as in vanilla") {
  std::vector<Case> cs;
  cs.push_back({.name = "causal window 3, ALiBi, GQA, dropout", .H = 4, .set = [](AttentionOptions& o) {
                  o.causal = true, o.window_left = 3, o.position = PositionBias::alibi, o.dropout_p = 0.2;
                }});
  cs.push_back({.name = "attn_mask hiding keys 4 and 10 from odd queries", .set = [](AttentionOptions& o) {
                  std::vector<int32_t> m(37 * 53, 1);
                  for (int64_t i = 1; i < 37; i += 2) m[i * 53 + 4] = m[i * 53 + 10] = 0;
                  o.attn_mask = ne(from_vector(m, {37, 53}), zeros({}, DType::int32));
                }});
  cs.push_back({.name = "packed: keys 4 and 10 in the first sequence only", .B = 1, .set = [](AttentionOptions& o) {
                  o.cu_seqlens_q = from_vector<int64_t>({0, 15, 37});
                  o.cu_seqlens_k = from_vector<int64_t>({0, 12, 53});
                  o.window_left = 20;
                }});
  for (const Case& c : cs) {
    CAPTURE(c.name);
    const Run a = run_poisoned(c, AttentionKind::chunked), r = run_poisoned(c, AttentionKind::vanilla);
    CHECK(same_classes(a.out, r.out, 1e-12));
    CHECK(same_classes(a.dq, r.dq, 1e-12));
    CHECK(same_classes(a.dk, r.dk, 1e-12));
    CHECK(same_classes(a.dv, r.dv, 1e-12));
    // and something stayed finite: the masked pairs did not spread the NaN everywhere
    const std::vector<double> o = contiguous(a.out).to_vector<double>();
    CHECK(std::count_if(o.begin(), o.end(), [](double x) { return std::isfinite(x); }) > 0);
  }
}

TEST_CASE("chunked attention options: lse is the undropped statistic, as vanilla's") {
  Case c{.name = "window, ALiBi, dropout 0.5", .H = 4, .Hkv = 2, .set = [](AttentionOptions& o) {
           o.window_left = 7, o.window_right = 2, o.position = PositionBias::alibi, o.dropout_p = 0.5;
         }};
  Generator g(21);
  Tensor q = randn({c.B, c.H, c.Nq, c.D}, DType::float64, &g), k = randn({c.B, c.Hkv, c.Nk, c.D}, DType::float64, &g),
         v = randn({c.B, c.Hkv, c.Nk, c.Dv}, DType::float64, &g);
  Tensor lse[2];
  for (int e = 0; e < 2; ++e) {
    AttentionOptions o{.kind = e == 0 ? AttentionKind::chunked : AttentionKind::vanilla, .q_chunk = 8, .k_chunk = 16};
    c.set(o);
    Generator drop(5);
    o.generator = &drop;
    lse[e] = attention_outputs(q, k, v, o, {.lse = true}).lse;
  }
  CHECK(same_classes(lse[0], lse[1], 1e-12));
}
