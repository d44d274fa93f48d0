// Runs CudaBackend's element-wise, reduction, softmax and cross-entropy methods
// (backends/cuda/cuda_elementwise.*, cuda_reduce.*, cuda_softmax.*, cuda_loss.*, kernels emulated on
// the host) against CpuBackend on random inputs: dtypes, broadcast and strided views, NaN/inf,
// empty shapes, split reductions, ties in arg max/min, integer extremes (wrapping, INT_MIN / -1),
// float -> int conversions that must fail, softmax and cross-entropy rows with NaN / inf / all -inf.
// Every grid is capped at 3 blocks (these kernels are grid-stride), so grid-stride loops wrap.
// Built and run by tests/cuda_emu/run.sh.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>

#include "backends/cpu/cpu_backend.h"
#include "backends/cuda/cuda_backend.h"
#include "fake_cuda.h"

using namespace memgrad;

namespace {
cpu::CpuBackend CPU;
Backend& GPU = cuda::emu_backend();
std::mt19937_64 rng(7);
int failures = 0, checks = 0;
const DType kAll[] = {DType::float32, DType::float64, DType::int32, DType::int64, DType::boolean};
const DType kNum[] = {DType::float32, DType::float64, DType::int32, DType::int64};
const DType kFloat[] = {DType::float32, DType::float64};

double uni(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); }

// Random values; `special` mixes in NaN, +-inf, zeros and repeats.
Tensor rnd(const Shape& s, DType t, double lo = -3, double hi = 3, bool special = false) {
  Tensor x = empty(s, t);
  dispatch_all(t, "rnd", [&]<class T>() {
    T* p = x.data<T>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      double v = uni(lo, hi);
      if constexpr (std::is_same_v<T, bool>) p[i] = v > (lo + hi) / 2;
      else if constexpr (std::is_integral_v<T>) p[i] = static_cast<T>(std::floor(v));
      else {
        p[i] = static_cast<T>(v);
        if (special) {
          int k = rng() % 16;
          if (k == 0) p[i] = NAN;
          if (k == 1) p[i] = INFINITY;
          if (k == 2) p[i] = -INFINITY;
          if (k == 3) p[i] = 0;
          if (k == 4) p[i] = static_cast<T>(1.5);
        }
      }
    }
  });
  return x;
}

// A non-contiguous view of shape s: the last two dims transposed storage.
Tensor transposed(const Tensor& base) {
  Shape s = base.shape();
  Strides st = base.strides();
  std::swap(s[s.size() - 1], s[s.size() - 2]);
  std::swap(st[st.size() - 1], st[st.size() - 2]);
  return alias(base, s, st, base.offset());
}
// A view of `s` with every other element along the last dim of a bigger base.
Tensor strided_view(const Shape& s, DType t, bool special = false) {
  Shape bs = s;
  bs.back() = bs.back() * 2 + 1;
  Tensor base = rnd(bs, t, -3, 3, special);
  Strides st = base.strides();
  st.back() = 2;
  return alias(base, s, st, 1);
}
Tensor expanded(const Tensor& x, const Shape& target) {
  return alias(x, target, broadcast_strides(x.shape(), x.strides(), target, "test"), x.offset());
}

template <class T>
bool same(T a, T b, double rtol) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    if (std::isinf(a) || std::isinf(b)) return a == b;
    return std::fabs(double(a) - double(b)) <= rtol * std::fabs(double(b)) + rtol * 1e-3;
  } else {
    return a == b;
  }
}

void check(const Tensor& g, const Tensor& c, const std::string& what, double rtol = 0) {
  ++checks;
  if (g.shape() != c.shape() || g.dtype() != c.dtype()) {
    printf("FAIL %s: shape/dtype\n", what.c_str());
    ++failures;
    return;
  }
  dispatch_all(c.dtype(), "check", [&]<class T>() {
    auto a = g.to_vector<T>(), b = c.to_vector<T>();
    for (size_t i = 0; i < a.size(); ++i)
      if (!same<T>(a[i], b[i], rtol)) {
        printf("FAIL %s: [%zu] gpu %.17g cpu %.17g\n", what.c_str(), i, double(a[i]), double(b[i]));
        ++failures;
        return;
      }
  });
}

// Runs f on both backends; both throw the same error or neither does. Returns whether neither threw.
template <class F>
bool both_throw_or(const std::string& what, F f) {
  std::string eg, ec;
  try { f(GPU); } catch (const std::exception& e) { eg = e.what(); }
  try { f(CPU); } catch (const std::exception& e) { ec = e.what(); }
  ++checks;
  if (eg != ec) { printf("FAIL %s: errors differ: gpu '%s' cpu '%s'\n", what.c_str(), eg.c_str(), ec.c_str()); ++failures; }
  return eg.empty() && ec.empty();
}
// Runs f on both backends and expects both to throw an error containing `msg`.
template <class F>
void both_throw(const std::string& what, const std::string& msg, F f) {
  std::string eg, ec;
  try { f(GPU); } catch (const std::exception& e) { eg = e.what(); }
  try { f(CPU); } catch (const std::exception& e) { ec = e.what(); }
  ++checks;
  if (eg != ec || eg.find(msg) == std::string::npos) {
    printf("FAIL %s: expected '%s' from both: gpu '%s' cpu '%s'\n", what.c_str(), msg.c_str(), eg.c_str(), ec.c_str());
    ++failures;
  }
}

std::string dn(DType t) { return to_string(t); }

void test_fill_arange_random() {
  for (DType t : kAll) {
    Tensor base_g = rnd({4, 7}, t), base_c = rnd({4, 7}, t);
    CPU.copy(base_g, base_c);
    Tensor vg = alias(base_g, {4, 3}, {7, 2}, 1), vc = alias(base_c, {4, 3}, {7, 2}, 1);
    GPU.fill(vg, 2.75);
    CPU.fill(vc, 2.75);
    check(base_g, base_c, "fill " + dn(t));
    for (RandomKind k : {RandomKind::uniform, RandomKind::normal, RandomKind::bernoulli})
      for (int64_t n : {1, 3, 4, 5, 13, 1000}) {
        Tensor g = empty({n}, t), c = empty({n}, t);
        uint64_t seed = rng(), off = rng() >> 2;
        double a = k == RandomKind::bernoulli ? 0.3 : -1.5, b = k == RandomKind::bernoulli ? 0 : 2.5;
        const std::string what = "random " + dn(t) + " kind " + std::to_string(int(k)) + " n " + std::to_string(n);
        // normal samples into an integer type are refused by both
        if (both_throw_or(what, [&](Backend& be) { be.random(&be == &GPU ? g : c, k, a, b, seed, off); }))
          check(g, c, what);
      }
    // uniform clamp: b reached by rounding
    {
      Tensor g = empty({64}, t), c = empty({64}, t);
      GPU.random(g, RandomKind::uniform, 0, 1e-30, 5, 0);
      CPU.random(c, RandomKind::uniform, 0, 1e-30, 5, 0);
      check(g, c, "random clamp " + dn(t));
    }
  }
  for (DType t : kNum) {
    Tensor g = empty({1037}, t), c = empty({1037}, t);
    GPU.arange(g, -3.5, 0.25);
    CPU.arange(c, -3.5, 0.25);
    check(g, c, "arange " + dn(t));
  }
  both_throw_or("arange bool", [](Backend& be) { Tensor t = empty({3}, DType::boolean); be.arange(t, 0, 1); });
  // integer outputs: values they cannot hold are errors (scalar_math.h), never static_cast's UB
  for (DType t : {DType::int32, DType::int64}) {
    both_throw("fill nan " + dn(t), "[fill] cannot fill", [&](Backend& be) { Tensor x = empty({5}, t); be.fill(x, NAN); });
    both_throw("fill 1e30 " + dn(t), "[fill] cannot fill", [&](Backend& be) { Tensor x = empty({5}, t); be.fill(x, 1e30); });
    both_throw("arange past the range " + dn(t), "[arange]",
               [&](Backend& be) { Tensor x = empty({5}, t); be.arange(x, 1e19, 1); });
  }
}

void test_copy() {
  for (DType d : kAll)
    for (DType s : kAll) {
      Tensor src = transposed(rnd({3, 5, 7}, s, -5, 5, true));
      Tensor g = empty(src.shape(), d), c = empty(src.shape(), d);
      // specials (NaN, inf) into an integer type: the same error from both
      if (both_throw_or("copy " + dn(s) + " -> " + dn(d), [&](Backend& be) { be.copy(src, &be == &GPU ? g : c); }))
        check(g, c, "copy " + dn(s) + " -> " + dn(d));
      else if (!(is_floating(s) && is_integral(d)))
        printf("FAIL copy %s -> %s threw\n", dn(s).c_str(), dn(d).c_str()), ++failures;
      Tensor src2 = rnd({2, 300}, s);
      Tensor bg = rnd({2, 601}, d), bc = empty({2, 601}, d);
      CPU.copy(bg, bc);
      Tensor vg = alias(bg, {2, 300}, {601, 2}, 1), vc = alias(bc, {2, 300}, {601, 2}, 1);
      GPU.copy(src2, vg);
      CPU.copy(src2, vc);
      check(bg, bc, "copy into view " + dn(s) + " -> " + dn(d));
    }
  Tensor src = rnd({5, 6}, DType::float64), dst = empty({5, 6}, DType::float64);
  GPU.copy_across(src, dst);
  check(dst, src, "copy_across");
}

const UnaryOp kUnary[] = {UnaryOp::neg, UnaryOp::exp, UnaryOp::log, UnaryOp::sqrt, UnaryOp::tanh,
                          UnaryOp::sigmoid, UnaryOp::relu, UnaryOp::gelu, UnaryOp::abs, UnaryOp::pow_scalar};

void test_unary() {
  for (DType t : kAll)
    for (UnaryOp op : kUnary)
      for (double sc : {2.0, 0.5, -1.0, 3.0, 0.0}) {
        if (op != UnaryOp::pow_scalar && sc != 2.0) continue;
        Tensor x = strided_view({3, 33}, t, true);
        std::string what = "unary " + std::to_string(int(op)) + " " + dn(t) + " s " + std::to_string(sc);
        Tensor g = empty(x.shape(), t), c = empty(x.shape(), t);
        both_throw_or(what, [&](Backend& be) { be.unary(op, x, &be == &GPU ? g : c, sc); });
        // float32 gelu: the CPU's vectorised erf (cpu/fast_math.h) against libm's erfcf, a few ulp apart
        const double tol = op == UnaryOp::gelu && t == DType::float32 ? 1e-5 : 0;
        if (is_floating(t) || op == UnaryOp::neg || op == UnaryOp::abs || op == UnaryOp::relu)
          if (t != DType::boolean) check(g, c, what, tol);
        if (!is_floating(t)) continue;
        Tensor y = empty(x.shape(), t);
        CPU.unary(op, x, y, sc);
        Tensor gr = transposed(rnd({33, 3}, t));
        Tensor gb = empty(x.shape(), t), cb = empty(x.shape(), t);
        both_throw_or("backward " + what, [&](Backend& be) { be.unary_backward(op, x, y, gr, &be == &GPU ? gb : cb, sc); });
        if (op != UnaryOp::neg) check(gb, cb, "backward " + what, tol);
      }
}

// The fused linear's epilogues on [R, C] rows (R > 64: several of the CPU's row blocks), with and
// without bias, each activation; the bias gradient with and without grad_pre.
void test_linear_epilogue() {
  for (DType t : kFloat)
    for (Activation act : {Activation::none, Activation::gelu, Activation::relu})
      for (bool bias : {true, false}) {
        const int64_t R = 70, C = 37;
        const std::string what = "linear act " + std::to_string(int(act)) + (bias ? " bias " : " ") + dn(t);
        // float32 gelu: a few ulp apart, and the CPU takes Phi as 0 below x = -5.66 (|gelu| < 4.4e-8,
        // |gelu'| off by < 3e-8): the absolute part of the tolerance, 1e-3 * tol, covers it
        const double tol = t == DType::float32 && act == Activation::gelu ? 5e-5 : 0;
        Tensor y0 = rnd({R, C}, t, -4, 4, true), b = bias ? rnd({C}, t) : Tensor();
        Tensor yg = empty({R, C}, t), yc = empty({R, C}, t);
        CPU.copy(y0, yg);
        CPU.copy(y0, yc);
        const bool separate = act == Activation::gelu;  // gelu keeps the pre-activation
        Tensor og = separate ? empty({R, C}, t) : yg, oc = separate ? empty({R, C}, t) : yc;
        GPU.linear_epilogue(act, yg, b, og);
        CPU.linear_epilogue(act, yc, b, oc);
        check(yg, yc, what + " pre-activation");
        check(og, oc, what, tol);

        Tensor g = rnd({R, C}, t), gpg = empty({R, C}, t), gpc = empty({R, C}, t), none;
        Tensor dbg = bias ? empty({C}, t) : Tensor(), dbc = bias ? empty({C}, t) : Tensor();
        const Tensor& saved = separate ? yc : oc;
        Tensor& gp_g = act == Activation::none ? none : gpg;
        Tensor& gp_c = act == Activation::none ? none : gpc;
        GPU.linear_epilogue_backward(act, saved, g, gp_g, dbg, none);
        CPU.linear_epilogue_backward(act, saved, g, gp_c, dbc, none);
        if (act != Activation::none) check(gpg, gpc, "backward " + what, tol);
        // the column sums add in another order (rows in turn here, blocks of 64 rows on the CPU)
        if (bias) check(dbg, dbc, "bias gradient " + what, t == DType::float32 ? 1e-4 : 1e-12);
        if (act == Activation::none) continue;
        // act_out: the activation made in the same pass, as the forward made it, the gradient unchanged
        Tensor hg = empty({R, C}, t), hc = empty({R, C}, t), gp2g = empty({R, C}, t), gp2c = empty({R, C}, t);
        GPU.linear_epilogue_backward(act, saved, g, gp2g, none, hg);
        CPU.linear_epilogue_backward(act, saved, g, gp2c, none, hc);
        check(hg, og, "act_out (GPU) " + what);
        check(hc, oc, "act_out (CPU) " + what);
        check(gp2g, gpg, "backward with act_out (GPU) " + what);
        check(gp2c, gpc, "backward with act_out (CPU) " + what);
      }
}

const BinaryOp kBinary[] = {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div, BinaryOp::pow,
                            BinaryOp::maximum, BinaryOp::minimum, BinaryOp::eq, BinaryOp::ne, BinaryOp::lt,
                            BinaryOp::le, BinaryOp::gt, BinaryOp::ge, BinaryOp::logical_and, BinaryOp::logical_or};

void test_binary() {
  for (DType t : kAll)
    for (BinaryOp op : kBinary) {
      Shape s{4, 5, 6};
      Tensor a = expanded(rnd({4, 1, 6}, t, -4, 4, true), s);
      Tensor b = transposed(rnd({4, 6, 5}, t, -4, 4, true));
      if (is_integral(t) && op == BinaryOp::div) b = expanded(rnd({5, 1}, t, 1, 4), s);
      if (is_integral(t) && op == BinaryOp::pow) b = expanded(rnd({5, 1}, t, -2, 5), s);
      DType od = is_comparison(op) ? DType::boolean : t;
      Tensor g = empty(s, od), c = empty(s, od);
      std::string what = "binary " + std::to_string(int(op)) + " " + dn(t);
      both_throw_or(what, [&](Backend& be) { be.binary(op, a, b, &be == &GPU ? g : c); });
      bool ok = (t == DType::boolean) ? is_comparison(op) : (op != BinaryOp::logical_and && op != BinaryOp::logical_or);
      if (ok) check(g, c, what);
    }
  for (DType t : {DType::int32, DType::int64}) {
    Tensor a = rnd({7}, t), b = rnd({7}, t, 1, 3);
    std::memset(b.raw_data(), 0, itemsize(t));
    Tensor g = empty({7}, t), c = empty({7}, t);
    both_throw_or("int div by zero", [&](Backend& be) { be.binary(BinaryOp::div, a, b, &be == &GPU ? g : c); });
  }
  // integer pow corner cases
  for (DType t : {DType::int32, DType::int64}) {
    Tensor a = empty({8}, t), b = empty({8}, t);
    dispatch_index(t, "x", [&]<class T>() {
      T av[8] = {0, 1, -1, 2, -2, 3, 0, 10}, bv[8] = {0, -3, -3, -1, 3, 19, -1, 25};
      std::memcpy(a.raw_data(), av, sizeof av);
      std::memcpy(b.raw_data(), bv, sizeof bv);
    });
    Tensor g = empty({8}, t), c = empty({8}, t);
    GPU.binary(BinaryOp::pow, a, b, g);
    CPU.binary(BinaryOp::pow, a, b, c);
    check(g, c, "int pow corners " + dn(t));
  }
}

// Integer extremes: wrapping add / sub / mul / neg / abs / pow, INT_MIN / -1, as the CPU.
void test_int_extremes() {
  for (DType t : {DType::int32, DType::int64}) {
    Tensor a = empty({9}, t), b = empty({9}, t);
    dispatch_index(t, "x", [&]<class T>() {
      const T lo = std::numeric_limits<T>::min(), hi = std::numeric_limits<T>::max();
      T av[9] = {lo, hi, lo, hi, -1, 7, lo, 3, -2}, bv[9] = {-1, 1, 1, -1, lo, -2, 2, 40, 63};
      std::memcpy(a.raw_data(), av, sizeof av);
      std::memcpy(b.raw_data(), bv, sizeof bv);
    });
    for (BinaryOp op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div, BinaryOp::pow,
                        BinaryOp::maximum, BinaryOp::minimum}) {
      Tensor g = empty({9}, t), c = empty({9}, t);
      std::string what = "int extremes binary " + std::to_string(int(op)) + " " + dn(t);
      if (both_throw_or(what, [&](Backend& be) { be.binary(op, a, b, &be == &GPU ? g : c); })) check(g, c, what);
    }
    for (UnaryOp op : {UnaryOp::neg, UnaryOp::abs, UnaryOp::relu}) {
      Tensor g = empty({9}, t), c = empty({9}, t);
      GPU.unary(op, a, g, 0);
      CPU.unary(op, a, c, 0);
      check(g, c, "int extremes unary " + std::to_string(int(op)) + " " + dn(t));
    }
    for (ReduceOp op : {ReduceOp::sum, ReduceOp::max, ReduceOp::min}) {
      Tensor g = empty({1}, t), c = empty({1}, t);
      GPU.reduce(op, a, {0}, g);
      CPU.reduce(op, a, {0}, c);
      check(g, c, "int extremes reduce " + std::to_string(int(op)) + " " + dn(t));
    }
  }
  // float -> int: in range converts (truncating), anything else is the same error
  for (DType s : kFloat)
    for (DType d : {DType::int32, DType::int64}) {
      Tensor ok = rnd({300}, s, -2e9, 2e9), g = empty({300}, d), c = empty({300}, d);
      GPU.copy(ok, g);
      CPU.copy(ok, c);
      check(g, c, "copy in range " + dn(s) + " -> " + dn(d));
      for (double bad : {double(NAN), double(INFINITY), -1e19, 3e9}) {
        if (d == DType::int64 && std::fabs(bad) < 1e10) continue;
        Tensor x = rnd({300}, s, -5, 5);
        dispatch_float(s, "x", [&]<class T>() { x.data<T>()[123] = static_cast<T>(bad); });
        both_throw("copy bad " + dn(s) + " -> " + dn(d), "(element 123)",
                   [&](Backend& be) { be.copy(x, &be == &GPU ? g : c); });
      }
    }
}

// Softmax, log-softmax and cross-entropy rows holding NaN, +inf, -inf or nothing but -inf.
void test_softmax_loss_nan() {
  for (DType t : kFloat)
    for (int64_t C : {7, 40, 1500}) {  // one warp per row, and one block per row
      const int64_t R = 6;
      Tensor x = rnd({R, C}, t, -3, 3);
      dispatch_float(t, "x", [&]<class T>() {
        T* p = x.data<T>();
        p[0 * C + C / 2] = NAN;                                 // row 0: NaN
        p[1 * C + C - 1] = INFINITY;                            // row 1: +inf
        for (int64_t c = 0; c < C; ++c) p[2 * C + c] = -INFINITY;  // row 2: fully masked
        p[3 * C + 1] = -INFINITY;                               // row 3: one -inf
        p[4 * C] = NAN, p[4 * C + 1] = INFINITY;                // row 4: both
      });
      for (bool log : {false, true}) {
        std::string what = "softmax nan rows " + dn(t) + " C " + std::to_string(C) + (log ? " log" : "");
        Tensor g = empty({R, C}, t), c = empty({R, C}, t);
        GPU.softmax(x, g, log);
        CPU.softmax(x, c, log);
        check(g, c, what, t == DType::float32 ? 1e-6 : 1e-13);
        Tensor gr = rnd({R, C}, t), gb = empty({R, C}, t), cb = empty({R, C}, t);
        GPU.softmax_backward(c, gr, gb, log);
        CPU.softmax_backward(c, gr, cb, log);
        check(gb, cb, "backward " + what, t == DType::float32 ? 1e-5 : 1e-12);
      }
      Tensor target = empty({R}, DType::int64);
      for (int64_t r = 0; r < R; ++r) target.data<int64_t>()[r] = (r * 5 + 2) % C;
      for (double ls : {0.0, 0.1}) {
        std::string what = "cross_entropy nan rows " + dn(t) + " C " + std::to_string(C) + " ls " + std::to_string(ls);
        Tensor gl = empty({R}, t), cl = empty({R}, t), gz = empty({R}, t), cz = empty({R}, t);
        GPU.cross_entropy(x, target, -100, ls, gl, gz);
        CPU.cross_entropy(x, target, -100, ls, cl, cz);
        check(gl, cl, what + " losses", t == DType::float32 ? 1e-5 : 1e-12);
        check(gz, cz, what + " lse", t == DType::float32 ? 1e-5 : 1e-12);
      }
    }
}

void test_where_finite() {
  for (DType t : kAll) {
    Shape s{3, 4, 5};
    Tensor cond = expanded(rnd({3, 1, 5}, DType::boolean), s);
    Tensor a = transposed(rnd({3, 5, 4}, t)), b = expanded(rnd({5}, t), s);
    Tensor g = empty(s, t), c = empty(s, t);
    GPU.where(cond, a, b, g);
    CPU.where(cond, a, b, c);
    check(g, c, "where " + dn(t));
  }
  for (DType t : kAll)
    for (int k = 0; k < 4; ++k) {
      Tensor x = strided_view({3, 100}, t, false);
      if (k == 1 && is_floating(t)) dispatch_float(t, "x", [&]<class T>() { x.data<T>()[2 * 150] = NAN; });
      if (k == 2 && is_floating(t)) dispatch_float(t, "x", [&]<class T>() { x.data<T>()[2 * 299] = -INFINITY; });
      if (k == 3 && is_floating(t)) dispatch_float(t, "x", [&]<class T>() { x.data<T>()[2 * 300 + 1] = INFINITY; });
      ++checks;
      if (GPU.all_finite(x) != CPU.all_finite(x)) { printf("FAIL all_finite %s %d\n", dn(t).c_str(), k); ++failures; }
    }
  ++checks;
  if (!GPU.all_finite(empty({0, 3}))) { printf("FAIL all_finite empty\n"); ++failures; }
}

void test_reduce() {
  struct Case { Shape s; std::vector<int64_t> dims; bool transpose; };
  std::vector<Case> cases = {
      {{5, 7}, {1}, false},       {{5, 7}, {0}, false},        {{5, 7}, {0, 1}, false},  {{5, 7}, {}, false},
      {{3, 4, 5}, {0, 2}, false}, {{3, 4, 5}, {1}, true},      {{3, 4, 5}, {2}, true},   {{2, 3, 4, 5}, {1, 3}, false},
      {{2, 9000}, {1}, false},    {{9000, 3}, {0}, false},     {{3, 2500, 40}, {1}, false}, {{1, 20000}, {1}, false},
      {{20000}, {0}, false},      {{37, 1500}, {1}, false},    {{300, 70}, {1}, false},  {{4, 0, 3}, {1}, false},
      {{4, 0, 3}, {0}, false},    {{0, 5}, {1}, false},        {{}, {}, false},          {{6, 1, 5}, {1}, false},
      {{2, 3000, 1}, {1}, false}, {{400, 5}, {1}, false}, {{2, 3, 7}, {2}, true}, {{3, 31}, {1}, false}, {{3, 32}, {1}, false}, {{5000, 2}, {0}, false},     {{3, 33, 65}, {1}, true}};
  for (const Case& cs : cases)
    for (DType t : kAll)
      for (ReduceOp op : {ReduceOp::sum, ReduceOp::max, ReduceOp::min})
        for (bool special : {false, true}) {
          if (special && !is_floating(t)) continue;
          Shape s = cs.s;
          Tensor x;
          if (cs.transpose) {
            Shape ps = s;
            std::swap(ps[ps.size() - 1], ps[ps.size() - 2]);
            x = transposed(rnd(ps, t, -100, 100, special));
          } else {
            x = rnd(s, t, -100, 100, special);
          }
          Shape os = s;
          for (int64_t d : cs.dims) os[d] = 1;
          Tensor g = empty(os, t), c = empty(os, t);
          std::string what = "reduce " + std::to_string(int(op)) + " " + dn(t) + " " + str(s) + " dims " + str(cs.dims) +
                             (special ? " special" : "");
          both_throw_or(what, [&](Backend& be) { be.reduce(op, x, cs.dims, &be == &GPU ? g : c); });
          if (t != DType::boolean && (op == ReduceOp::sum || numel(s) > 0 || true)) {
            bool has_empty = false;
            for (int64_t d : cs.dims) has_empty |= s[d] == 0;
            if (op == ReduceOp::sum || !has_empty) check(g, c, what, t == DType::float32 ? 1e-6 : 1e-13);
          }
          // all -inf rows: the CPU's initial value wins
        }
  for (DType t : kFloat) {
    Tensor x = empty({3, 5}, t);
    dispatch_float(t, "x", [&]<class T>() { for (int i = 0; i < 15; ++i) x.data<T>()[i] = -INFINITY; });
    Tensor g = empty({3, 1}, t), c = empty({3, 1}, t);
    GPU.reduce(ReduceOp::max, x, {1}, g);
    CPU.reduce(ReduceOp::max, x, {1}, c);
    check(g, c, "max of -inf");
  }
}

void test_arg_reduce() {
  struct Case { Shape s; int64_t dim; bool transpose; };
  std::vector<Case> cases = {{{5, 7}, 1, false},     {{5, 7}, 0, false},     {{3, 4, 5}, 1, true}, {{3, 4, 5}, 2, false},
                             {{2, 3000}, 1, false},  {{3000, 3}, 0, false},  {{7}, 0, false},      {{300, 9}, 1, false},
                             {{4, 0, 3}, 2, false},  {{3, 600, 40}, 1, true}};
  for (const Case& cs : cases)
    for (DType t : kAll)
      for (ReduceOp op : {ReduceOp::max, ReduceOp::min})
        for (int mode = 0; mode < 3; ++mode) {  // 0 plain, 1 specials, 2 small ints (ties)
          if (mode == 1 && !is_floating(t)) continue;
          Shape s = cs.s;
          Tensor x;
          double lo = mode == 2 ? 0 : -100, hi = mode == 2 ? 3 : 100;
          if (cs.transpose) {
            Shape ps = s;
            std::swap(ps[ps.size() - 1], ps[ps.size() - 2]);
            x = transposed(rnd(ps, t, lo, hi, mode == 1));
          } else {
            x = rnd(s, t, lo, hi, mode == 1);
          }
          if (mode == 2 && is_floating(t)) dispatch_float(t, "x", [&]<class T>() {
              // round to few values for ties
              Tensor base = x;
            });
          Shape os = s;
          os[cs.dim] = 1;
          Tensor gv = empty(os, t), cv = empty(os, t), gi = empty(os, DType::int64), ci = empty(os, DType::int64);
          std::string what = "arg " + std::to_string(int(op)) + " " + dn(t) + " " + str(s) + " dim " +
                             std::to_string(cs.dim) + " mode " + std::to_string(mode);
          both_throw_or(what, [&](Backend& be) {
            bool gpu = &be == &GPU;
            be.arg_reduce(op, x, cs.dim, gpu ? gv : cv, gpu ? gi : ci);
          });
          if (t != DType::boolean && s[cs.dim] > 0) {
            check(gv, cv, what + " values");
            check(gi, ci, what + " indices");
          }
        }
  // ties in floats and NaN first
  for (DType t : kFloat) {
    Tensor x = empty({2, 6}, t);
    dispatch_float(t, "x", [&]<class T>() {
      T v[12] = {1, 3, 3, NAN, 2, NAN, -0.0, 0.0, 5, 5, -1, 5};
      std::memcpy(x.raw_data(), v, sizeof v);
    });
    for (ReduceOp op : {ReduceOp::max, ReduceOp::min}) {
      Tensor gv = empty({2, 1}, t), cv = empty({2, 1}, t), gi = empty({2, 1}, DType::int64), ci = empty({2, 1}, DType::int64);
      GPU.arg_reduce(op, x, 1, gv, gi);
      CPU.arg_reduce(op, x, 1, cv, ci);
      check(gv, cv, "arg ties values");
      check(gi, ci, "arg ties indices");
    }
  }
}

}  // namespace

int main() {
  emu::cap_grid(3);  // every kernel here is grid-stride: 3 blocks make their loops wrap
  // contiguous_copy, should these methods call it, copies with the emulated copy kernel, as on a GPU
  cuda::set_contiguous_copy_backend(&cuda::emu_backend());
  test_fill_arange_random();
  test_copy();
  test_unary();
  test_binary();
  test_int_extremes();
  test_softmax_loss_nan();
  test_where_finite();
  test_reduce();
  test_arg_reduce();
  test_linear_epilogue();  // last: the random inputs of the tests above stay as they were
  printf("%d checks, %d failures; %ld kernel launches at %zu launch sites, %ld blocks\n", checks, failures,
         (long)emu::launches(), emu::site_launches().size(), (long)emu::blocks_run());
  return failures ? 1 : 0;
}
