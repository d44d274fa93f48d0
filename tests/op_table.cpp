// The op table's harness: inputs, runs and the five checks of tests/op_table.h (the view kinds:
// op_table_layouts.cpp).
#include "op_table.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <sstream>

#include "cuda_test_util.h"
#include "error_test_util.h"
#include "op_table_layouts.h"

namespace memgrad::optable {
namespace {

RunCtx g_ctx;

// Sets the run context for one scope.
struct CtxGuard {
  RunCtx saved = g_ctx;
  explicit CtxGuard(const RunCtx& c) { g_ctx = c; }
  ~CtxGuard() { g_ctx = saved; }
};

std::vector<Family>& registry() {
  static std::vector<Family> r;
  return r;
}

// ---- inputs -------------------------------------------------------------------------------------

bool is_value_input(const Input& s) { return s.domain != Domain::index && s.domain != Domain::mask; }

bool has_float64(const Row& row) {
  return std::find(row.dtypes.begin(), row.dtypes.end(), DType::float64) != row.dtypes.end();
}

bool has_ints(const std::vector<DType>& dts) {
  for (DType d : dts)
    if (is_integral(d)) return true;
  return false;
}

Tensor draw(const Input& s, const std::vector<Shape>& shapes, size_t i, const RunCtx& c, uint64_t seed) {
  const Shape& shape = shapes[i];
  Generator g(seed);
  DType dt = s.domain == Domain::index ? c.index_dtype : s.domain == Domain::mask ? DType::boolean : c.dtype;
  auto ints = [&](int64_t lo, int64_t hi) { return to(randint(lo, hi, shape, DType::int64, &g), dt); };
  if (s.domain == Domain::mask || dt == DType::boolean) return gt(randn(shape, DType::float64, &g), scalar(-0.5, DType::float64));
  if (s.domain == Domain::ties) return ints(-2, 3);
  if (s.domain == Domain::index) {
    int64_t high = s.high;
    if (s.of_input >= 0) high = shapes[s.of_input][s.of_dim] + s.high_add;
    if (numel(shape) == 0) return empty(shape, dt);
    REQUIRE_MESSAGE(high > s.low, "index input " << i << " has no valid value: [" << s.low << ", " << high << ")");
    return ints(s.low, high);
  }
  if (is_integral(dt)) {
    switch (s.domain) {
      case Domain::positive: return ints(1, 6);
      case Domain::unit: return ints(0, 4);
      case Domain::away_from_zero: {
        Vec v = optest::vals(ints(1, 6)), sign = optest::vals(randint(0, 2, shape, DType::int64, &g));
        for (size_t j = 0; j < v.size(); ++j) v[j] *= sign[j] ? 1 : -1;
        return from_values(v, shape, dt);
      }
      default: return ints(-5, 6);
    }
  }
  switch (s.domain) {
    case Domain::positive: return rand(shape, dt, &g, 0.5, 2.0);
    case Domain::unit: return rand(shape, dt, &g, 0.1, 0.9);
    case Domain::away_from_zero: {
      Vec v = optest::vals(randn(shape, DType::float64, &g));
      for (double& x : v) x += x > 0 ? 0.2 : -0.2;
      return from_values(v, shape, dt);
    }
    default: return randn(shape, dt, &g);
  }
}

Tensor make_input(const Input& s, const std::vector<Shape>& shapes, size_t i, const RunCtx& c, uint64_t seed) {
  Tensor t = draw(s, shapes, i, c, seed);
  if (!s.every_third) return t;
  Vec v = optest::vals(t);
  for (size_t j = 1; j < v.size(); j += 3) v[j] = *s.every_third;
  return from_values(v, t.shape(), t.dtype());
}

std::vector<Shape> main_shapes(const Row& row) {
  std::vector<Shape> s;
  for (const Input& in : row.inputs) s.push_back(in.shape);
  return s;
}

// The main shapes and every variant, named.
std::vector<Variant> shape_sets(const Row& row) {
  std::vector<Variant> out = {{"main shapes", main_shapes(row)}};
  for (const Variant& v : row.variants) {
    REQUIRE_MESSAGE(v.shapes.size() == row.inputs.size(), row.name << ": variant " << v.name << " has "
                                                                   << v.shapes.size() << " shapes");
    out.push_back(v);
  }
  return out;
}

// Contiguous CPU values of every input (no autograd).
std::vector<Tensor> make_values(const Row& row, const std::vector<Shape>& shapes, const RunCtx& c) {
  std::vector<Tensor> out;
  for (size_t i = 0; i < row.inputs.size(); ++i) out.push_back(make_input(row.inputs[i], shapes, i, c, 17 + 31 * i));
  return out;
}

// The dtype/index-dtype pairs a row runs in: each value dtype with int64 indices, and int32
// indices once where the row takes indices.
std::vector<RunCtx> configs(const Row& row) {
  std::vector<RunCtx> out;
  for (DType d : row.dtypes) out.push_back({d, DType::int64, Device::cpu()});
  bool indexed = false;
  for (const Input& s : row.inputs) indexed |= s.domain == Domain::index;
  if (indexed) out.push_back({row.dtypes.back(), DType::int32, Device::cpu()});
  return out;
}

// ---- runs ------------------------------------------------------------------------------------------

struct Result {
  Outputs outs;                // on the CPU, detached
  std::vector<Tensor> grads;   // per input: on the CPU, undefined when none
  std::string error;           // what the run threw, if anything
};

Tensor to_cpu(const Tensor& t) { return t.defined() ? to(detach(t), Device::cpu()) : t; }

// The upstream gradients of a run: fixed random values (repeated along the dims a stride-0
// layout shares), laid out contiguously or, with `in_layout`, in that layout.
struct Upstream {
  Layout values = Layout::contiguous;
  bool in_layout = false;
};

// Runs the row on `inputs` (already laid out on their device), then backward from every output
// that requires grad with the upstream gradients `up`.
Result run(const Row& row, std::vector<Tensor> inputs, Upstream up = {}) {
  Result r;
  try {
    for (size_t i = 0; i < inputs.size(); ++i)
      if (row.inputs[i].grad && is_floating(inputs[i].dtype())) inputs[i].set_requires_grad();
    Outputs outs = row.fn(inputs);
    std::vector<Tensor> roots, grads;
    for (size_t k = 0; k < outs.size(); ++k) {
      r.outs.push_back(to_cpu(outs[k]));
      if (!outs[k].defined() || !outs[k].requires_grad()) continue;
      const Tensor w = optest::rnd(outs[k].shape(), outs[k].dtype(), 99 + k);
      const bool fits = applies(up.values, w.shape());
      roots.push_back(outs[k]);
      grads.push_back(lay_out(fits ? layout_values(w, up.values) : w, fits && up.in_layout ? up.values : Layout::contiguous,
                              outs[k].device()));
    }
    if (!roots.empty()) backward(roots, grads);
    for (const Tensor& x : inputs) r.grads.push_back(x.requires_grad() ? to_cpu(x.grad()) : Tensor());
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  return r;
}

std::vector<Tensor> laid_out(const std::vector<Tensor>& values, Layout k, int target, Device dev) {
  std::vector<Tensor> out;
  for (size_t i = 0; i < values.size(); ++i)
    out.push_back(lay_out(values[i], target < 0 || static_cast<int>(i) == target ? k : Layout::contiguous, dev));
  return out;
}

double tol_of(const Row& row, DType dt) {
  return dt == DType::float32 ? row.tol32 : dt == DType::float64 ? row.tol64 : 0.0;
}

// got equals want: shape, dtype and (when the row defines them) values within tol.
void check_tensor(const Tensor& got, const Tensor& want, double rtol, double atol, bool values, const std::string& what) {
  if (!got.defined() || !want.defined()) {
    CHECK_MESSAGE(got.defined() == want.defined(), what << ": defined " << got.defined() << ", expected "
                                                        << want.defined());
    return;
  }
  CHECK_MESSAGE(got.shape() == want.shape(), what << ": shape " << str(got.shape()) << ", expected " << str(want.shape()));
  CHECK_MESSAGE(got.dtype() == want.dtype(), what << ": dtype " << to_string(got.dtype()) << ", expected "
                                                  << to_string(want.dtype()));
  if (!values || got.shape() != want.shape()) return;
  std::string m = optest::mismatch(optest::vals(got), optest::vals(want), rtol, atol);
  CHECK_MESSAGE(m.empty(), what << ": " << m);
}

void check_same_result(const Row& row, const Result& got, const Result& want, double rtol, double atol,
                       const std::string& what) {
  if (!got.error.empty() || !want.error.empty()) {
    CHECK_MESSAGE(got.error == want.error, what << ": threw '" << got.error << "', the contiguous run threw '"
                                                << want.error << "'");
    return;
  }
  REQUIRE(got.outs.size() == want.outs.size());
  for (size_t k = 0; k < got.outs.size(); ++k)
    check_tensor(got.outs[k], want.outs[k], rtol, atol, row.values_defined,
                 what + ", output " + std::to_string(k));
  for (size_t i = 0; i < got.grads.size() && i < want.grads.size(); ++i)
    check_tensor(got.grads[i], want.grads[i], rtol, atol, true, what + ", gradient of input " + std::to_string(i));
}

std::string context(const Row& row, const RunCtx& c, const std::string& shapes) {
  std::ostringstream s;
  s << "row '" << row.name << "' (" << row.op << "), " << to_string(c.dtype) << " (indices " << to_string(c.index_dtype)
    << "), " << shapes;
  return s.str();
}

}  // namespace

const RunCtx& ctx() { return g_ctx; }

bool register_family(const char* family, RowsFn rows) {
  registry().push_back({family, rows});
  return true;
}
const std::vector<Family>& families() { return registry(); }

// ---- the checks -------------------------------------------------------------------------------------

void check_forward(const std::vector<Row>& rows) {
  for (const Row& row : rows)
    for (const RunCtx& c : configs(row))
      for (const Variant& v : shape_sets(row)) {
        CtxGuard guard(c);
        const std::string what = context(row, c, v.name);
        INFO(what);
        std::vector<Tensor> values = make_values(row, v.shapes, c);
        Result r = run(row, laid_out(values, Layout::contiguous, -1, Device::cpu()));
        if (!r.error.empty()) {
          FAIL_CHECK(what << ": threw " << r.error);
          continue;
        }
        for (size_t i = 0; i < r.grads.size(); ++i)  // a gradient has its input's shape and dtype
          if (r.grads[i].defined())
            CHECK_MESSAGE((r.grads[i].shape() == values[i].shape() && r.grads[i].dtype() == values[i].dtype()),
                          what << ": gradient of input " << i << " is " << to_string(r.grads[i].dtype()) << " "
                               << str(r.grads[i].shape()) << " for " << to_string(values[i].dtype()) << " "
                               << str(values[i].shape()));
        CHECK_MESSAGE((row.ref || row.prop), row.name << ": a row needs a reference or property checks");
        if (row.prop) row.prop(values, r.outs);
        if (!row.ref) continue;
        std::vector<Expect> want = row.ref(values);
        REQUIRE(want.size() == r.outs.size());
        for (size_t k = 0; k < want.size(); ++k) {
          const Tensor& got = r.outs[k];
          const std::string out = what + ", output " + std::to_string(k);
          CHECK_MESSAGE(got.shape() == want[k].shape, out << ": shape " << str(got.shape()) << ", expected "
                                                          << str(want[k].shape));
          CHECK_MESSAGE(got.dtype() == want[k].dtype, out << ": dtype " << to_string(got.dtype()) << ", expected "
                                                          << to_string(want[k].dtype));
          if (!row.values_defined) continue;
          const double t = tol_of(row, got.dtype());
          std::string m = optest::mismatch(optest::vals(got), want[k].values, t, t);
          CHECK_MESSAGE(m.empty(), out << ": " << m);
        }
      }
}

namespace {
// Every view kind of the inputs, one input at a time and all at once, on `dev`, against the
// contiguous inputs with the same values on the CPU.
void views_on(const Row& row, Device dev, double rtol_scale, bool all_targets_only) {
  for (const RunCtx& c : configs(row))
    for (const Variant& v : shape_sets(row)) {
      std::vector<Tensor> values = make_values(row, v.shapes, c);
      const int n = static_cast<int>(values.size());
      for (Layout k : kViewKinds)
        for (int target = -1; target < n; ++target) {
          if (target >= 0 && (n == 1 || all_targets_only)) break;
          std::vector<Tensor> vals_k = values;
          bool any = false;
          for (int i = 0; i < n; ++i)
            if ((target < 0 || i == target) && applies(k, values[i].shape())) {
              vals_k[i] = layout_values(values[i], k);
              any = true;
            }
          if (!any) continue;
          const std::string what = context(row, c, v.name) + ", " + layout_name(k) + " on " +
                                   (target < 0 ? std::string("every input") : "input " + std::to_string(target)) +
                                   " (" + dev.str() + ")";
          INFO(what);
          Result want, got;
          {
            CtxGuard guard(c);
            want = run(row, laid_out(vals_k, Layout::contiguous, -1, Device::cpu()));
          }
          {
            RunCtx cd = c;
            cd.device = dev;
            CtxGuard guard(cd);
            std::vector<Tensor> ins;
            for (int i = 0; i < n; ++i)
              ins.push_back(lay_out(vals_k[i], (target < 0 || i == target) && applies(k, vals_k[i].shape())
                                                   ? k : Layout::contiguous, dev));
            got = run(row, ins);
          }
          double t = tol_of(row, c.dtype) * rtol_scale;
          check_same_result(row, got, want, t, t, what);
        }
      // contiguous inputs, the upstream gradient of each output in each view kind
      if (!is_floating(c.dtype) || all_targets_only) continue;
      for (Layout k : kViewKinds) {
        const std::string what = context(row, c, v.name) + ", upstream gradient " + layout_name(k);
        INFO(what);
        CtxGuard guard(c);
        Result want = run(row, laid_out(values, Layout::contiguous, -1, Device::cpu()), {k, false});
        Result got = run(row, laid_out(values, Layout::contiguous, -1, Device::cpu()), {k, true});
        double t = tol_of(row, c.dtype) * rtol_scale;
        check_same_result(row, got, want, t, t, what);
      }
    }
}
}  // namespace

void check_views(const std::vector<Row>& rows) {
  for (const Row& row : rows) views_on(row, Device::cpu(), 1, false);
}

namespace {
// float32 gradients against float64 ones on the same (float32) values: a backward kernel wrong
// only in float32 shows here (gradcheck runs in float64, the view checks compare float32 with itself).
void float32_grads(const Row& row) {
  const bool both = std::count(row.dtypes.begin(), row.dtypes.end(), DType::float32) && has_float64(row);
  if (!both) return;
  const RunCtx c32{DType::float32, DType::int64, Device::cpu()}, c64{DType::float64, DType::int64, Device::cpu()};
  for (const Variant& v : shape_sets(row)) {
    std::vector<Tensor> v64 = make_values(row, v.shapes, c64), v32 = v64;
    for (size_t i = 0; i < v64.size(); ++i)
      if (is_value_input(row.inputs[i])) {
        v32[i] = from_values(optest::vals(v64[i]), v64[i].shape(), DType::float32);
        v64[i] = from_values(optest::vals(v32[i]), v64[i].shape(), DType::float64);
      }
    Result a, b;
    {
      CtxGuard guard(c32);
      a = run(row, laid_out(v32, Layout::contiguous, -1, Device::cpu()));
    }
    {
      CtxGuard guard(c64);
      b = run(row, laid_out(v64, Layout::contiguous, -1, Device::cpu()));
    }
    const std::string what = context(row, c32, v.name) + ": float32 gradients against float64";
    INFO(what);
    CHECK_MESSAGE((a.error.empty() && b.error.empty()), what << ": threw " << a.error << b.error);
    for (size_t i = 0; i < a.grads.size() && i < b.grads.size(); ++i) {
      if (!a.grads[i].defined() || !b.grads[i].defined()) continue;
      const double t = std::max(10 * row.tol32, 1e-5);  // float32 rounds the upstream gradient too
      std::string m = optest::mismatch(optest::vals(a.grads[i]), optest::vals(b.grads[i]), t, t);
      CHECK_MESSAGE(m.empty(), what << ", gradient of input " << i << ": " << m);
    }
  }
}
}  // namespace

void check_gradcheck(const std::vector<Row>& rows) {
  for (const Row& row : rows) {
    if (!row.gradcheck || !has_float64(row)) continue;
    RunCtx c{DType::float64, DType::int64, Device::cpu()};
    CtxGuard guard(c);
    std::vector<int> diff;
    for (size_t i = 0; i < row.inputs.size(); ++i)
      if (row.inputs[i].grad && is_value_input(row.inputs[i])) diff.push_back(static_cast<int>(i));
    if (diff.empty()) continue;
    for (const Variant& v : shape_sets(row))
      for (Layout k : {Layout::contiguous, Layout::sliced})
        for (int alone = -1; alone < static_cast<int>(diff.size()); ++alone) {
          if (alone >= 0 && (diff.size() == 1 || k != Layout::contiguous)) break;
          std::vector<Tensor> values = make_values(row, v.shapes, c);
          std::vector<Tensor> ins;
          for (size_t i = 0; i < values.size(); ++i) {
            ins.push_back(lay_out(values[i], applies(k, values[i].shape()) ? k : Layout::contiguous, Device::cpu()));
            bool wanted = alone < 0 ? row.inputs[i].grad : static_cast<int>(i) == diff[alone];
            if (wanted && is_floating(ins.back().dtype()) && row.inputs[i].grad) ins.back().set_requires_grad();
          }
          const std::string what = context(row, c, v.name) + ", " + layout_name(k) +
                                   (alone < 0 ? ", every differentiable input"
                                              : ", only input " + std::to_string(diff[alone]) + " differentiable");
          INFO(what);
          try {
            GradcheckResult r = gradcheck(row.fn, ins, row.gc);
            CHECK_MESSAGE(r.ok, what << ": " << r.message);
          } catch (const std::exception& e) {
            FAIL_CHECK(what << ": threw " << std::string(e.what()));
          }
        }
    float32_grads(row);
  }
}

void check_errors(const std::vector<Row>& rows) {
  for (const Row& row : rows) {
    INFO("row '" << row.name << "' (" << row.op << ")");
    for (const ErrorCase& e : row.errors) check_error(e.call, e.parts);
    std::string op = row.err_op.empty() ? row.op.substr(0, row.op.find('(')) : row.err_op;
    std::vector<int> value_inputs;
    for (size_t i = 0; i < row.inputs.size(); ++i)
      if (is_value_input(row.inputs[i])) value_inputs.push_back(static_cast<int>(i));
    bool both_floats = std::count(row.dtypes.begin(), row.dtypes.end(), DType::float32) &&
                       std::count(row.dtypes.begin(), row.dtypes.end(), DType::float64);
    if (row.mix_dtypes && both_floats && value_inputs.size() >= 2) {
      INFO("float32 input 0 mixed with float64 inputs");
      RunCtx c32{DType::float32, DType::int64, Device::cpu()}, c64{DType::float64, DType::int64, Device::cpu()};
      std::vector<Tensor> a = make_values(row, main_shapes(row), c32), b = make_values(row, main_shapes(row), c64);
      for (size_t j = 1; j < value_inputs.size(); ++j) a[value_inputs[j]] = b[value_inputs[j]];
      check_error([&] { row.fn(a); }, {"[" + op + "]"});
    }
    if (row.reject_ints && !has_ints(row.dtypes) && !value_inputs.empty()) {
      INFO("int64 value inputs to a float-only op");
      RunCtx ci{DType::int64, DType::int64, Device::cpu()};
      CtxGuard guard(ci);
      std::vector<Tensor> a = make_values(row, main_shapes(row), ci);
      check_error([&] { row.fn(a); }, {"[" + op + "]"});
    }
  }
}

void check_cuda(const std::vector<Row>& rows) {
  if (cudatest::skip_without_test_device()) return;
  const Device dev = cudatest::test_device();
  for (const Row& row : rows) {
    // contiguous inputs on the device against the CPU
    for (const RunCtx& c : configs(row))
      for (const Variant& v : shape_sets(row)) {
        std::vector<Tensor> values = make_values(row, v.shapes, c);
        Result want, got;
        {
          CtxGuard guard(c);
          want = run(row, laid_out(values, Layout::contiguous, -1, Device::cpu()));
        }
        {
          RunCtx cd = c;
          cd.device = dev;
          CtxGuard guard(cd);
          got = run(row, laid_out(values, Layout::contiguous, -1, dev));
        }
        const std::string what = context(row, c, v.name) + " on " + dev.str() + " against the CPU";
        INFO(what);
        check_same_result(row, got, want, cudatest::rtol_of(c.dtype) * row.cuda_tol_scale,
                          cudatest::atol_of(c.dtype) * row.cuda_tol_scale, what);
      }
    // every view kind built in device memory, all inputs at once
    views_on(row, dev, row.cuda_tol_scale * 10, true);
  }
}

}  // namespace memgrad::optable
