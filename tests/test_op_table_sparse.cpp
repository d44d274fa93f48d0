// Op table rows: topk_linear and sparse_linear, the two ops of the top-k feed-forward layer (the
// harness: tests/op_table.h). Small chunks so topk_linear runs several score blocks.
//
// topk_linear's gradient is that of the selected entries, so finite differences must not move an
// entry across the k-th largest: the random-score rows add a bias ramp of 2.5 per column (the
// scores of x W^T have a standard deviation near 2 here), which spreads each row's scores apart
// while still leaving the selection to the random part; eps = 1e-6 cannot flip it then. A row of
// small integers (Domain::ties) checks the tie rule (equal scores to the lower column).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "op_table.h"
#include "op_table_refs.h"

using namespace memgrad;
using namespace memgrad::optable;

namespace {

// Per column f: 2.5 * f in the dtype and on the device of `like` (zeros for integer runs, which
// topk_linear refuses).
Tensor ramp(int64_t F, const Tensor& like) {
  if (!is_floating(like.dtype())) return zeros({F}, like.dtype(), like.device());
  return to(to(arange(F, DType::float64) * 2.5, like.dtype()), like.device());
}

// The reference of topk_linear: x [..., in], w [F, in], b [F] (or none) -> values, indices.
std::vector<Expect> topk_linear_ref(const Tensor& x, const Tensor& w, const Tensor* b, double b_ramp, int64_t k) {
  const int64_t F = w.shape()[0], in = w.shape()[1], rows = numel(Shape(x.shape().begin(), x.shape().end() - 1));
  Vec xv = optest::vals(x), wv = optest::vals(w), bv = b ? optest::vals(*b) : Vec(F, 0.0), values, indices;
  for (int64_t t = 0; t < rows; ++t) {
    Vec s(F);
    for (int64_t f = 0; f < F; ++f) {
      double acc = bv[f] + b_ramp * f;
      for (int64_t i = 0; i < in; ++i) acc += xv[t * in + i] * wv[f * in + i];
      s[f] = acc;
    }
    std::vector<int64_t> order(F);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t c) {
      const bool an = std::isnan(s[a]), cn = std::isnan(s[c]);
      if (an != cn) return an;
      return !an && s[a] > s[c];
    });
    std::sort(order.begin(), order.begin() + k);
    for (int64_t j = 0; j < k; ++j) values.push_back(s[order[j]]), indices.push_back(static_cast<double>(order[j]));
  }
  Shape os = x.shape();
  os.back() = k;
  return {{os, x.dtype(), values}, {os, DType::int64, indices}};
}

std::vector<Variant> topk_variants(int64_t F, int64_t in, bool bias) {
  auto sets = [&](Shape xs) {
    std::vector<Shape> s = {std::move(xs), {F, in}};
    if (bias) s.push_back({F});
    return s;
  };
  return {{"one token (1-d x)", sets({in})}, {"no tokens", sets({0, in})}, {"one row of one chunk", sets({1, in})},
          {"in = 1", {bias ? std::vector<Shape>{{5, 1}, {F, 1}, {F}} : std::vector<Shape>{{5, 1}, {F, 1}}}}};
}

std::vector<ErrorCase> topk_errors() {
  const Tensor x = zeros({2, 3}), w = zeros({4, 3}), b = zeros({4});
  return {{[=] { topk_linear(x, w, b, 0); }, {"[topk_linear] k = 0 is out of range for F = 4 features"}},
          {[=] { topk_linear(x, w, b, 5); }, {"[topk_linear] k = 5 is out of range for F = 4 features"}},
          {[=] { topk_linear(x, w, b, 2, 0); }, {"[topk_linear] chunk must be >= 1, got 0"}},
          {[=] { topk_linear(x, zeros({4, 2}), b, 2); }, {"[topk_linear] expected x [..., in] and weight [F, in]", "[4, 2]"}},
          {[=] { topk_linear(x, zeros({3}), b, 2); }, {"[topk_linear]", "weight [3]"}},
          {[=] { topk_linear(x, w, zeros({3}), 2); }, {"[topk_linear] bias must be [F] = [4]"}},
          {[=] { topk_linear(x, w, zeros({4}, DType::float64), 2); }, {"[topk_linear] dtypes differ"}},
          {[=] { topk_linear(scalar(1.0), w, b, 2); }, {"[topk_linear] expected x [..., in]"}}};
}

// topk_linear(x, w, b + ramp) with k of F = 7 and chunk 2 (several score blocks).
Row topk_row(const std::string& name, int64_t k, bool bias, double b_ramp, bool ties_domain = false) {
  const int64_t F = 7, n_in = 4;
  std::vector<Input> ins = {in({2, 3, n_in}), in({F, n_in})};
  if (bias) ins.push_back(in({F}));
  if (ties_domain)
    for (Input& i : ins) i = ties(i.shape);
  Row row{.op = "topk_linear",
          .name = name,
          .inputs = ins,
          .fn = [=](const std::vector<Tensor>& x) {
            Tensor b = bias ? x[2] : Tensor();
            if (b_ramp != 0) b = b.defined() ? b + ramp(F, x[1]) : ramp(F, x[1]);
            auto [v, i] = topk_linear(x[0], x[1], b, k, 2);
            return Outputs{v, i};
          },
          .ref = [=](const std::vector<Tensor>& x) {
            return topk_linear_ref(x[0], x[1], bias ? &x[2] : nullptr, b_ramp, k);
          },
          .tol32 = 2e-5,
          .variants = topk_variants(F, n_in, bias),
          .errors = topk_errors(),
          .cuda_tol_scale = 4};
  return row;
}

// sparse_linear reference: y[t, o] = sum_j v[t, j] w[o, idx[t, j]].
std::vector<Expect> sparse_linear_ref(const Tensor& v, const Tensor& idx, const Tensor& w) {
  const int64_t out = w.shape()[0], F = w.shape()[1], k = v.shape().back();
  const int64_t R = numel(Shape(v.shape().begin(), v.shape().end() - 1));
  Vec vv = optest::vals(v), iv = optest::vals(idx), wv = optest::vals(w), y(R * out, 0.0);
  for (int64_t t = 0; t < R; ++t)
    for (int64_t j = 0; j < k; ++j)
      for (int64_t o = 0; o < out; ++o) y[t * out + o] += vv[t * k + j] * wv[o * F + static_cast<int64_t>(iv[t * k + j])];
  Shape os = v.shape();
  os.back() = out;
  return {{os, v.dtype(), y}};
}

Row sparse_row() {
  return {.op = "sparse_linear",
          .name = "sparse_linear of [2, 3, 4] sparse rows (repeated indices add up)",
          .inputs = {in({2, 3, 4}), idx_of({2, 3, 4}, 2, 1), in({5, 6})},
          .fn = f1([](auto& x) { return sparse_linear(x[0], x[1], x[2]); }),
          .ref = [](const std::vector<Tensor>& x) { return sparse_linear_ref(x[0], x[1], x[2]); },
          .variants = {{"one token (1-d)", {{3}, {3}, {5, 6}}},
                       {"no tokens", {{0, 4}, {0, 4}, {5, 6}}},
                       {"k = 0 (zeros)", {{3, 0}, {3, 0}, {5, 6}}},
                       {"F = 1, out = 1", {{4, 2}, {4, 2}, {1, 1}}}},
          .errors = {{[] { sparse_linear(zeros({2, 2}), from_vector<int64_t>({0, 1, 6, 2}, {2, 2}), zeros({5, 6})); },
                      {"[sparse_linear] index 6 is out of range for F = 6 features"}},
                     {[] { sparse_linear(zeros({2, 2}), from_vector<int32_t>({0, -1, 3, 2}, {2, 2}), zeros({5, 6})); },
                      {"[sparse_linear] index -1 is out of range for F = 6 features"}},
                     {[] { sparse_linear(zeros({2, 2}), from_vector<int64_t>({0, 1, 2}, {3}), zeros({5, 6})); },
                      {"[sparse_linear] expected values [..., k], indices of the same shape", "indices [3]"}},
                     {[] { sparse_linear(zeros({2, 2}), zeros({2, 2}), zeros({5, 6})); },
                      {"[sparse_linear] indices must be int32 or int64"}},
                     {[] { sparse_linear(zeros({2, 2}), zeros({2, 2}, DType::int64), zeros({6})); },
                      {"[sparse_linear]", "weight [6]"}},
                     {[] { sparse_linear(zeros({2, 2}), zeros({2, 2}, DType::int64), zeros({5, 6}, DType::float64)); },
                      {"[sparse_linear] dtypes differ"}}}};
}

std::vector<Row> rows() {
  std::vector<Row> r;
  r.push_back(topk_row("topk_linear k = 3 of 7, bias, chunks of 2 rows", 3, true, 2.5));
  r.push_back(topk_row("topk_linear k = 1 of 7, no bias", 1, false, 2.5));
  r.push_back(topk_row("topk_linear k = F = 7 (every column)", 7, true, 0));
  r.push_back(topk_row("topk_linear k = 3 of 7, unspread random scores", 3, true, 0));
  Row ties_row = topk_row("topk_linear k = 3 of 7, integer scores: ties go to the lower column", 3, true, 0, true);
  ties_row.tol32 = ties_row.tol64 = 0;  // small integers: exact
  r.push_back(ties_row);
  r.push_back(sparse_row());
  return r;
}

}  // namespace

OP_TABLE_FAMILY("sparse rows", rows)
