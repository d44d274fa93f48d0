// Op table rows: elementwise math with broadcasting, the tensor-scalar operators, comparisons and
// logic (the harness: tests/op_table.h).
#include <doctest/doctest.h>

#include <cmath>

#include "error_test_util.h"
#include "op_table.h"
#include "op_table_refs.h"

using namespace memgrad;
using namespace memgrad::optable;

namespace {

using Bin = std::function<Tensor(const Tensor&, const Tensor&)>;
using Un = std::function<Tensor(const Tensor&)>;
const std::vector<DType> kNumeric = {DType::float32, DType::float64, DType::int32, DType::int64};

// Every broadcasting pattern, as variants of a binary row (the main shapes are [2, 3, 4] and [3, 4]).
std::vector<Variant> broadcast_variants() {
  std::vector<std::pair<Shape, Shape>> pairs = {
      {{2, 3}, {2, 3}}, {{2, 3}, {}},     {{}, {2, 3}},          {{}, {}},           {{2, 3}, {3}},
      {{3}, {2, 3}},    {{2, 3}, {1, 3}}, {{2, 3}, {2, 1}},      {{2, 1}, {1, 3}},   {{4, 1, 3}, {2, 1}},
      {{1}, {2, 3}},    {{0, 3}, {3}},    {{5, 1, 1}, {1, 1, 4}}, {{2, 3, 1, 4}, {3, 5, 1}}, {{1, 3}, {2, 2, 3}},
      {{1, 1}, {1}},
  };
  std::vector<Variant> out;
  for (auto& [a, b] : pairs) out.push_back({str(a) + " with " + str(b), {a, b}});
  return out;
}

ErrorCase no_broadcast(const std::string& op, const Bin& f, DType dt = DType::float32) {
  return {[f, dt] { f(zeros({2, 3}, dt), zeros({4}, dt)); }, {"[" + op + "]", "[2, 3] and [4]", "cannot be broadcast"}};
}

Row binary_row(const std::string& op, Bin f, std::function<double(double, double)> r, Input a, Input b,
               std::vector<DType> dts = {DType::float32, DType::float64}, std::string err_op = "") {
  std::string name = op.substr(0, op.find('('));
  return {.op = op,
          .name = op,
          .inputs = {std::move(a), std::move(b)},
          .fn = f1([f](auto& x) { return f(x[0], x[1]); }),
          .ref = ref::binary(std::move(r)),
          .dtypes = std::move(dts),
          .variants = broadcast_variants(),
          .errors = {no_broadcast(err_op.empty() ? name : err_op, f)},
          .err_op = err_op};
}

// Unary rows take [3, 4], and a 0-d, an empty and a one-element variant.
Row unary_row(const std::string& op, Un f, std::function<double(double)> r, Input a,
              std::vector<DType> dts = {DType::float32, DType::float64}, std::string err_op = "") {
  Shape s = a.shape;
  return {.op = op,
          .name = op,
          .inputs = {std::move(a)},
          .fn = f1([f](auto& x) { return f(x[0]); }),
          .ref = ref::unary(std::move(r)),
          .dtypes = std::move(dts),
          .variants = {{"0-d", {{}}}, {"empty", {{0, 3}}}, {"one element", {{1, 1}}}, {"3-d", {{2, 3, 4}}}},
          .err_op = err_op};
}

Row scalar_row(const std::string& op, Un f, std::function<double(double)> r, Input a, std::string err_op,
               std::vector<DType> dts = kNumeric) {
  Row row = unary_row(op, std::move(f), std::move(r), std::move(a), std::move(dts), std::move(err_op));
  row.reject_ints = false;
  return row;
}

Row compare_row(const std::string& op, Bin f, std::function<bool(double, double)> r, std::vector<DType> dts = kNumeric) {
  const DType last = dts.back();
  return {.op = op,
          .name = op,
          .inputs = {ties({3, 4}), ties({4})},
          .fn = f1([f](auto& x) { return f(x[0], x[1]); }),
          .ref = ref::binary([r](double a, double b) { return r(a, b) ? 1.0 : 0.0; }, true),
          .dtypes = std::move(dts),
          .variants = {{"against a 0-d tensor", {{3, 4}, {}}}, {"empty", {{0, 4}, {4}}}, {"3-d", {{2, 1, 4}, {3, 1}}}},
          .errors = {no_broadcast(op, f, last)}};
}

std::vector<Row> rows() {
  const Input A = in({2, 3, 4}), B = in({3, 4});
  std::vector<Row> r = {
      binary_row("add", [](auto& a, auto& b) { return add(a, b); }, std::plus<double>(), A, B, kNumeric),
      binary_row("sub", [](auto& a, auto& b) { return sub(a, b); }, std::minus<double>(), A, B, kNumeric),
      binary_row("mul", [](auto& a, auto& b) { return mul(a, b); }, std::multiplies<double>(), A, B, kNumeric),
      binary_row("div", [](auto& a, auto& b) { return div(a, b); }, std::divides<double>(), A, afz({3, 4})),  // ints: below
      binary_row("pow(Tensor, Tensor)", [](auto& a, auto& b) { return pow(a, b); },
                 [](double a, double b) { return std::pow(a, b); }, pos({2, 3, 4}), B),
      binary_row("maximum", [](auto& a, auto& b) { return maximum(a, b); },
                 [](double a, double b) { return std::max(a, b); }, A, B, kNumeric),
      binary_row("minimum", [](auto& a, auto& b) { return minimum(a, b); },
                 [](double a, double b) { return std::min(a, b); }, A, B, kNumeric),
      binary_row("operator+(Tensor, Tensor)", [](auto& a, auto& b) { return a + b; }, std::plus<double>(), A, B,
                 kNumeric, "add"),
      binary_row("operator-(Tensor, Tensor)", [](auto& a, auto& b) { return a - b; }, std::minus<double>(), A, B,
                 kNumeric, "sub"),
      binary_row("operator*(Tensor, Tensor)", [](auto& a, auto& b) { return a * b; }, std::multiplies<double>(), A, B,
                 kNumeric, "mul"),
      binary_row("operator/(Tensor, Tensor)", [](auto& a, auto& b) { return a / b; }, std::divides<double>(), A,
                 afz({3, 4}), {DType::float32, DType::float64}, "div"),
  };
  r[3].reject_ints = r[4].reject_ints = r.back().reject_ints = false;  // div, pow and / take integers: rows below
  // integer division and powers: non-negative operands (truncating and flooring division agree)
  Row idiv = binary_row("div", [](auto& a, auto& b) { return div(a, b); },
                        [](double a, double b) { return std::floor(a / b); }, pos({2, 3, 4}), pos({3, 4}),
                        {DType::int32, DType::int64});
  idiv.name = "div of integers";
  idiv.errors.push_back({[] { div(from_vector<int32_t>({1, 2}), from_vector<int32_t>({3, 0})); },
                         {"[div]", "integer division by zero"}});
  r.push_back(idiv);
  Row ipow = binary_row("pow(Tensor, Tensor)", [](auto& a, auto& b) { return pow(a, b); },
                        [](double a, double b) { return std::pow(a, b); }, ties({2, 3, 4}), unit({3, 4}),
                        {DType::int32, DType::int64});
  ipow.name = "pow of integers";
  r.push_back(ipow);

  // unary
  auto U = [&](const std::string& op, Un f, std::function<double(double)> ref, Input a, std::vector<DType> dts =
                                                                                          {DType::float32, DType::float64}) {
    r.push_back(unary_row(op, std::move(f), std::move(ref), std::move(a), std::move(dts)));
  };
  U("neg", [](auto& t) { return neg(t); }, [](double v) { return -v; }, in({3, 4}), kNumeric);
  U("exp", [](auto& t) { return exp(t); }, [](double v) { return std::exp(v); }, in({3, 4}));
  U("log", [](auto& t) { return log(t); }, [](double v) { return std::log(v); }, pos({3, 4}));
  U("sqrt", [](auto& t) { return sqrt(t); }, [](double v) { return std::sqrt(v); }, pos({3, 4}));
  U("tanh", [](auto& t) { return tanh(t); }, [](double v) { return std::tanh(v); }, in({3, 4}));
  U("sigmoid", [](auto& t) { return sigmoid(t); }, [](double v) { return 1 / (1 + std::exp(-v)); }, in({3, 4}));
  U("relu", [](auto& t) { return relu(t); }, [](double v) { return v > 0 ? v : 0; }, afz({3, 4}), kNumeric);
  U("gelu", [](auto& t) { return gelu(t); }, [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); },
    in({3, 4}));
  U("abs", [](auto& t) { return abs(t); }, [](double v) { return std::abs(v); }, afz({3, 4}), kNumeric);
  for (double e : {2.0, 3.0, 0.5, -1.5, 0.0, 1.0}) {
    Row p = unary_row("pow(Tensor, double)", [e](auto& t) { return pow(t, e); },
                      [e](double v) { return std::pow(v, e); }, e == 2.0 || e == 3.0 ? in({3, 4}) : pos({3, 4}));
    p.name = "pow(Tensor, " + fmt::format("{}", e) + ")";
    r.push_back(p);
  }
  r.push_back(unary_row("operator-(Tensor)", [](auto& t) { return -t; }, [](double v) { return -v; }, in({3, 4}),
                        kNumeric, "neg"));

  // tensor-scalar operators
  r.push_back(scalar_row("operator+(Tensor, double)", [](auto& t) { return t + 2.0; }, [](double v) { return v + 2; },
                         in({3, 4}), "add"));
  r.push_back(scalar_row("operator-(Tensor, double)", [](auto& t) { return t - 2.0; }, [](double v) { return v - 2; },
                         in({3, 4}), "sub"));
  r.push_back(scalar_row("operator*(Tensor, double)", [](auto& t) { return t * 3.0; }, [](double v) { return v * 3; },
                         in({3, 4}), "mul"));
  r.push_back(scalar_row("operator/(Tensor, double)", [](auto& t) { return t / 4.0; }, [](double v) { return v / 4; },
                         in({3, 4}), "div", {DType::float32, DType::float64}));
  r.push_back(scalar_row("operator+(double, Tensor)", [](auto& t) { return 2.5 + t; }, [](double v) { return 2.5 + v; },
                         in({3, 4}), "add", {DType::float32, DType::float64}));
  r.push_back(scalar_row("operator-(double, Tensor)", [](auto& t) { return 10.0 - t; }, [](double v) { return 10 - v; },
                         in({3, 4}), "sub"));
  r.push_back(scalar_row("operator*(double, Tensor)", [](auto& t) { return 3.0 * t; }, [](double v) { return 3 * v; },
                         in({3, 4}), "mul"));
  r.push_back(scalar_row("operator/(double, Tensor)", [](auto& t) { return 4.0 / t; }, [](double v) { return 4 / v; },
                         pos({3, 4}), "div", {DType::float32, DType::float64}));

  // comparisons: bool results, ties on purpose
  r.push_back(compare_row("eq", [](auto& a, auto& b) { return eq(a, b); }, std::equal_to<double>(),
                          {DType::float32, DType::float64, DType::int32, DType::int64, DType::boolean}));
  r.push_back(compare_row("ne", [](auto& a, auto& b) { return ne(a, b); }, std::not_equal_to<double>(),
                          {DType::float32, DType::float64, DType::int32, DType::int64, DType::boolean}));
  r.push_back(compare_row("lt", [](auto& a, auto& b) { return lt(a, b); }, std::less<double>()));
  r.push_back(compare_row("le", [](auto& a, auto& b) { return le(a, b); }, std::less_equal<double>()));
  r.push_back(compare_row("gt", [](auto& a, auto& b) { return gt(a, b); }, std::greater<double>()));
  r.push_back(compare_row("ge", [](auto& a, auto& b) { return ge(a, b); }, std::greater_equal<double>()));

  // logic on bool tensors
  auto logic = [](const std::string& op, Bin f, std::function<bool(bool, bool)> ref) {
    Row row = compare_row(op, f, [ref](double a, double b) { return ref(a != 0, b != 0); }, {DType::boolean});
    row.errors.push_back({[f] { f(zeros({2}), zeros({2})); }, {"[" + op + "]", "bool"}});
    return row;
  };
  r.push_back(logic("logical_and", [](auto& a, auto& b) { return logical_and(a, b); }, std::logical_and<bool>()));
  r.push_back(logic("logical_or", [](auto& a, auto& b) { return logical_or(a, b); }, std::logical_or<bool>()));
  Row lnot = unary_row("logical_not", [](auto& t) { return logical_not(t); }, [](double v) { return v == 0 ? 1 : 0; },
                       in({3, 4}), {DType::boolean});
  lnot.ref = [](const std::vector<Tensor>& x) {
    return std::vector<Expect>{{x[0].shape(), DType::boolean, optest::ref_unary(x[0], [](double v) { return v == 0 ? 1. : 0.; })}};
  };
  lnot.errors = {{[] { logical_not(zeros({2})); }, {"[logical_not]", "bool"}}};
  r.push_back(lnot);

  // all_finite: a bool answer, true for random inputs and integers, false with an inf or a NaN
  auto finite_row = [](std::string name, std::optional<double> poison, std::vector<DType> dts) {
    Input x = in({3, 4}).no_grad();
    x.every_third = poison;
    return Row{.op = "all_finite",
               .name = std::move(name),
               .inputs = {x},
               .fn = f1([](auto& t) { return scalar(all_finite(t[0]) ? 1.0 : 0.0, DType::boolean); }),
               .ref = [](const std::vector<Tensor>& t) {
                 bool ok = true;
                 for (double v : optest::vals(t[0])) ok &= std::isfinite(v);
                 return std::vector<Expect>{{{}, DType::boolean, {ok ? 1.0 : 0.0}}};
               },
               .dtypes = std::move(dts),
               .variants = {{"empty", {{0, 3}}}, {"0-d", {{}}}},
               .reject_ints = false};  // integers are always finite
  };
  r.push_back(finite_row("all_finite", std::nullopt, kNumeric));
  r.push_back(finite_row("all_finite with an inf", INFINITY, {DType::float32, DType::float64}));
  r.push_back(finite_row("all_finite with a NaN", NAN, {DType::float32, DType::float64}));
  return r;
}

}  // namespace

OP_TABLE_FAMILY("elementwise", rows)
