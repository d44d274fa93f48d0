// Creation, copies and elementwise kernels on the CPU.
#include <atomic>
#include <cmath>
#include <limits>

#include "backends/cpu/cpu_backend.h"
#include "backends/scalar_checks.h"
#include "backends/scalar_math.h"
#include "backends/cpu/fast_math.h"
#include "backends/cpu/strided_loop.h"
#include "core/random.h"

namespace memgrad::cpu {
namespace {

template <class T>
T* ptr(const Tensor& t) {
  return static_cast<T*>(t.raw_data());
}

// Applies out[i] = f(x[i]) with x any view of out's shape.
template <class Out, class In, class F>
void map1(const Tensor& x, Tensor& out, int64_t cost, F f) {
  auto L = make_loop<2>(out.shape(), {&out.strides(), &x.strides()});
  Out* o = ptr<Out>(out);
  const In* p = ptr<In>(x);
  for_each_row(L, cost, [&](const auto& off, int64_t n, const auto& st) {
    Out* ro = o + off[0];
    const In* rx = p + off[1];
    if (st[0] == 1 && st[1] == 1)
      for (int64_t i = 0; i < n; ++i) ro[i] = f(rx[i]);
    else
      for (int64_t i = 0; i < n; ++i) ro[i * st[0]] = f(rx[i * st[1]]);
  });
}

// Applies out[i] = f(a[i], b[i]) with a, b views of out's shape (broadcast strides allowed).
template <class Out, class A, class B, class F>
void map2(const Tensor& a, const Tensor& b, Tensor& out, int64_t cost, F f) {
  auto L = make_loop<3>(out.shape(), {&out.strides(), &a.strides(), &b.strides()});
  Out* o = ptr<Out>(out);
  const A* pa = ptr<A>(a);
  const B* pb = ptr<B>(b);
  for_each_row(L, cost, [&](const auto& off, int64_t n, const auto& st) {
    Out* ro = o + off[0];
    const A* ra = pa + off[1];
    const B* rb = pb + off[2];
    if (st[0] == 1 && st[1] == 1 && st[2] == 1) {
      for (int64_t i = 0; i < n; ++i) ro[i] = f(ra[i], rb[i]);
    } else if (st[0] == 1 && st[1] == 1 && st[2] == 0) {
      const B vb = *rb;
      for (int64_t i = 0; i < n; ++i) ro[i] = f(ra[i], vb);
    } else if (st[0] == 1 && st[1] == 0 && st[2] == 1) {
      const A va = *ra;
      for (int64_t i = 0; i < n; ++i) ro[i] = f(va, rb[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) ro[i * st[0]] = f(ra[i * st[1]], rb[i * st[2]]);
    }
  });
}

template <class Out, class A, class B, class C, class F>
void map3(const Tensor& a, const Tensor& b, const Tensor& c, Tensor& out, F f) {
  auto L = make_loop<4>(out.shape(), {&out.strides(), &a.strides(), &b.strides(), &c.strides()});
  Out* o = ptr<Out>(out);
  const A* pa = ptr<A>(a);
  const B* pb = ptr<B>(b);
  const C* pc = ptr<C>(c);
  for_each_row(L, 1, [&](const auto& off, int64_t n, const auto& st) {
    for (int64_t i = 0; i < n; ++i)
      o[off[0] + i * st[0]] = f(pa[off[1] + i * st[1]], pb[off[2] + i * st[2]], pc[off[3] + i * st[3]]);
  });
}

}  // namespace

void CpuBackend::fill(Tensor& out, double value) {
  dispatch_all(out.dtype(), "fill", [&]<class T>() {
    check_fill_value(value, out.dtype());
    const T v = static_cast<T>(value);
    // write-only: out may be uninitialised, and reading garbage as bool is undefined behaviour
    auto L = make_loop<1>(out.shape(), {&out.strides()});
    T* o = ptr<T>(out);
    for_each_row(L, 1, [&](const auto& off, int64_t n, const auto& st) {
      for (int64_t i = 0; i < n; ++i) o[off[0] + i * st[0]] = v;
    });
  });
}

void CpuBackend::arange(Tensor& out, double start, double step) {
  dispatch_numeric(out.dtype(), "arange", [&]<class T>() {
    check_arange_values(start, step, out.numel(), out.dtype());
    T* o = ptr<T>(out);
    parallel_for(out.numel(), 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) o[i] = static_cast<T>(start + step * static_cast<double>(i));
    });
  });
}

void CpuBackend::random(Tensor& out, RandomKind kind, double a, double b, uint64_t seed, uint64_t offset) {
  const std::array<uint32_t, 2> key{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  dispatch_all(out.dtype(), "random", [&]<class T>() {
    check_random_dtype(out.dtype(), kind, a, b);
    T* o = ptr<T>(out);
    const int64_t n = out.numel();
    parallel_for((n + 3) / 4, 40, [&](int64_t b0, int64_t b1) {
      for (int64_t blk = b0; blk < b1; ++blk) {
        uint64_t c = offset + static_cast<uint64_t>(blk);
        auto r = philox4x32({static_cast<uint32_t>(c), static_cast<uint32_t>(c >> 32), 0u, 0u}, key);
        double v[4];
        if (kind == RandomKind::normal) {  // Box-Muller on word pairs (0,1) and (2,3)
          for (int p = 0; p < 2; ++p) {
            double u1 = uint_to_unit(r[2 * p]), u2 = uint_to_unit(r[2 * p + 1]);
            double rad = std::sqrt(-2.0 * std::log(u1)), th = 2.0 * M_PI * u2;
            v[2 * p] = a + b * rad * std::cos(th);
            v[2 * p + 1] = a + b * rad * std::sin(th);
          }
        } else {
          for (int w = 0; w < 4; ++w) {
            double u = 1.0 - uint_to_unit(r[w]);  // in [0, 1)
            v[w] = kind == RandomKind::uniform ? a + (b - a) * u : (u < a ? 1.0 : 0.0);
          }
        }
        for (int w = 0; w < 4 && blk * 4 + w < n; ++w) {
          T x = static_cast<T>(v[w]);
          if constexpr (std::is_floating_point_v<T>)  // rounding (to T, or of a + (b-a)u) must not reach b
            if (kind == RandomKind::uniform && x >= static_cast<T>(b)) x = std::nextafter(static_cast<T>(b), T(a));
          o[blk * 4 + w] = x;
        }
      }
    });
  });
}

void CpuBackend::copy(const Tensor& src, Tensor& dst) {
  dispatch_all(dst.dtype(), "copy", [&]<class D>() {
    dispatch_all(src.dtype(), "copy", [&]<class S>() {
      if constexpr (std::is_floating_point_v<S> && is_wrapping_int<D>) {  // float -> int: checked
        std::atomic<bool> bad{false};
        map1<D, S>(src, dst, 1, [&bad](S v) {
          if (fits_integer<D>(v)) return static_cast<D>(v);
          bad.store(true, std::memory_order_relaxed);
          return D(0);
        });
        if (bad.load()) check_integer_conversion(src, dst.dtype(), "to");
      } else {
        map1<D, S>(src, dst, 1, [](S v) { return static_cast<D>(v); });
      }
    });
  });
}

void CpuBackend::unary(UnaryOp op, const Tensor& x, Tensor& out, double scalar) {
  dispatch_numeric(x.dtype(), "unary", [&]<class T>() {
    using std::exp;
    switch (op) {
      case UnaryOp::neg: return map1<T, T>(x, out, 1, [](T v) { return wrap_neg(v); });
      case UnaryOp::abs: return map1<T, T>(x, out, 1, [](T v) { return wrap_abs(v); });
      case UnaryOp::relu: return map1<T, T>(x, out, 1, [](T v) { return relu_value(v); });
      default: break;
    }
    if constexpr (std::is_floating_point_v<T>) {
      switch (op) {
        case UnaryOp::exp: return map1<T, T>(x, out, 8, [](T v) { return std::exp(v); });
        case UnaryOp::log: return map1<T, T>(x, out, 8, [](T v) { return std::log(v); });
        case UnaryOp::sqrt: return map1<T, T>(x, out, 4, [](T v) { return std::sqrt(v); });
        case UnaryOp::tanh: return map1<T, T>(x, out, 8, [](T v) { return std::tanh(v); });
        case UnaryOp::sigmoid: return map1<T, T>(x, out, 8, [](T v) { return T(1) / (T(1) + std::exp(-v)); });
        case UnaryOp::gelu: return map1<T, T>(x, out, 4, [](T v) { return gelu_value(v); });  // fast_math.h
        case UnaryOp::pow_scalar: {
          T e = static_cast<T>(scalar);
          if (scalar == 2.0) return map1<T, T>(x, out, 1, [](T v) { return v * v; });
          return map1<T, T>(x, out, 8, [e](T v) { return std::pow(v, e); });
        }
        default: break;
      }
    }
    fail("unary", "{} is not defined for dtype {}", op_name(op), to_string(x.dtype()));
  });
}

void CpuBackend::unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& grad, Tensor& out,
                                double scalar) {
  dispatch_float(x.dtype(), "unary_backward", [&]<class T>() {
    switch (op) {
      case UnaryOp::relu: return map2<T, T, T>(x, grad, out, 1, [](T v, T g) { return relu_grad(v, g); });
      case UnaryOp::abs:
        return map2<T, T, T>(x, grad, out, 1, [](T v, T g) { return v > 0 ? g : (v < 0 ? -g : T(0)); });
      case UnaryOp::exp: return map2<T, T, T>(y, grad, out, 1, [](T v, T g) { return v * g; });
      case UnaryOp::log: return map2<T, T, T>(x, grad, out, 1, [](T v, T g) { return g / v; });
      case UnaryOp::sqrt: return map2<T, T, T>(y, grad, out, 1, [](T v, T g) { return g / (T(2) * v); });
      case UnaryOp::tanh: return map2<T, T, T>(y, grad, out, 1, [](T v, T g) { return g * (T(1) - v * v); });
      case UnaryOp::sigmoid: return map2<T, T, T>(y, grad, out, 1, [](T v, T g) { return g * v * (T(1) - v); });
      case UnaryOp::gelu: return map2<T, T, T>(x, grad, out, 4, [](T v, T g) { return gelu_grad(v, g); });
      case UnaryOp::pow_scalar: {
        T e = static_cast<T>(scalar);
        if (e == T(0)) return map2<T, T, T>(x, grad, out, 1, [](T, T) { return T(0); });  // not 0 * pow(0, -1)
        return map2<T, T, T>(x, grad, out, 8, [e](T v, T g) { return g * e * std::pow(v, e - T(1)); });
      }
      default: fail("unary_backward", "{} has no backward kernel", op_name(op));
    }
  });
}

void CpuBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  if (op == BinaryOp::logical_and || op == BinaryOp::logical_or) {
    MG_CHECK(a.dtype() == DType::boolean, "logical", "needs bool tensors, got {}", to_string(a.dtype()));
    if (op == BinaryOp::logical_and) return map2<bool, bool, bool>(a, b, out, 1, [](bool x, bool y) { return x && y; });
    return map2<bool, bool, bool>(a, b, out, 1, [](bool x, bool y) { return x || y; });
  }
  if (a.dtype() == DType::boolean && is_comparison(op)) {  // bools compare as 0 < 1 (logical_not is eq)
    switch (op) {
      case BinaryOp::eq: return map2<bool, bool, bool>(a, b, out, 1, [](bool x, bool y) { return x == y; });
      case BinaryOp::ne: return map2<bool, bool, bool>(a, b, out, 1, [](bool x, bool y) { return x != y; });
      case BinaryOp::lt: return map2<bool, bool, bool>(a, b, out, 1, [](bool x, bool y) { return x < y; });
      case BinaryOp::le: return map2<bool, bool, bool>(a, b, out, 1, [](bool x, bool y) { return x <= y; });
      case BinaryOp::gt: return map2<bool, bool, bool>(a, b, out, 1, [](bool x, bool y) { return x > y; });
      case BinaryOp::ge: return map2<bool, bool, bool>(a, b, out, 1, [](bool x, bool y) { return x >= y; });
      default: break;
    }
  }
  dispatch_numeric(a.dtype(), "binary", [&]<class T>() {
    switch (op) {
      case BinaryOp::add: return map2<T, T, T>(a, b, out, 1, [](T x, T y) { return wrap_add(x, y); });
      case BinaryOp::sub: return map2<T, T, T>(a, b, out, 1, [](T x, T y) { return wrap_sub(x, y); });
      case BinaryOp::mul: return map2<T, T, T>(a, b, out, 1, [](T x, T y) { return wrap_mul(x, y); });
      case BinaryOp::div:
        if constexpr (std::is_integral_v<T>) {
          for (T v : b.to_vector<T>()) MG_CHECK(v != 0, "div", "integer division by zero");
          return map2<T, T, T>(a, b, out, 1, [](T x, T y) { return int_div(x, y); });
        } else {
          return map2<T, T, T>(a, b, out, 1, [](T x, T y) { return x / y; });
        }
      case BinaryOp::pow:
        if constexpr (std::is_integral_v<T>)
          return map2<T, T, T>(a, b, out, 8, [](T x, T y) { return int_pow(x, y); });
        else
          return map2<T, T, T>(a, b, out, 8, [](T x, T y) {
            return static_cast<T>(std::pow(static_cast<double>(x), static_cast<double>(y)));
          });
      case BinaryOp::maximum: return map2<T, T, T>(a, b, out, 1, [](T x, T y) { return nan_max(x, y); });
      case BinaryOp::minimum: return map2<T, T, T>(a, b, out, 1, [](T x, T y) { return nan_min(x, y); });
      case BinaryOp::eq: return map2<bool, T, T>(a, b, out, 1, [](T x, T y) { return x == y; });
      case BinaryOp::ne: return map2<bool, T, T>(a, b, out, 1, [](T x, T y) { return x != y; });
      case BinaryOp::lt: return map2<bool, T, T>(a, b, out, 1, [](T x, T y) { return x < y; });
      case BinaryOp::le: return map2<bool, T, T>(a, b, out, 1, [](T x, T y) { return x <= y; });
      case BinaryOp::gt: return map2<bool, T, T>(a, b, out, 1, [](T x, T y) { return x > y; });
      case BinaryOp::ge: return map2<bool, T, T>(a, b, out, 1, [](T x, T y) { return x >= y; });
      default: fail("binary", "{} is not defined for dtype {}", op_name(op), to_string(a.dtype()));
    }
  });
}

void CpuBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) {
  dispatch_all(a.dtype(), "where", [&]<class T>() {
    map3<T, bool, T, T>(cond, a, b, out, [](bool c, T x, T y) { return c ? x : y; });
  });
}

bool CpuBackend::all_finite(const Tensor& x) {
  if (!is_floating(x.dtype())) return true;
  return dispatch_float(x.dtype(), "all_finite", [&]<class T>() {
    // in place, allocating nothing: attention calls it on score-sized tensors
    std::atomic<bool> bad{false};
    auto L = make_loop<1>(x.shape(), {&x.strides()});
    const T* p = ptr<T>(x);
    for_each_row(L, 1, [&](const auto& off, int64_t n, const auto& st) {
      const T* r = p + off[0];
      const int64_t s = st[0];
      int b = 0;
#pragma omp simd reduction(| : b)
      for (int64_t i = 0; i < n; ++i) b |= !(r[i * s] - r[i * s] == T(0));  // NaN and +-inf give NaN
      if (b) bad.store(true, std::memory_order_relaxed);
    });
    return !bad.load();
  });
}

Tensor contiguous_copy(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  CpuBackend().copy(x, out);
  return out;
}

}  // namespace memgrad::cpu
