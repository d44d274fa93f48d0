// The topk kind with the options of issue 15 (autograd/attention.h): with top_k >= Nk it equals
// the vanilla composition with every option on at once (values, lse and every gradient: q, k, v,
// the bias and the relative table), in float64 tightly and float32 to rounding; with a small top_k
// it equals the loop reference of tests/attention_options_ref.h at sizes that cross many query
// chunks; its bias and table gradients are deterministic (race-free accumulation).
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "attention_options_ref.h"
#include "autograd/attention.h"
#include "autograd/ops.h"

using namespace memgrad;

namespace {

// One configuration of options; sizes odd, Nq != Nk.
struct Config {
  std::string name;
  int64_t B = 2, H = 4, Hkv = 2, Nq = 13, Nk = 17, D = 5, Dv = 3;
  bool causal = false, top_left = false;
  int64_t wl = -1, wr = -1;
  bool mask = true, padding = true;
  Shape bias_shape = {1, 4, 13, 17};  // empty: no bias
  PositionBias position = PositionBias::relative;
  std::vector<int64_t> cu_q, cu_k;  // packed sequences (B = 1)
  double dropout = 0.25;
};

// The inputs of a configuration, all random (never zeros): q, k, v, bias and table require grad.
struct Inputs {
  Tensor q, k, v, bias, table, mask, padding;
};

Tensor random_bools(const Shape& shape, double p_true, uint32_t seed) {
  std::mt19937 rng(seed);
  std::bernoulli_distribution coin(p_true);
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  std::vector<bool> v(static_cast<size_t>(n));
  for (size_t e = 0; e < v.size(); ++e) v[e] = coin(rng);
  return from_vector<bool>(v, shape);
}

Inputs make_inputs(const Config& c, DType dt, uint64_t seed) {
  Generator g(seed);
  Inputs in;
  in.q = randn({c.B, c.H, c.Nq, c.D}, dt, &g).set_requires_grad();
  in.k = randn({c.B, c.Hkv, c.Nk, c.D}, dt, &g).set_requires_grad();
  in.v = randn({c.B, c.Hkv, c.Nk, c.Dv}, dt, &g).set_requires_grad();
  if (!c.bias_shape.empty()) in.bias = randn(c.bias_shape, dt, &g).set_requires_grad();
  if (c.position == PositionBias::relative) in.table = randn({c.H, 8}, dt, &g).set_requires_grad();
  if (c.mask) in.mask = random_bools({c.B, 1, c.Nq, c.Nk}, 0.8, static_cast<uint32_t>(seed) + 1);
  if (c.padding) in.padding = random_bools({c.B, c.Nk}, 0.15, static_cast<uint32_t>(seed) + 2);  // true = padding
  return in;
}

AttentionOptions options_of(const Config& c, const Inputs& in, AttentionKind kind, int64_t top_k, Generator* gen) {
  AttentionOptions o{.kind = kind, .causal = c.causal, .q_chunk = 3, .k_chunk = 4, .top_k = top_k};
  o.causal_align = c.top_left ? CausalAlign::top_left : CausalAlign::bottom_right;
  o.window_left = c.wl, o.window_right = c.wr;
  o.attn_mask = in.mask, o.bias = in.bias, o.key_padding_mask = in.padding;
  o.position = c.position;
  if (c.position == PositionBias::relative) o.relative_table = in.table, o.relative_max_distance = 6;
  if (!c.cu_q.empty()) {
    o.cu_seqlens_q = from_vector(c.cu_q, {static_cast<int64_t>(c.cu_q.size())});
    o.cu_seqlens_k = from_vector(c.cu_k, {static_cast<int64_t>(c.cu_k.size())});
  }
  o.dropout_p = c.dropout, o.generator = gen;
  return o;
}

// out, lse, then the gradients of sum(out * w) for q, k, v, bias and table (undefined when absent).
std::vector<Tensor> run(const Config& c, const Inputs& in, AttentionKind kind, int64_t top_k, const Tensor& w) {
  for (const Tensor* t : {&in.q, &in.k, &in.v, &in.bias, &in.table})
    if (t->defined()) t->impl()->grad = nullptr;
  Generator gen(77);  // the same dropout pattern in every run
  AttentionResult r = attention_outputs(in.q, in.k, in.v, options_of(c, in, kind, top_k, &gen), {.lse = true});
  sum(r.out * w).backward();
  auto grad = [](const Tensor& t) { return t.defined() ? t.grad() : Tensor(); };
  return {detach(r.out), r.lse, grad(in.q), grad(in.k), grad(in.v), grad(in.bias), grad(in.table)};
}

// max |a - b| / max |b| over the finite entries of b. Where b is not finite (only lse, for a row
// with no visible key) a must be +inf, the contract (autograd/attention.h): vanilla's lse gives
// -inf there, as amax of an all -inf row returns the lowest finite value, not -inf.
double rel_err(const Tensor& a, const Tensor& b) {
  auto x = contiguous(to(a, DType::float64)).to_vector<double>();
  auto y = contiguous(to(b, DType::float64)).to_vector<double>();
  REQUIRE(x.size() == y.size());
  double num = 0, den = 0;
  for (size_t e = 0; e < x.size(); ++e) {
    if (!std::isfinite(y[e])) {
      CHECK(x[e] == INFINITY);
      continue;
    }
    REQUIRE(std::isfinite(x[e]));
    num = std::max(num, std::abs(x[e] - y[e]));
    den = std::max(den, std::abs(y[e]));
  }
  return den == 0 ? num : num / den;
}

void check_same(const std::vector<Tensor>& got, const std::vector<Tensor>& want, double tol) {
  static const char* names[] = {"out", "lse", "dq", "dk", "dv", "dbias", "dtable"};
  for (size_t e = 0; e < want.size(); ++e) {
    const std::string what = names[e];
    CAPTURE(what);
    REQUIRE(got[e].defined() == want[e].defined());
    if (want[e].defined()) CHECK(rel_err(got[e], want[e]) <= tol);
  }
}

std::vector<Config> configs() {
  std::vector<Config> cs;
  cs.push_back({.name = "GQA, causal window, mask, bias, padding, relative, dropout", .causal = true, .wl = 4});
  cs.push_back({.name = "MQA, window (3, 2), ALiBi, bias [B, 1, 1, Nk], top-left",
                .H = 3,
                .Hkv = 1,
                .top_left = true,
                .wl = 3,
                .wr = 2,
                .bias_shape = {2, 1, 1, 17},
                .position = PositionBias::alibi});
  cs.push_back({.name = "Nq > Nk, bias [Nq, Nk], relative, no padding",
                .Nq = 19,
                .Nk = 11,
                .causal = true,
                .padding = false,
                .bias_shape = {19, 11}});
  cs.push_back({.name = "packed sequences with GQA, window, mask, bias, ALiBi, dropout",
                .B = 1,
                .Nq = 16,
                .Nk = 21,
                .causal = true,
                .wl = 5,
                .padding = false,
                .bias_shape = {1, 4, 16, 21},
                .position = PositionBias::alibi,
                .cu_q = {0, 6, 6, 13, 16},
                .cu_k = {0, 4, 9, 18, 21}});
  cs.push_back({.name = "packed bidirectional sequences, relative table with gradient, bias [1, H, 1, Nk]",
                .B = 1,
                .Nq = 14,
                .Nk = 12,
                .padding = false,
                .bias_shape = {1, 4, 1, 12},
                .cu_q = {0, 5, 14},
                .cu_k = {0, 7, 12}});
  return cs;
}

}  // namespace

TEST_CASE("topk with top_k >= Nk equals vanilla with every option on: values, lse and every gradient") {
  for (const Config& c : configs())
    for (DType dt : {DType::float64, DType::float32}) {
      CAPTURE(c.name);
      CAPTURE(to_string(dt));
      const Inputs in = make_inputs(c, dt, 5);
      Generator g(6);
      const Tensor w = randn({c.B, c.H, c.Nq, c.Dv}, dt, &g);
      const double tol = dt == DType::float64 ? 1e-12 : 2e-5;
      const auto want = run(c, in, AttentionKind::vanilla, 0 + 1, w);  // top_k unused by vanilla
      check_same(run(c, in, AttentionKind::topk, c.Nk, w), want, tol);
      check_same(run(c, in, AttentionKind::topk, 1000, w), want, tol);
    }
}

TEST_CASE("topk with a small top_k equals the loop reference with every option, across many query chunks") {
  Config c = configs()[0];
  c.B = 1, c.Nq = 41, c.Nk = 67, c.wl = 20, c.bias_shape = {1, 4, 41, 67}, c.padding = false;
  c.position = PositionBias::alibi;
  const Inputs in = make_inputs(c, DType::float64, 9);
  Generator gen(77);
  const int64_t top_k = 5;
  const Tensor out = attention(in.q, in.k, in.v, options_of(c, in, AttentionKind::topk, top_k, &gen));
  attnref::Options r{.B = c.B, .H = c.H, .Hkv = c.Hkv, .Nq = c.Nq, .Nk = c.Nk, .D = c.D, .Dv = c.Dv,
                     .scale = 1 / std::sqrt(static_cast<double>(c.D)), .causal = c.causal, .window_left = c.wl,
                     .window_right = c.wr, .top_k = top_k};
  const auto mask = contiguous(to(in.mask, DType::float64)).to_vector<double>();
  const auto bias = contiguous(detach(in.bias)).to_vector<double>();
  const int64_t Nq = c.Nq, Nk = c.Nk;
  r.allowed = [=](int64_t b, int64_t, int64_t i, int64_t j) { return mask[(b * Nq + i) * Nk + j] != 0; };
  r.bias = [=](int64_t, int64_t h, int64_t i, int64_t j) { return bias[(h * Nq + i) * Nk + j]; };
  for (int64_t h = 0; h < c.H; ++h) r.alibi.push_back(alibi_default_slope(h, c.H));
  Generator first(77);
  r.dropout = make_dropout_rule(c.dropout, first.seed(), first.advance(4));  // the call's generator state
  const auto want = attnref::attention(contiguous(detach(in.q)).to_vector<double>(),
                                       contiguous(detach(in.k)).to_vector<double>(),
                                       contiguous(detach(in.v)).to_vector<double>(), r);
  const auto got = out.to_vector<double>();
  REQUIRE(got.size() == want.size());
  double err = 0;
  for (size_t e = 0; e < got.size(); ++e) err = std::max(err, std::abs(got[e] - want[e]));
  CHECK(err <= 1e-12);
}

TEST_CASE("topk gradcheck in float64 with every option and a small top_k") {
  for (const Config& c : configs()) {
    CAPTURE(c.name);
    const Inputs in = make_inputs(c, DType::float64, 13);
    std::vector<Tensor> x{in.q, in.k, in.v};
    if (in.bias.defined()) x.push_back(in.bias);
    if (in.table.defined()) x.push_back(in.table);
    auto r = gradcheck(
        [&](const std::vector<Tensor>& xs) {
          Inputs j = in;
          j.q = xs[0], j.k = xs[1], j.v = xs[2];
          size_t n = 3;
          if (in.bias.defined()) j.bias = xs[n++];
          if (in.table.defined()) j.table = xs[n++];
          Generator gen(77);
          return std::vector<Tensor>{attention(j.q, j.k, j.v, options_of(c, j, AttentionKind::topk, 3, &gen))};
        },
        x);
    INFO(r.message);
    CHECK(r.ok);
  }
}

TEST_CASE("topk's bias and relative table gradients are deterministic") {
  Config c = configs()[0];
  c.B = 3, c.Nq = 70, c.Nk = 90, c.bias_shape = {1, 1, 70, 90}, c.wl = 30;
  const Inputs in = make_inputs(c, DType::float32, 17);
  Generator g(18);
  const Tensor w = randn({c.B, c.H, c.Nq, c.Dv}, DType::float32, &g);
  const auto a = run(c, in, AttentionKind::topk, 7, w), b = run(c, in, AttentionKind::topk, 7, w);
  for (size_t e = 2; e < a.size(); ++e) {
    CAPTURE(e);
    CHECK(contiguous(a[e]).to_vector<float>() == contiguous(b[e]).to_vector<float>());  // bitwise
  }
}

TEST_CASE("topk: NaN and inf in the bias at pairs the window hides carry nothing") {
  const Config c = configs()[0];  // causal bottom-right, window left 4: query i sees keys i .. i + 4
  Inputs in = make_inputs(c, DType::float64, 21);
  std::vector<double> bias = contiguous(detach(in.bias)).to_vector<double>();  // [1, H, Nq, Nk]
  for (int64_t h = 0; h < c.H; ++h)
    for (int64_t i = 0; i < c.Nq; ++i)
      for (int64_t j = 0; j < c.Nk; ++j) {
        const int64_t diag = i + c.Nk - c.Nq;
        if (j > diag) bias[(h * c.Nq + i) * c.Nk + j] = NAN;
        if (j < diag - c.wl) bias[(h * c.Nq + i) * c.Nk + j] = INFINITY;
      }
  in.bias = from_vector(bias, c.bias_shape).set_requires_grad();
  Generator g(22);
  const Tensor w = randn({c.B, c.H, c.Nq, c.Dv}, DType::float64, &g);
  const auto want = run(c, in, AttentionKind::vanilla, 1, w);
  check_same(run(c, in, AttentionKind::topk, c.Nk, w), want, 1e-12);
  for (const Tensor& t : run(c, in, AttentionKind::topk, 2, w)) {  // rel_err requires finite values
    if (!t.defined() || t.dim() == 3) continue;                     // lse: +inf in rows with no key
    CHECK(all_finite(t));
  }
}

TEST_CASE("topk: a bias constant along the keys ([B, 1, Nq, 1]) gets vanilla's gradient, zero up to rounding") {
  Config c = configs()[1];  // MQA, window, ALiBi
  c.bias_shape = {2, 1, 13, 1};
  const Inputs in = make_inputs(c, DType::float64, 31);
  Generator g(32);
  const Tensor w = randn({c.B, c.H, c.Nq, c.Dv}, DType::float64, &g);
  const auto want = run(c, in, AttentionKind::vanilla, 1, w), got = run(c, in, AttentionKind::topk, 1000, w);
  const auto a = got[5].to_vector<double>(), b = contiguous(want[5]).to_vector<double>();
  REQUIRE(a.size() == b.size());
  for (size_t e = 0; e < a.size(); ++e) CHECK(std::abs(a[e] - b[e]) <= 1e-12);
  check_same({got.begin(), got.begin() + 5}, {want.begin(), want.begin() + 5}, 1e-12);
}
