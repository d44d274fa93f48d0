// Op table rows: matmul in each form, the fused linear, softmax/log_softmax, where, masked_fill, layer_norm, dropout
// (the harness: tests/op_table.h). Index ops and cross_entropy: test_op_table_index.cpp.
#include <doctest/doctest.h>

#include <array>
#include <cmath>

#include "op_table.h"
#include "op_table_refs.h"

using namespace memgrad;
using namespace memgrad::optable;

namespace {

const std::vector<DType> kNumeric = {DType::float32, DType::float64, DType::int32, DType::int64};

Row matmul_row(const std::string& name, Shape a, Shape b, std::vector<Variant> variants) {
  return {.op = "matmul",
          .name = name,
          .inputs = {in(std::move(a)), in(std::move(b))},
          .fn = f1([](auto& x) { return matmul(x[0], x[1]); }),
          .ref = [](const std::vector<Tensor>& x) { return std::vector<Expect>{ref::matmul(x[0], x[1])}; },
          .variants = std::move(variants),
          .errors = {{[] { matmul(zeros({2, 3}), zeros({4, 5})); }, {"[matmul] shapes [2, 3] and [4, 5] cannot be multiplied"}},
                     {[] { matmul(zeros({2, 2, 3}), zeros({3, 3, 4})); }, {"[matmul]", "[2]", "[3]", "broadcast"}},
                     {[] { matmul(scalar(1.0), zeros({2})); }, {"[matmul] 0-d operands"}}},
          .cuda_tol_scale = 4};
}

// act(x w^T + b) for R rows of n_in values, w [out, n_in], b [out] (empty: none) -> [R, out].
Vec linear_vals(const Vec& xv, int64_t R, int64_t n_in, const Vec& wv, int64_t out, const Vec& bv, Activation act) {
  Vec y;
  for (int64_t t = 0; t < R; ++t)
    for (int64_t o = 0; o < out; ++o) {
      double v = bv.empty() ? 0.0 : bv[o];
      for (int64_t i = 0; i < n_in; ++i) v += xv[t * n_in + i] * wv[o * n_in + i];
      if (act == Activation::gelu) v = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
      if (act == Activation::relu) v = v > 0 ? v : 0.0;
      y.push_back(v);
    }
  return y;
}

int64_t rows_before_last(const Tensor& x) { return numel(Shape(x.shape().begin(), x.shape().end() - 1)); }

// The reference of linear: act(x w^T + b), x [..., in], w [out, in], b [out] (or none).
Expect linear_ref(const Tensor& x, const Tensor& w, const Tensor* b, Activation act) {
  const int64_t out = w.shape()[0], n_in = w.shape()[1];
  Shape os = x.shape();
  os.back() = out;
  return {os, x.dtype(),
          linear_vals(optest::vals(x), rows_before_last(x), n_in, optest::vals(w), out, b ? optest::vals(*b) : Vec(), act)};
}

// The reference of feed_forward: act(x w1^T + b1) w2^T + b2.
Expect feed_forward_ref(const Tensor& x, const Tensor& w1, const Tensor* b1, const Tensor& w2, const Tensor* b2,
                        Activation act) {
  const int64_t hidden = w1.shape()[0], n_in = w1.shape()[1], out = w2.shape()[0], R = rows_before_last(x);
  const Vec h = linear_vals(optest::vals(x), R, n_in, optest::vals(w1), hidden, b1 ? optest::vals(*b1) : Vec(), act);
  Shape os = x.shape();
  os.back() = out;
  return {os, x.dtype(), linear_vals(h, R, hidden, optest::vals(w2), out, b2 ? optest::vals(*b2) : Vec(), Activation::none)};
}

std::vector<ErrorCase> linear_errors() {
  const Tensor x = zeros({2, 3}), w = zeros({4, 3}), b = zeros({4});
  return {{[=] { linear(x, zeros({4, 2}), b); }, {"[linear] expected x [..., in] and weight [out, in]", "[4, 2]"}},
          {[=] { linear(x, zeros({3}), b); }, {"[linear]", "weight [3]"}},
          {[=] { linear(x, w, zeros({3}), Activation::gelu); }, {"[linear] bias must be [out] = [4]"}},
          {[=] { linear(x, w, zeros({1, 4})); }, {"[linear] bias must be [out] = [4]", "bias [1, 4]"}},
          {[=] { linear(x, w, zeros({4}, DType::float64)); }, {"[linear] dtypes differ"}},
          {[=] { linear(scalar(1.0), w, b); }, {"[linear] expected x [..., in]"}}};
}

// linear(x, w, b, act) with x [2, 3, 4], w [5, 4].
Row linear_row(const std::string& name, Activation act, bool bias) {
  const int64_t out = 5, n_in = 4;
  std::vector<Input> ins = {in({2, 3, n_in}), in({out, n_in})};
  if (bias) ins.push_back(in({out}));
  auto sets = [bias](Shape xs, Shape ws) {
    std::vector<Shape> s = {std::move(xs), ws};
    if (bias) s.push_back({ws[0]});
    return s;
  };
  return {.op = "linear",
          .name = name,
          .inputs = ins,
          .fn = f1([=](auto& x) { return linear(x[0], x[1], bias ? x[2] : Tensor(), act); }),
          .ref = [=](const std::vector<Tensor>& x) {
            return std::vector<Expect>{linear_ref(x[0], x[1], bias ? &x[2] : nullptr, act)};
          },
          .tol32 = 2e-5,
          .variants = {{"one token (1-d x)", sets({n_in}, {out, n_in})},
                       {"no tokens", sets({0, n_in}, {out, n_in})},
                       {"in = 0 (act(b))", sets({3, 0}, {out, 0})},
                       {"out = 0", sets({3, n_in}, {0, n_in})},
                       {"out = 1, 2-d x", sets({6, n_in}, {1, n_in})},
                       {"long rows (several row blocks)", sets({2, 70, 3}, {9, 3})}},
          .errors = linear_errors(),
          .cuda_tol_scale = 4};
}

// feed_forward(x, w1, b1, w2, b2, act) with x [2, 3, 4], w1 [6, 4], w2 [5, 6].
Row feed_forward_row(const std::string& name, Activation act, bool bias) {
  const int64_t n_in = 4, hidden = 6, out = 5;
  auto sets = [bias](Shape xs, Shape w1, Shape w2) {
    std::vector<Shape> s = {std::move(xs), w1};
    if (bias) s.push_back({w1[0]});
    s.push_back(w2);
    if (bias) s.push_back({w2[0]});
    return s;
  };
  std::vector<Input> ins;
  for (const Shape& sh : sets({2, 3, n_in}, {hidden, n_in}, {out, hidden})) ins.push_back(in(sh));
  auto parts = [bias](const std::vector<Tensor>& x) {  // x, w1, b1, w2, b2
    return std::array<Tensor, 5>{x[0], x[1], bias ? x[2] : Tensor(), bias ? x[3] : x[2], bias ? x[4] : Tensor()};
  };
  const Tensor x = zeros({2, 4}), w1 = zeros({6, 4}), w2 = zeros({5, 6});
  return {.op = "feed_forward",
          .name = name,
          .inputs = ins,
          .fn = f1([=](auto& t) {
            const auto p = parts(t);
            return feed_forward(p[0], p[1], p[2], p[3], p[4], act);
          }),
          .ref = [=](const std::vector<Tensor>& t) {
            const auto p = parts(t);
            return std::vector<Expect>{feed_forward_ref(p[0], p[1], bias ? &p[2] : nullptr, p[3], bias ? &p[4] : nullptr, act)};
          },
          .tol32 = 2e-5,
          .variants = {{"one token (1-d x)", sets({n_in}, {hidden, n_in}, {out, hidden})},
                       {"no tokens", sets({0, n_in}, {hidden, n_in}, {out, hidden})},
                       {"hidden = 1", sets({3, n_in}, {1, n_in}, {out, 1})},
                       {"long rows (several row blocks)", sets({2, 70, 3}, {7, 3}, {2, 7})}},
          .errors = {{[=] { feed_forward(x, zeros({6, 3}), Tensor(), w2, Tensor(), act); },
                      {"[feed_forward] expected x [..., in] and weight [out, in]", "[6, 3]"}},
                     {[=] { feed_forward(x, w1, Tensor(), zeros({5, 4}), Tensor(), act); },
                      {"[feed_forward] w2 must be [out, hidden] with hidden = 6", "[5, 4]"}},
                     {[=] { feed_forward(x, w1, zeros({5}), w2, Tensor(), act); }, {"[feed_forward] bias must be [out] = [6]"}},
                     {[=] { feed_forward(x, w1, Tensor(), w2, zeros({6}), act); }, {"[feed_forward] b2 must be [out] = [5]"}},
                     {[=] { feed_forward(x, w1, Tensor(), zeros({5, 6}, DType::float64), Tensor(), act); },
                      {"[feed_forward] dtypes differ"}}},
          .cuda_tol_scale = 4};
}

// The input norm of linear and feed_forward (InputNorm): layer_norm(x) before the first product.
// x [2, 3, 4] then the op's parameters, then the norm's weight and bias [4] when `affine`.
struct NormCase {
  bool affine = true;
  double eps = 1e-5;
};

InputNorm input_norm(const std::vector<Tensor>& t, size_t first, const NormCase& nc) {
  return {.on = true, .weight = nc.affine ? t[first] : Tensor(), .bias = nc.affine ? t[first + 1] : Tensor(), .eps = nc.eps};
}

// layer_norm(x) as a tensor of x's shape and dtype, for the references above.
Tensor normalized(const Tensor& x, const InputNorm& n) {
  const Vec v = ref::layer_norm(x, n.weight, n.bias, n.eps);
  Tensor y = empty(x.shape(), DType::float64);
  std::copy(v.begin(), v.end(), y.data<double>());
  return y;
}

std::vector<ErrorCase> input_norm_errors(const char* op, std::function<void(const Tensor&, const InputNorm&)> call) {
  const Tensor x = zeros({2, 4});
  const std::string tag = std::string("[") + op + "]";
  return {{[=] { call(x, {.on = true, .weight = ones({3})}); }, {tag, "input norm weight/bias of shape [3]", "expected [4]"}},
          {[=] { call(x, {.on = true, .bias = zeros({4}, DType::float64)}); }, {tag, "input norm", "float64"}},
          {[=] { call(x, {.on = true, .eps = 0}); }, {tag, "input norm eps must be positive"}},
          {[=] { call(x, {.on = false, .weight = ones({4})}); }, {tag, "norm.on = false"}}};
}

Row linear_norm_row(const std::string& name, Activation act, NormCase nc) {
  const int64_t out = 5, n_in = 4;
  auto sets = [nc](Shape xs, Shape ws) {
    std::vector<Shape> s = {std::move(xs), ws, {ws[0]}};
    if (nc.affine) s.push_back({ws[1]}), s.push_back({ws[1]});
    return s;
  };
  std::vector<Input> ins;
  for (const Shape& sh : sets({2, 3, n_in}, {out, n_in})) ins.push_back(in(sh));
  const Tensor w = zeros({out, n_in}), b = zeros({out});
  return {.op = "linear",
          .name = name,
          .inputs = ins,
          .fn = f1([=](auto& x) { return linear(x[0], x[1], x[2], act, input_norm(x, 3, nc)); }),
          .ref = [=](const std::vector<Tensor>& x) {
            const Tensor y = normalized(x[0], input_norm(x, 3, nc));
            Expect e = linear_ref(y, x[1], &x[2], act);
            e.dtype = x[0].dtype();
            return std::vector<Expect>{e};
          },
          .tol32 = 2e-5,
          .variants = {{"one token (1-d x)", sets({n_in}, {out, n_in})},
                       {"no tokens", sets({0, n_in}, {out, n_in})},
                       {"one feature", sets({3, 1}, {out, 1})},
                       {"long rows (several row blocks)", sets({2, 70, 3}, {9, 3})}},
          .errors = input_norm_errors("linear", [=](const Tensor& x, const InputNorm& n) { linear(x, w, b, act, n); }),
          .cuda_tol_scale = 4};
}

Row feed_forward_norm_row(const std::string& name, Activation act, NormCase nc) {
  const int64_t n_in = 4, hidden = 6, out = 5;
  auto sets = [nc](Shape xs, Shape w1, Shape w2) {
    std::vector<Shape> s = {std::move(xs), w1, {w1[0]}, w2, {w2[0]}};
    if (nc.affine) s.push_back({w1[1]}), s.push_back({w1[1]});
    return s;
  };
  std::vector<Input> ins;
  for (const Shape& sh : sets({2, 3, n_in}, {hidden, n_in}, {out, hidden})) ins.push_back(in(sh));
  const Tensor w1 = zeros({hidden, n_in}), w2 = zeros({out, hidden});
  return {.op = "feed_forward",
          .name = name,
          .inputs = ins,
          .fn = f1([=](auto& t) { return feed_forward(t[0], t[1], t[2], t[3], t[4], act, input_norm(t, 5, nc)); }),
          .ref = [=](const std::vector<Tensor>& t) {
            const Tensor y = normalized(t[0], input_norm(t, 5, nc));
            Expect e = feed_forward_ref(y, t[1], &t[2], t[3], &t[4], act);
            e.dtype = t[0].dtype();
            return std::vector<Expect>{e};
          },
          .tol32 = 2e-5,
          .variants = {{"one token (1-d x)", sets({n_in}, {hidden, n_in}, {out, hidden})},
                       {"no tokens", sets({0, n_in}, {hidden, n_in}, {out, hidden})},
                       {"long rows (several row blocks)", sets({2, 70, 3}, {7, 3}, {2, 7})}},
          .errors = input_norm_errors("feed_forward", [=](const Tensor& x, const InputNorm& n) {
            feed_forward(x, w1, Tensor(), w2, Tensor(), act, n);
          }),
          .cuda_tol_scale = 4};
}

Row softmax_row(bool log, int64_t dim) {
  const char* op = log ? "log_softmax" : "softmax";
  std::vector<Variant> variants = {{"one element", {{1, 1, 1}}}, {"empty", {{2, 0, 4}}}};
  if (dim == 0 || dim == -1) variants.push_back({"1-d", {{5}}});
  if (dim == -1) variants.push_back({"empty rows", {{3, 0}}});
  return {.op = op,
          .name = fmt::format("{} over dim {}", op, dim),
          .inputs = {in({2, 3, 4})},
          .fn = f1([log, dim](auto& x) { return log ? log_softmax(x[0], dim) : softmax(x[0], dim); }),
          .ref = [log, dim](const std::vector<Tensor>& x) {
            return std::vector<Expect>{ref::same(x[0], ref::softmax(x[0], dim, log))};
          },
          .variants = variants,
          .errors = {{[log] { log ? log_softmax(zeros({2, 3}), 2) : softmax(zeros({2, 3}), 2); },
                      {std::string("[") + op + "]", "dim 2 is out of range for shape [2, 3]"}}}};
}

Row layer_norm_row(const std::string& name, bool weight, bool bias, double eps) {
  std::vector<Input> ins = {in({2, 3, 5})};
  if (weight) ins.push_back(in({5}));
  if (bias) ins.push_back(in({5}));
  auto pick = [weight, bias](const std::vector<Tensor>& x) {
    return std::pair<Tensor, Tensor>{weight ? x[1] : Tensor(), bias ? x[weight ? 2 : 1] : Tensor()};
  };
  auto shapes = [&](Shape s, int64_t c) {
    std::vector<Shape> out = {std::move(s)};
    if (weight) out.push_back({c});
    if (bias) out.push_back({c});
    return out;
  };
  return {.op = "layer_norm",
          .name = name,
          .inputs = ins,
          .fn = f1([pick, eps](auto& x) {
            auto [w, b] = pick(x);
            return layer_norm(x[0], w, b, eps);
          }),
          .ref = [pick, eps](const std::vector<Tensor>& x) {
            auto [w, b] = pick(x);
            return std::vector<Expect>{ref::same(x[0], ref::layer_norm(x[0], w, b, eps))};
          },
          .variants = {{"one row", shapes({1, 5}, 5)}, {"1-d", shapes({5}, 5)}, {"no rows", shapes({0, 5}, 5)},
                       {"one channel", shapes({3, 1}, 1)}},
          .errors = {{[] { layer_norm(zeros({2, 4}), ones({3}), Tensor()); }, {"[layer_norm] weight/bias of shape [3]"}},
                     {[] { layer_norm(zeros({2, 4}), ones({4}, DType::float64), Tensor()); }, {"[layer_norm]", "float64"}},
                     {[] { layer_norm(zeros({2, 3}), Tensor(), Tensor(), 0); }, {"[layer_norm] eps must be positive"}},
                     {[] { layer_norm(scalar(1.0), Tensor(), Tensor()); }, {"[layer_norm]", "at least one dim"}}}};
}

Row dropout_row(const std::string& name, double p, bool training, bool seeded) {
  Row row{.op = "dropout",
          .name = name,
          .inputs = {in({4, 5})},
          .fn = f1([p, training](auto& x) {
            Generator g(5);
            return dropout(x[0], p, training, &g);
          }),
          .variants = {{"0-d", {{}}}, {"empty", {{0, 3}}}, {"3-d", {{2, 3, 4}}}},
          .errors = {{[] { dropout(zeros({2}), 1.5); }, {"[dropout] p must be in [0, 1], got 1.5"}},
                     {[] { dropout(zeros({2}), -0.1); }, {"[dropout] p must be in [0, 1]"}}}};
  if (seeded) {
    row.prop = [p](const std::vector<Tensor>& x, const Outputs& out) {
      Vec xv = optest::vals(x[0]), y = optest::vals(out[0]);
      bool ok = true;
      for (size_t i = 0; i < y.size(); ++i) ok &= y[i] == 0 || std::abs(y[i] - xv[i] / (1 - p)) <= 1e-6 * (1 + std::abs(y[i]));
      CHECK_MESSAGE(ok, "dropout keeps an element scaled by 1 / (1 - p) or zeroes it");
    };
  } else {
    const bool zero = training && p == 1;
    row.ref = [zero](const std::vector<Tensor>& x) {
      return std::vector<Expect>{ref::same(x[0], zero ? Vec(x[0].numel(), 0.0) : optest::vals(x[0]))};
    };
    row.tol32 = row.tol64 = 0;  // exact
    row.reject_ints = false;    // the identity takes any dtype
  }
  return row;
}

std::vector<Row> rows() {
  std::vector<Row> r;
  r.push_back(matmul_row("matmul 2-d", {3, 4}, {4, 5},
                         {{"M = 1", {{1, 4}, {4, 5}}}, {"K = 1", {{3, 1}, {1, 5}}}, {"N = 1", {{3, 4}, {4, 1}}},
                          {"one element", {{1, 1}, {1, 1}}}, {"M = 0", {{0, 3}, {3, 4}}}, {"K = 0 (zeros)", {{2, 0}, {0, 3}}},
                          {"N = 0", {{3, 4}, {4, 0}}}}));
  r.push_back(matmul_row("matmul batched", {2, 3, 4}, {2, 4, 5},
                         {{"two batch dims", {{2, 2, 3, 4}, {2, 2, 4, 5}}}, {"empty batch", {{0, 3, 4}, {0, 4, 5}}},
                          {"N = 0", {{2, 3, 4}, {2, 4, 0}}}}));
  r.push_back(matmul_row("matmul broadcast batch dims", {2, 1, 3, 4}, {3, 4, 2},
                         {{"2-d left operand", {{3, 4}, {2, 4, 5}}}, {"batch 1 against 3", {{1, 3, 4}, {3, 4, 5}}}}));
  r.push_back(matmul_row("matmul shared weight", {2, 3, 4}, {4, 5},
                         {{"two batch dims", {{2, 2, 3, 4}, {4, 2}}}, {"empty batch", {{0, 2, 3}, {3, 4}}},
                          {"K = 0 (zeros)", {{2, 3, 0}, {0, 4}}}, {"N = 0", {{2, 3, 4}, {4, 0}}}}));
  r.push_back(matmul_row("matmul 1-d operands", {4}, {4, 5},
                         {{"matrix-vector", {{3, 4}, {4}}}, {"vector-batch", {{4}, {2, 4, 5}}},
                          {"batch-vector", {{2, 3, 4}, {4}}}, {"dot product", {{4}, {4}}}}));

  for (bool bias : {true, false}) {
    const std::string with = bias ? " with bias" : " without bias";
    r.push_back(linear_row("linear" + with, Activation::none, bias));
    r.push_back(linear_row("linear + gelu" + with, Activation::gelu, bias));
    r.push_back(linear_row("linear + relu" + with, Activation::relu, bias));
    r.push_back(feed_forward_row("feed_forward" + with, Activation::none, bias));
    r.push_back(feed_forward_row("feed_forward gelu" + with, Activation::gelu, bias));
    r.push_back(feed_forward_row("feed_forward relu" + with, Activation::relu, bias));
  }

  r.push_back(linear_norm_row("linear with input norm", Activation::none, {}));
  r.push_back(linear_norm_row("linear + gelu with input norm", Activation::gelu, {}));
  r.push_back(linear_norm_row("linear with input norm, no affine, eps 0.1", Activation::none, {false, 0.1}));
  r.push_back(feed_forward_norm_row("feed_forward gelu with input norm", Activation::gelu, {}));
  r.push_back(feed_forward_norm_row("feed_forward relu with input norm, no affine", Activation::relu, {false, 1e-5}));

  for (bool log : {false, true})
    for (int64_t dim : {0, 1, 2, -1, -3}) r.push_back(softmax_row(log, dim));

  auto where_fn = f1([](auto& x) { return where(x[0], x[1], x[2]); });
  r.push_back({.op = "where",
               .name = "where with broadcasting",
               .inputs = {mask({3, 1, 4}), in({2, 4}), in({3, 2, 1})},
               .fn = where_fn,
               .ref = [](const std::vector<Tensor>& x) { return std::vector<Expect>{ref::where(x[0], x[1], x[2])}; },
               .dtypes = {DType::float32, DType::float64, DType::int32, DType::int64, DType::boolean},
               .variants = {{"a 0-d branch", {{3, 1, 4}, {}, {3, 2, 1}}},
                            {"same shapes", {{2, 3}, {2, 3}, {2, 3}}},
                            {"0-d condition", {{}, {2, 3}, {3}}},
                            {"empty", {{0, 4}, {4}, {1}}}},
               .errors = {{[] { where(zeros({2}), zeros({2}), zeros({2})); }, {"[where] condition must be bool"}},
                          {[] { where(zeros({2}, DType::boolean), zeros({3}), zeros({2})); }, {"[where]", "cannot be broadcast"}}}});

  auto mf = [](double value) { return f1([value](auto& x) { return masked_fill(x[0], x[1], value); }); };
  auto mf_ref = [](double value) {
    return [value](const std::vector<Tensor>& x) {
      Expect e = ref::where(x[1], x[0], x[0]);  // x's shape and dtype
      Vec xv = optest::vals(x[0]), m = optest::vals(x[1]);
      for (int64_t i = 0; i < x[0].numel(); ++i)
        e.values[i] = m[optest::bcast_index(optest::unravel(i, x[0].shape()), x[1].shape())] != 0 ? value : xv[i];
      e.shape = x[0].shape();
      return std::vector<Expect>{e};
    };
  };
  std::vector<ErrorCase> mf_errors = {
      {[] { masked_fill(zeros({3, 4}), from_vector<bool>({true, false, true}, {3}), 0.0); }, {"[masked_fill]", "[3]", "[3, 4]"}},
      {[] { masked_fill(zeros({4}), zeros({2, 4}, DType::boolean), 0.0); }, {"[masked_fill]", "does not broadcast"}},
      {[] { masked_fill(zeros({4}), zeros({4}), 0.0); }, {"condition must be bool"}}};
  r.push_back({.op = "masked_fill",
               .name = "masked_fill with a broadcast mask",
               .inputs = {in({3, 4}), mask({1, 4})},
               .fn = mf(-3.0),
               .ref = mf_ref(-3.0),
               .dtypes = kNumeric,
               .variants = {{"full mask", {{3, 4}, {3, 4}}}, {"0-d mask", {{3, 4}, {}}}, {"empty", {{0, 4}, {4}}}},
               .errors = mf_errors});
  r.push_back({.op = "masked_fill",
               .name = "masked_fill with -inf",
               .inputs = {in({2, 3, 4}), mask({3, 4})},
               .fn = mf(-INFINITY),
               .ref = mf_ref(-INFINITY),
               .reject_ints = false,  // -inf in an integer tensor: the NaN/overflow rules' business
               .gradcheck = false});  // central differences of -inf outputs are NaN; the row above checks  // -inf in an integer tensor: the NaN/overflow rules' business

  r.push_back(layer_norm_row("layer_norm with weight and bias", true, true, 1e-5));
  r.push_back(layer_norm_row("layer_norm without weight and bias", false, false, 1e-5));
  r.push_back(layer_norm_row("layer_norm with weight only", true, false, 1e-5));
  r.push_back(layer_norm_row("layer_norm with bias only, large eps", false, true, 0.5));

  r.push_back(dropout_row("dropout p = 0 (the identity)", 0.0, true, false));
  r.push_back(dropout_row("dropout when not training (the identity)", 0.3, false, false));
  r.push_back(dropout_row("dropout p = 1 (zeros)", 1.0, true, false));
  r.push_back(dropout_row("dropout p = 0.3, seeded mask", 0.3, true, true));
  r.push_back(dropout_row("dropout p = 0.75, seeded mask", 0.75, true, true));
  return r;
}

}  // namespace

OP_TABLE_FAMILY("nn", rows)
