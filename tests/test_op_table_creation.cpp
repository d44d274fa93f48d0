// Op table rows: creation ops (values, dtypes, errors; random ones by their properties), copies
// and conversions (the harness: tests/op_table.h). Rows without inputs take the run's dtype and
// device from ctx().
#include <doctest/doctest.h>

#include <cmath>

#include "op_table.h"
#include "op_table_refs.h"

using namespace memgrad;
using namespace memgrad::optable;

namespace {

const std::vector<DType> kNumeric = {DType::float32, DType::float64, DType::int32, DType::int64};
const std::vector<DType> kAll = {DType::float32, DType::float64, DType::int32, DType::int64, DType::boolean};

// A row without inputs whose output is `shape` filled with `values` (one value: repeated).
Row constant_row(const std::string& op, const std::string& name, std::function<Tensor()> f, Shape shape, Vec values,
                 std::vector<DType> dts, std::vector<ErrorCase> errors = {}) {
  return {.op = op,
          .name = name,
          .fn = f1([f](auto&) { return f(); }),
          .ref = [shape, values](const std::vector<Tensor>&) {
            Vec v = values.size() == 1 ? Vec(numel(shape), values[0]) : values;
            if (ctx().dtype == DType::boolean)
              for (double& x : v) x = x != 0;
            else if (is_integral(ctx().dtype))
              for (double& x : v) x = std::trunc(x);
            return std::vector<Expect>{{shape, ctx().dtype, v}};
          },
          .dtypes = std::move(dts),
          .errors = std::move(errors)};
}

// x -> op(x) with x's shape and dtype and every value `value` (empty_like: values undefined).
Row like_row(const std::string& op, std::function<Tensor(const Tensor&)> f, std::optional<double> value) {
  Row row{.op = op,
          .name = op,
          .inputs = {in({2, 3}).no_grad()},
          .fn = f1([f](auto& x) { return f(x[0]); }),
          .ref = [value](const std::vector<Tensor>& x) {
            double v = value.value_or(0);
            if (x[0].dtype() == DType::boolean) v = v != 0;
            return std::vector<Expect>{{x[0].shape(), x[0].dtype(), Vec(x[0].numel(), v)}};
          },
          .dtypes = kAll,
          .variants = {{"0-d", {{}}}, {"empty", {{0, 3}}}}};
  row.values_defined = value.has_value();
  return row;
}

// Random creation ops: shape, dtype, values in range and not all equal, and the same values again
// from the same seed.
Row random_row(const std::string& op, std::function<Tensor(Generator&)> f, double low, double high, bool integral,
               std::vector<DType> dts, std::vector<ErrorCase> errors) {
  return {.op = op,
          .name = op,
          .fn = f1([f](auto&) {
            Generator g(7);
            return f(g);
          }),
          .prop =
              [=](const std::vector<Tensor>&, const Outputs& out) {
                Vec v = optest::vals(out[0]);
                CHECK(out[0].shape() == Shape{40, 50});
                CHECK(out[0].dtype() == ctx().dtype);
                bool in_range = true, varied = false;
                for (double x : v) {
                  in_range &= x >= low && x < high && std::isfinite(x) && (!integral || x == std::floor(x));
                  varied |= x != v[0];
                }
                CHECK(in_range);
                CHECK(varied);
                Generator g(7);
                CHECK(optest::vals(to(f(g), Device::cpu())) == v);
              },
          .dtypes = std::move(dts),
          .errors = std::move(errors)};
}

// to(x, dtype): C++ conversion rules (floats truncate toward zero, bool is "not zero").
Row to_dtype_row(DType target) {
  Row row{.op = "to(Tensor, DType)",
          .name = "to " + to_string(target),
          .inputs = {in({2, 3})},
          .fn = f1([target](auto& x) { return to(x[0], target); }),
          .ref = [target](const std::vector<Tensor>& x) {
            Vec v = optest::vals(x[0]);
            for (double& e : v) e = target == DType::boolean ? e != 0 : is_integral(target) ? std::trunc(e) : e;
            if (target == DType::float32)
              for (double& e : v) e = static_cast<float>(e);
            return std::vector<Expect>{{x[0].shape(), target, v}};
          },
          .dtypes = kAll,
          .variants = {{"0-d", {{}}}, {"empty", {{0, 3}}}},
          .reject_ints = false};
  row.tol32 = row.tol64 = 0;  // conversions are exact (float32 targets are rounded in the reference)
  row.gradcheck = target == DType::float64;
  return row;
}

std::vector<Row> rows() {
  std::vector<Row> r;
  auto dev = [] { return ctx().device; };
  auto dt = [] { return ctx().dtype; };
  std::vector<ErrorCase> negative = {{[] { zeros({-1, 2}); }, {"negative dimension in shape [-1, 2]"}}};
  r.push_back(constant_row("zeros", "zeros", [=] { return zeros({2, 3}, dt(), dev()); }, {2, 3}, {0}, kAll, negative));
  r.push_back(constant_row("zeros", "zeros 0-d", [=] { return zeros({}, dt(), dev()); }, {}, {0}, kAll));
  r.push_back(constant_row("zeros", "zeros empty", [=] { return zeros({0, 3}, dt(), dev()); }, {0, 3}, {0}, kAll));
  r.push_back(constant_row("ones", "ones", [=] { return ones({3, 2}, dt(), dev()); }, {3, 2}, {1}, kAll,
                           {{[] { ones({2, -3}); }, {"negative dimension"}}}));
  r.push_back(constant_row("full", "full", [=] { return full({3}, 2.5, dt(), dev()); }, {3}, {2.5}, kAll));
  r.push_back(constant_row("full", "full negative", [=] { return full({2, 2}, -3.75, dt(), dev()); }, {2, 2}, {-3.75}, kAll));
  r.push_back(constant_row("scalar", "scalar", [=] { return scalar(1.5, dt(), dev()); }, {}, {1.5}, kAll));
  r.push_back(constant_row("from_vector", "from_vector", [=] {
    return dispatch_all(dt(), "test", [&]<class T>() {
      return from_vector<T>({T(1), T(-2), T(3), T(0), T(5), T(6)}, {3, 2}, dev());
    });
  }, {3, 2}, {1, -2, 3, 0, 5, 6}, kAll, {{[] { from_vector<float>({1, 2, 3}, {2, 2}); }, {"[from_vector] 3 values for shape [2, 2]"}}}));
  r.push_back(constant_row("from_vector", "from_vector 1-d", [=] {
    return dispatch_numeric(dt(), "test", [&]<class T>() { return from_vector<T>({T(4), T(5), T(6)}, {}, dev()); });
  }, {3}, {4, 5, 6}, kNumeric));
  r.push_back(constant_row("arange(double, double, double, DType, Device)", "arange with a fractional step",
                           [=] { return arange(1, 2, 0.25, dt(), dev()); }, {4}, {1, 1.25, 1.5, 1.75},
                           {DType::float32, DType::float64}, {{[] { arange(0, 1, 0); }, {"[arange] step must be non-zero"}}}));
  r.push_back(constant_row("arange(double, double, double, DType, Device)", "arange counting down",
                           [=] { return arange(5, 0, -2, dt(), dev()); }, {3}, {5, 3, 1}, kNumeric));
  r.push_back(constant_row("arange(double, double, double, DType, Device)", "arange empty",
                           [=] { return arange(3, 3, 1, dt(), dev()); }, {0}, {}, kNumeric));
  r.push_back(constant_row("arange(int64_t, DType, Device)", "arange(n)", [=] { return arange(5, dt(), dev()); }, {5},
                           {0, 1, 2, 3, 4}, kNumeric));
  r.push_back(like_row("zeros_like", [](const Tensor& t) { return zeros_like(t); }, 0.0));
  r.push_back(like_row("ones_like", [](const Tensor& t) { return ones_like(t); }, 1.0));
  r.push_back(like_row("full_like", [](const Tensor& t) { return full_like(t, -3.0); }, -3.0));
  r.push_back(like_row("empty_like", [](const Tensor& t) { return empty_like(t); }, std::nullopt));
  r.push_back(random_row("rand", [=](Generator& g) { return rand({40, 50}, dt(), &g, -2.0, 3.0, dev()); }, -2, 3, false,
                         {DType::float32, DType::float64},
                         {{[] { rand({2}, DType::int64); }, {"[rand]", "int64"}},
                          {[] { rand({2}, DType::float32, nullptr, 1, 1); }, {"[rand] needs low < high"}}}));
  r.push_back(random_row("randn", [=](Generator& g) { return randn({40, 50}, dt(), &g, 1.0, 2.0, dev()); }, -INFINITY,
                         INFINITY, false, {DType::float32, DType::float64},
                         {{[] { randn({2}, DType::int32); }, {"[randn]", "int32"}},
                          {[] { randn({2}, DType::float32, nullptr, 0, -1); }, {"[randn] std must be >= 0"}}}));
  r.push_back(random_row("randint", [=](Generator& g) { return randint(-3, 4, {40, 50}, dt(), &g, dev()); }, -3, 4, true,
                         {DType::int32, DType::int64},
                         {{[] { randint(3, 3, {2}); }, {"[randint] needs low < high"}},
                          {[] { randint(0, 3, {2}, DType::float32); }, {"[randint]", "float32"}}}));

  // copies and conversions
  for (DType target : kAll) r.push_back(to_dtype_row(target));
  Row round_trip{.op = "to(Tensor, DType)",
                 .name = "to float32 and back",
                 .inputs = {in({2, 3})},
                 .fn = f1([](auto& x) { return to(to(x[0], DType::float32), x[0].dtype()); }),
                 .ref = [](const std::vector<Tensor>& x) {
                   Vec v = optest::vals(x[0]);
                   for (double& e : v) e = static_cast<float>(e);
                   return std::vector<Expect>{{x[0].shape(), x[0].dtype(), v}};
                 }};
  round_trip.tol64 = 0;
  round_trip.reject_ints = false;  // integers convert too
  round_trip.gc = {.eps = 1e-2, .atol = 1e-4};  // float32 rounding: a larger step than float32's noise
  r.push_back(round_trip);
  auto identity = [](const std::string& op, std::function<Tensor(const Tensor&)> f, bool grad) {
    Input x = in({2, 3});
    x.grad = grad;
    return Row{.op = op,
               .name = op,
               .inputs = {x},
               .fn = f1([f](auto& t) { return f(t[0]); }),
               .ref = [](const std::vector<Tensor>& t) { return std::vector<Expect>{ref::same(t[0], optest::vals(t[0]))}; },
               .dtypes = kAll,
               .variants = {{"0-d", {{}}}, {"empty", {{0, 3}}}, {"3-d", {{2, 3, 4}}}}};
  };
  r.push_back(identity("to(Tensor, Device)", [](const Tensor& t) { return to(t, Device::cpu()); }, true));
  r.push_back(identity("contiguous", [](const Tensor& t) { return contiguous(t); }, true));
  r.push_back(identity("clone", [](const Tensor& t) { return clone(t); }, true));
  r.push_back(identity("detach", [](const Tensor& t) { return detach(t); }, false));
  return r;
}

}  // namespace

OP_TABLE_FAMILY("creation and conversion", rows)
