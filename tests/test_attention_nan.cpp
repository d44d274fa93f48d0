// Attention with NaN and infinity in q, k or v (autograd/attention.h, "Masks and non-finite
// values"): every kind, forward and backward, against a double-precision reference that applies
// the rule literally (visible pairs in IEEE arithmetic, masked pairs carry nothing), element by
// element: the same NaN / +inf / -inf / finite class everywhere, and close values where finite.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "autograd/attention.h"
#include "autograd/ops.h"

using namespace memgrad;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int64_t B = 2, H = 2, Nq = 7, Nk = 9, D = 4, Dv = 3;

using Vec = std::vector<double>;
Vec vals(const Tensor& t) { return contiguous(to(t, DType::float64)).to_vector<double>(); }

// Element (b, h, n, d) of a dense [B, H, N, C] vector.
size_t at(int64_t b, int64_t h, int64_t n, int64_t d, int64_t N, int64_t C) {
  return static_cast<size_t>(((b * H + h) * N + n) * C + d);
}

struct Result {
  Vec out, dq, dk, dv;
};

// The rule, literally, in double: for each query its visible keys (topk: the top_k of them, NaN
// highest, ties to the earlier key), softmax over them with NaN propagating and an all -inf row
// giving 0, out = sum p v; backward ds = p (dp - sum p dp) over the same pairs only.
Result reference(const Vec& q, const Vec& k, const Vec& v, const Vec& w, const std::vector<bool>& valid,
                 const AttentionOptions& o) {
  const double scale = o.scale.value_or(1.0 / std::sqrt(double(D)));
  Result r{Vec(B * H * Nq * Dv, 0.0), Vec(B * H * Nq * D, 0.0), Vec(B * H * Nk * D, 0.0), Vec(B * H * Nk * Dv, 0.0)};
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Nq; ++i) {
        std::vector<std::pair<double, int64_t>> keys;  // (score, j) of the visible keys
        for (int64_t j = 0; j < Nk; ++j) {
          if (!valid[b * Nk + j] || (o.causal && j > i + Nk - Nq)) continue;
          double s = 0;
          for (int64_t d = 0; d < D; ++d) s += q[at(b, h, i, d, Nq, D)] * k[at(b, h, j, d, Nk, D)];
          keys.push_back({s * scale, j});
        }
        if (o.kind == AttentionKind::topk) {
          std::stable_sort(keys.begin(), keys.end(), [](const auto& x, const auto& y) {
            const bool xn = std::isnan(x.first), yn = std::isnan(y.first);
            if (xn != yn) return xn;
            return !xn && x.first > y.first;
          });
          if (static_cast<int64_t>(keys.size()) > o.top_k) keys.resize(static_cast<size_t>(o.top_k));
        }
        if (keys.empty()) continue;
        double m = -kInf;
        for (auto& [s, j] : keys) m = std::isnan(s) || std::isnan(m) ? kNaN : std::max(m, s);
        std::vector<double> p(keys.size(), 0.0);
        if (m != -kInf) {
          double sum = 0;
          for (size_t t = 0; t < keys.size(); ++t) sum += p[t] = std::exp(keys[t].first - m);
          for (double& x : p) x /= sum;
        }
        std::vector<double> dp(keys.size(), 0.0);
        double delta = 0;
        for (size_t t = 0; t < keys.size(); ++t) {
          const int64_t j = keys[t].second;
          for (int64_t d = 0; d < Dv; ++d) {
            r.out[at(b, h, i, d, Nq, Dv)] += p[t] * v[at(b, h, j, d, Nk, Dv)];
            dp[t] += w[at(b, h, i, d, Nq, Dv)] * v[at(b, h, j, d, Nk, Dv)];
          }
          delta += p[t] * dp[t];
        }
        for (size_t t = 0; t < keys.size(); ++t) {
          const int64_t j = keys[t].second;
          const double ds = p[t] * (dp[t] - delta) * scale;
          for (int64_t d = 0; d < D; ++d) {
            r.dq[at(b, h, i, d, Nq, D)] += ds * k[at(b, h, j, d, Nk, D)];
            r.dk[at(b, h, j, d, Nk, D)] += ds * q[at(b, h, i, d, Nq, D)];
          }
          for (int64_t d = 0; d < Dv; ++d) r.dv[at(b, h, j, d, Nk, Dv)] += p[t] * w[at(b, h, i, d, Nq, Dv)];
        }
      }
  return r;
}

// What an element is: 0 NaN, 1 +inf, 2 -inf, 3 finite.
int cls(double x) { return std::isnan(x) ? 0 : x == kInf ? 1 : x == -kInf ? 2 : 3; }

// Empty when got matches want: the same class everywhere, and finite values within tol (relative
// to the largest finite |want|); else the first mismatch.
std::string mismatch(const Vec& got, const Vec& want, double tol) {
  double scale = 1e-30;
  for (double x : want)
    if (std::isfinite(x)) scale = std::max(scale, std::abs(x));
  for (size_t i = 0; i < got.size(); ++i) {
    if (cls(got[i]) != cls(want[i]) || (std::isfinite(want[i]) && std::abs(got[i] - want[i]) > tol * scale))
      return "element " + std::to_string(i) + ": got " + std::to_string(got[i]) + ", want " + std::to_string(want[i]);
  }
  return "";
}

// q, k, v random (never zero) with the scenario's specials; w (the output gradient) random.
struct Scenario {
  std::string name;
  std::vector<std::pair<int64_t, double>> q, k, v;  // (dense index, value)
};

// Runs one kind on the scenario's tensors and compares with the reference.
void check_kind(const Scenario& sc, const AttentionOptions& o, DType dt, const Tensor& lengths) {
  Generator g(17);
  auto make = [&](const Shape& s, const std::vector<std::pair<int64_t, double>>& set) {
    Vec x = vals(randn(s, DType::float64, &g));
    for (auto [i, val] : set) x[static_cast<size_t>(i)] = val;
    return x;
  };
  Vec qv = make({B, H, Nq, D}, sc.q), kv = make({B, H, Nk, D}, sc.k), vv = make({B, H, Nk, Dv}, sc.v);
  Vec wv = make({B, H, Nq, Dv}, {});
  auto tensor = [&](const Vec& x, const Shape& s) { return to(from_vector<double>(x, s), dt).set_requires_grad(); };
  Tensor q = tensor(qv, {B, H, Nq, D}), k = tensor(kv, {B, H, Nk, D}), v = tensor(vv, {B, H, Nk, Dv});
  Tensor w = to(from_vector<double>(wv, {B, H, Nq, Dv}), dt);
  // the reference sees the values the kernels see (rounded to dt)
  qv = vals(q), kv = vals(k), vv = vals(v), wv = vals(w);
  AttentionOptions opts = o;
  opts.key_lengths = lengths;
  std::vector<bool> valid(B * Nk, true);
  if (lengths.defined())
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = lengths.to_vector<int64_t>()[b]; j < Nk; ++j) valid[b * Nk + j] = false;
  Tensor out = attention(q, k, v, opts);
  sum(out * w).backward();
  const Result want = reference(qv, kv, vv, wv, valid, o);
  const double tol = dt == DType::float32 ? 2e-4 : 1e-10;
  CHECK_MESSAGE(mismatch(vals(out), want.out, tol) == "", "out: ", mismatch(vals(out), want.out, tol));
  CHECK_MESSAGE(mismatch(vals(q.grad()), want.dq, tol) == "", "dq: ", mismatch(vals(q.grad()), want.dq, tol));
  CHECK_MESSAGE(mismatch(vals(k.grad()), want.dk, tol) == "", "dk: ", mismatch(vals(k.grad()), want.dk, tol));
  CHECK_MESSAGE(mismatch(vals(v.grad()), want.dv, tol) == "", "dv: ", mismatch(vals(v.grad()), want.dv, tol));
}

std::vector<AttentionOptions> kinds() {
  return {{.kind = AttentionKind::vanilla},
          {.kind = AttentionKind::chunked, .q_chunk = 3, .k_chunk = 4},  // ragged blocks, mixed and whole
          {.kind = AttentionKind::chunked},                               // one block
          {.kind = AttentionKind::topk, .q_chunk = 2, .top_k = 100},     // every visible key: vanilla
          {.kind = AttentionKind::topk, .top_k = 3}};
}

// Scenarios: one kind of bad value at a time. Query row 3 of (b 0, h 1); key 5 of (b 1, h 0),
// which lengths {9, 5} pad and causality hides from queries 0 to 2.
std::vector<Scenario> scenarios(double bad) {
  const std::string b = std::isnan(bad) ? "NaN" : bad > 0 ? "+inf" : "-inf";
  auto qi = [](int64_t bb, int64_t h, int64_t i, int64_t d) { return static_cast<int64_t>(at(bb, h, i, d, Nq, D)); };
  auto kj = [](int64_t bb, int64_t h, int64_t j, int64_t d) { return static_cast<int64_t>(at(bb, h, j, d, Nk, D)); };
  auto vj = [](int64_t bb, int64_t h, int64_t j, int64_t d) { return static_cast<int64_t>(at(bb, h, j, d, Nk, Dv)); };
  return {
      {"nothing", {}, {}, {}},
      {b + " in a query row", {{qi(0, 1, 3, 2), bad}}, {}, {}},
      {b + " in a key", {}, {{kj(1, 0, 5, 1), bad}}, {}},
      {b + " in a value", {}, {}, {{vj(1, 0, 5, 2), bad}}},
      {b + " in the first and last keys and values", {}, {{kj(0, 0, 0, 0), bad}, {kj(1, 1, 8, 3), bad}},
       {{vj(0, 1, 0, 1), bad}, {vj(1, 0, 8, 0), bad}}},
      {b + " in a query row of batch 1 (where keys are padded)", {{qi(1, 0, 6, 0), bad}}, {}, {}},
      {b + " in the first query row (causal: it sees one key)", {{qi(1, 1, 0, 3), bad}}, {}, {}},
  };
}

}  // namespace

TEST_CASE("attention with NaN or inf in q, k or v follows the rule in every kind, forward and backward") {
  for (DType dt : {DType::float32, DType::float64})
    for (double bad : {kNaN, kInf, -kInf})
      for (const Scenario& sc : scenarios(bad))
        for (bool causal : {false, true})
          for (bool padded : {false, true})
            for (AttentionOptions o : kinds()) {
              o.causal = causal;
              CAPTURE(to_string(dt));
              CAPTURE(sc.name);
              CAPTURE(causal);
              CAPTURE(padded);
              CAPTURE(to_string(o.kind));
              CAPTURE(o.top_k);
              CAPTURE(o.q_chunk.value_or(0));
              check_kind(sc, o, dt, padded ? from_vector<int64_t>({9, 5}) : Tensor());
            }
}

TEST_CASE("attention: scores overflowing to inf, and rows whose visible scores are all -inf") {
  // float64 values whose products overflow in any summation order, so the reference agrees
  const double big = 1e300;
  auto qi = [](int64_t b, int64_t h, int64_t i, int64_t d) { return static_cast<int64_t>(at(b, h, i, d, Nq, D)); };
  auto kj = [](int64_t b, int64_t h, int64_t j, int64_t d) { return static_cast<int64_t>(at(b, h, j, d, Nk, D)); };
  std::vector<Scenario> cases;
  // query row 4 of (0, 0) overflows against key 2: a NaN row from finite inputs (the other rows
  // hardly see the big key, so their results stay well conditioned)
  Scenario over{"finite inputs, one score +inf", {}, {{kj(0, 0, 2, 0), 1e10}}, {}};
  for (int64_t i = 0; i < Nq; ++i) over.q.push_back({qi(0, 0, i, 0), i == 4 ? big : 1e-20});
  cases.push_back(over);
  // query row 5 of (1, 1) scores -inf against every key: probabilities 0, out = sum 0 * v
  Scenario ninf{"every visible score -inf", {{qi(1, 1, 5, 0), -kInf}}, {}, {}};
  for (int64_t j = 0; j < Nk; ++j) {
    ninf.k.push_back({kj(1, 1, j, 0), 1.0 + j});
    for (int64_t d = 1; d < D; ++d) ninf.k.push_back({kj(1, 1, j, d), 0.5});
  }
  cases.push_back(ninf);
  Scenario ninf_nan = ninf;  // ... and a NaN value among its visible keys: that column is NaN
  ninf_nan.name += ", with a NaN value";
  ninf_nan.v.push_back({static_cast<int64_t>(at(1, 1, 1, 2, Nk, Dv)), kNaN});
  cases.push_back(ninf_nan);
  for (const Scenario& sc : cases)
    for (bool causal : {false, true})
      for (bool padded : {false, true})
        for (AttentionOptions o : kinds()) {
          o.causal = causal;
          CAPTURE(sc.name);
          CAPTURE(causal);
          CAPTURE(padded);
          CAPTURE(to_string(o.kind));
          CAPTURE(o.top_k);
          check_kind(sc, o, DType::float64, padded ? from_vector<int64_t>({9, 5}) : Tensor());
        }
}
