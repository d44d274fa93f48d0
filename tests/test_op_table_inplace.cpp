// Op table rows: the in-place ops (copy_, fill_, zero_, add_, sub_, mul_, div_) and the fused
// optimizer updates (sgd_step_, adam_step_). Each row writes into a fresh contiguous copy of its
// first input (writing into an expanded view is an error, tests/test_inplace.cpp), so the view
// kinds exercise the sources, gradients and optimizer state it reads. Version counters and the
// refusals are tested in tests/test_inplace.cpp.
#include <doctest/doctest.h>

#include <cmath>

#include "op_table.h"
#include "op_table_refs.h"

using namespace memgrad;
using namespace memgrad::optable;

namespace {

const std::vector<DType> kNumeric = {DType::float32, DType::float64, DType::int32, DType::int64};

// Runs `write` on a contiguous copy of x[0] (no graph: in-place ops record none) and returns it.
Fn into_copy(std::function<void(const Tensor&, const std::vector<Tensor>&)> write) {
  return [write = std::move(write)](const std::vector<Tensor>& x) {
    NoGradGuard ng;
    Tensor t = clone(x[0]);
    write(t, x);
    return Outputs{t};
  };
}

Row binary_row(const std::string& op, const std::string& name, std::function<void(const Tensor&, const Tensor&)> f,
               Ref r, Input other, std::vector<DType> dtypes) {
  return {.op = op,
          .name = name,
          .inputs = {in({3, 4}).no_grad(), std::move(other)},
          .fn = into_copy([f](const Tensor& t, const std::vector<Tensor>& x) { f(t, x[1]); }),
          .ref = std::move(r),
          .dtypes = std::move(dtypes),
          .variants = {{"same shape", {{3, 4}, {3, 4}}}, {"column", {{3, 4}, {3, 1}}}, {"0-d source", {{3, 4}, {}}},
                       {"empty", {{0, 4}, {4}}}, {"one element", {{1}, {1}}}},
          .errors = {{[] { Tensor t = zeros({2, 3}); add_(t, ones({3, 3})); }, {"[add_]", "[3, 3]", "[2, 3]"}},
                     {[] { Tensor t = zeros({2}); copy_(t, ones({1, 2})); }, {"[copy_]", "cannot be written"}}},
          .mix_dtypes = false,  // the source converts to the destination's dtype
          .gradcheck = false};
}

std::vector<Row> elementwise_rows() {
  std::vector<Row> r;
  r.push_back(binary_row(
      "copy_", "copy_ broadcasts and converts the source", [](const Tensor& t, const Tensor& s) { copy_(t, s); },
      ref::binary([](double, double b) { return b; }), in({4}).no_grad(), kNumeric));
  r.push_back(binary_row(
      "add_", "add_", [](const Tensor& t, const Tensor& s) { add_(t, s); },
      ref::binary([](double a, double b) { return a + b; }),
      in({4}).no_grad(), kNumeric));
  r.push_back(binary_row(
      "add_", "add_ with alpha 2.5", [](const Tensor& t, const Tensor& s) { add_(t, s, 2.5); },
      ref::binary([](double a, double b) { return a + 2.5 * b; }), in({4}).no_grad(), {DType::float32, DType::float64}));
  r.push_back(binary_row(
      "sub_", "sub_", [](const Tensor& t, const Tensor& s) { sub_(t, s); },
      ref::binary([](double a, double b) { return a - b; }),
      in({4}).no_grad(), kNumeric));
  r.push_back(binary_row(
      "mul_(Tensor, Tensor)", "mul_ by a tensor", [](const Tensor& t, const Tensor& s) { mul_(t, s); },
      ref::binary([](double a, double b) { return a * b; }), in({4}).no_grad(), kNumeric));
  r.push_back(binary_row(
      "div_", "div_ (integers truncate toward zero, as div)", [](const Tensor& t, const Tensor& s) { div_(t, s); },
      [](const std::vector<Tensor>& x) {
        const bool ints = is_integral(x[0].dtype());
        return ref::binary([ints](double a, double b) { return ints ? std::trunc(a / b) : a / b; })(x);
      },
      pos({4}).no_grad(), kNumeric));
  r.push_back({.op = "mul_(Tensor, double)",
               .name = "mul_ by a number",
               .inputs = {in({3, 4}).no_grad()},
               .fn = into_copy([](const Tensor& t, const std::vector<Tensor>&) { mul_(t, -1.5); }),
               .ref = ref::unary([](double a) { return -1.5 * a; }),
               .variants = {{"0-d", {{}}}, {"empty", {{0, 2}}}},
               .gradcheck = false});
  for (double v : {2.0, -3.0}) {
    r.push_back({.op = "fill_",
                 .name = fmt::format("fill_ {}", v),
                 .inputs = {in({3, 4}).no_grad()},
                 .fn = into_copy([v](const Tensor& t, const std::vector<Tensor>&) { fill_(t, v); }),
                 .ref = ref::unary([v](double) { return v; }),
                 .dtypes = kNumeric,
                 .variants = {{"0-d", {{}}}, {"empty", {{0, 2}}}},
                 .errors = {{[] { fill_(zeros({2}, DType::int32), NAN); }, {"[fill]", "int32", "nan"}},
                            {[] { fill_(expand(zeros({1}), {3}), 1.0); }, {"[fill_]", "expanded view"}}},
                 .gradcheck = false});
  }
  r.push_back({.op = "zero_",
               .name = "zero_",
               .inputs = {in({3, 4}).no_grad()},
               .fn = into_copy([](const Tensor& t, const std::vector<Tensor>&) { zero_(t); }),
               .ref = ref::unary([](double) { return 0.0; }),
               .dtypes = kNumeric,
               .variants = {{"0-d", {{}}}, {"empty", {{0, 2}}}},
               .gradcheck = false});
  return r;
}

// ---- optimizer updates: PyTorch's formulas (backends/backend.h), in doubles ----

Row sgd_row(const std::string& name, SgdStep o) {
  const bool buf = o.momentum != 0;
  std::vector<Input> inputs = {in({3, 4}).no_grad(), in({3, 4}).no_grad()};
  if (buf) inputs.push_back(in({3, 4}).no_grad());
  return {.op = "sgd_step_",
          .name = name,
          .inputs = inputs,
          .fn =
              [o, buf](const std::vector<Tensor>& x) {
                NoGradGuard ng;
                Tensor p = clone(x[0]), b = buf ? clone(x[2]) : Tensor();
                sgd_step_(p, x[1], b, o);
                return buf ? Outputs{p, b} : Outputs{p};
              },
          .ref =
              [o, buf](const std::vector<Tensor>& x) {
                optest::Vec p = optest::vals(x[0]), g = optest::vals(x[1]), b = buf ? optest::vals(x[2]) : optest::Vec{};
                for (size_t i = 0; i < p.size(); ++i) {
                  double d = g[i] + o.weight_decay * p[i];
                  if (buf) {
                    b[i] = o.first_step ? d : o.momentum * b[i] + (1 - o.dampening) * d;
                    d = o.nesterov ? d + o.momentum * b[i] : b[i];
                  }
                  p[i] -= o.lr * d;
                }
                std::vector<Expect> e = {ref::same(x[0], p)};
                if (buf) e.push_back(ref::same(x[0], b));
                return e;
              },
          .variants = {{"empty", std::vector<Shape>(inputs.size(), Shape{0, 3})},
                       {"0-d", std::vector<Shape>(inputs.size(), Shape{})}},
          .errors = {{[] { NoGradGuard ng; sgd_step_(zeros({2}), zeros({3}), Tensor(), {}); },
                      {"[sgd_step]", "gradient [3]", "parameter [2]"}},
                     {[] { sgd_step_(zeros({2}).set_requires_grad(), zeros({2}), Tensor(), {}); },
                      {"[sgd_step]", "grad mode is on"}}},
          .err_op = "sgd_step",
          .gradcheck = false};
}

Row adam_row(const std::string& name, AdamStep o) {
  return {.op = "adam_step_",
          .name = name,
          .inputs = {in({3, 4}).no_grad(), in({3, 4}).no_grad(), in({3, 4}).no_grad(), pos({3, 4}).no_grad()},
          .fn =
              [o](const std::vector<Tensor>& x) {
                NoGradGuard ng;
                Tensor p = clone(x[0]), m = clone(x[2]), v = clone(x[3]);
                adam_step_(p, x[1], m, v, o);
                return Outputs{p, m, v};
              },
          .ref =
              [o](const std::vector<Tensor>& x) {
                optest::Vec p = optest::vals(x[0]), g = optest::vals(x[1]), m = optest::vals(x[2]),
                            v = optest::vals(x[3]);
                const double bc1 = 1 - std::pow(o.beta1, o.step), bc2 = 1 - std::pow(o.beta2, o.step);
                for (size_t i = 0; i < p.size(); ++i) {
                  double gi = g[i];
                  if (o.decoupled) p[i] *= 1 - o.lr * o.weight_decay;
                  else gi += o.weight_decay * p[i];
                  m[i] = o.beta1 * m[i] + (1 - o.beta1) * gi;
                  v[i] = o.beta2 * v[i] + (1 - o.beta2) * gi * gi;
                  p[i] -= o.lr / bc1 * m[i] / (std::sqrt(v[i]) / std::sqrt(bc2) + o.eps);
                }
                return std::vector<Expect>{ref::same(x[0], p), ref::same(x[0], m), ref::same(x[0], v)};
              },
          .tol32 = 2e-5,
          .variants = {{"empty", std::vector<Shape>(4, Shape{0, 3})}, {"0-d", std::vector<Shape>(4, Shape{})}},
          .errors = {{[] { NoGradGuard ng; adam_step_(zeros({2}), zeros({2}), zeros({2}), zeros({3}), {}); },
                      {"[adam_step]", "exp_avg_sq"}},
                     {[] { NoGradGuard ng; adam_step_(zeros({2}), zeros({2}), zeros({2}), zeros({2}), {.step = 0}); },
                      {"[adam_step]", "step counts from 1"}}},
          .err_op = "adam_step",
          .gradcheck = false};
}

std::vector<Row> optimizer_rows() {
  return {sgd_row("sgd_step_ plain", {.lr = 0.1}),
          sgd_row("sgd_step_ weight decay, momentum, first step",
                  {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .first_step = true}),
          sgd_row("sgd_step_ momentum, dampening", {.lr = 0.05, .momentum = 0.8, .dampening = 0.3}),
          sgd_row("sgd_step_ nesterov", {.lr = 0.05, .momentum = 0.9, .nesterov = true}),
          adam_row("adam_step_ Adam, L2 weight decay, step 1", {.lr = 0.01, .weight_decay = 0.1}),
          adam_row("adam_step_ AdamW, step 3", {.lr = 0.01, .beta1 = 0.8, .weight_decay = 0.1, .decoupled = true,
                                               .step = 3})};
}

std::vector<Row> rows() {
  std::vector<Row> r = elementwise_rows();
  for (Row& o : optimizer_rows()) r.push_back(std::move(o));
  return r;
}

}  // namespace

OP_TABLE_FAMILY("inplace", rows)
