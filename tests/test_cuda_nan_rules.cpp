// The scalar rules (backends/scalar_math.h) and attention's NaN rule (autograd/attention.h) on the
// GPU against the CPU: NaN / +inf / -inf must land on the same elements on both devices, finite
// values agree to rounding, integer extremes wrap alike, and the same inputs are errors on both.
// Skips without a GPU (MEMGRAD_CUDA_TESTS_ON_CPU=1 dry-runs it with the CPU standing in).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "autograd/attention.h"
#include "autograd/ops.h"
#include "cuda_test_util.h"

using namespace memgrad;
using namespace memgrad::cudatest;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Empty when a (test device) and b (CPU) hold the same class of value everywhere (NaN, +inf,
// -inf, finite) and finite values within rtol of the largest finite |b|; else the first mismatch.
std::string class_mismatch(const Tensor& a, const Tensor& b, double rtol) {
  if (a.shape() != b.shape()) return "shapes " + str(a.shape()) + " and " + str(b.shape());
  const optest::Vec x = optest::vals(to(a, Device::cpu())), y = optest::vals(b);
  double scale = 1e-30;
  for (double v : y)
    if (std::isfinite(v)) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < x.size(); ++i) {
    const bool same_class = std::isnan(x[i])      ? std::isnan(y[i])
                            : std::isfinite(x[i]) ? std::isfinite(y[i])
                                                  : x[i] == y[i];
    if (!same_class || (std::isfinite(y[i]) && std::abs(x[i] - y[i]) > rtol * scale))
      return "element " + std::to_string(i) + ": device " + std::to_string(x[i]) + ", cpu " + std::to_string(y[i]);
  }
  return "";
}
#define CHECK_SAME_CLASS(a, b, what, rtol)                      \
  do {                                                          \
    const std::string m_ = class_mismatch(a, b, rtol);          \
    CHECK_MESSAGE(m_.empty(), what << ": " << m_);              \
  } while (0)

// Random [r, c] values (never zero) with NaN, +inf and -inf sprinkled over a few rows; row 2 all -inf.
Tensor specials(int64_t r, int64_t c, DType dt, uint64_t seed) {
  optest::Vec v = optest::vals(optest::rnd({r, c}, DType::float64, seed));
  v[1] = kNaN, v[c + 3] = kInf, v[3 * c + 1] = -kInf, v[4 * c] = kNaN, v[4 * c + 2] = kInf;
  for (int64_t j = 0; j < c; ++j) v[2 * c + j] = -kInf;
  return to(from_vector<double>(v, {r, c}), dt);
}

// f on the CPU tensors and on their copies on the test device: the same errors, or results of the
// same class element by element.
template <class F>
void compare(const std::string& what, const std::vector<Tensor>& cpu, F f, double rtol) {
  std::vector<Tensor> dev;
  for (const Tensor& t : cpu) dev.push_back(to(t, test_device()));
  std::string ec, ed;
  Tensor rc, rd;
  try { rc = f(cpu); } catch (const Error& e) { ec = e.what(); }
  try { rd = f(dev); } catch (const Error& e) { ed = e.what(); }
  INFO(what);
  CHECK(ed == ec);
  if (ec.empty() && ed.empty()) CHECK_SAME_CLASS(rd, rc, what, rtol);
}

}  // namespace

TEST_CASE("cuda ops: NaN and inf propagate through elementwise, reductions, softmax and cross-entropy as on the CPU") {
  if (skip_without_test_device()) return;
  for (DType dt : {DType::float32, DType::float64}) {
    const double tol = dt == DType::float32 ? 1e-5 : 1e-12;
    const std::string d = " " + to_string(dt);
    Tensor x = specials(6, 37, dt, 1), y = specials(6, 37, dt, 2);
    auto one = [&](const std::string& what, auto f) { compare(what + d, {x, y}, f, tol); };
    one("relu", [](auto& t) { return relu(t[0]); });
    one("maximum", [](auto& t) { return maximum(t[0], t[1]); });
    one("minimum", [](auto& t) { return minimum(t[1], t[0]); });
    one("amax", [](auto& t) { return amax(t[0], {1}); });
    one("amin over rows", [](auto& t) { return amin(t[0], {0}); });
    one("max values", [](auto& t) { return max(t[0], 1).values; });
    one("max indices", [](auto& t) { return max(t[0], 1).indices; });
    one("argmax over rows", [](auto& t) { return argmax(t[0], 0); });
    one("lt", [](auto& t) { return lt(t[0], t[1]); });
    one("ne", [](auto& t) { return ne(t[0], t[1]); });
    one("softmax", [](auto& t) { return softmax(t[0], 1); });
    one("log_softmax", [](auto& t) { return log_softmax(t[0], 1); });
    one("cross_entropy", [](auto& t) {
      return cross_entropy(t[0], from_vector<int64_t>({0, 1, 2, 3, 4, 5}, {6}, t[0].device()),
                           {.reduction = Reduction::none});
    });
    one("to int64 (an error on both)", [](auto& t) { return to(t[0], DType::int64); });
    // gradients: relu passes the gradient at NaN, softmax keeps NaN rows NaN
    for (auto fn : {+[](const Tensor& t) { return relu(t); }, +[](const Tensor& t) { return softmax(t, 1); }}) {
      auto grad = [&](const Tensor& in) {
        Tensor a = detach(in).set_requires_grad();
        sum(fn(a) * to(optest::rnd(in.shape(), in.dtype(), 9), in.device())).backward();
        return a.grad();
      };
      compare("gradient" + d, {x}, [&](auto& t) { return grad(t[0]); }, tol);
    }
  }
}

TEST_CASE("cuda ops: integer extremes wrap, division by zero and unfit conversions are errors, as on the CPU") {
  if (skip_without_test_device()) return;
  const int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  for (DType dt : {DType::int32, DType::int64}) {
    const std::string d = " " + to_string(dt);
    const int64_t l = dt == DType::int32 ? std::numeric_limits<int32_t>::min() : lo;
    const int64_t h = dt == DType::int32 ? std::numeric_limits<int32_t>::max() : hi;
    Tensor a = to(from_vector<int64_t>({l, h, l, h, -1, 7, l, 3, -2}), dt);
    Tensor b = to(from_vector<int64_t>({-1, 1, 1, -1, l, -2, 2, 40, 63}), dt);
    auto one = [&](const std::string& what, auto f) { compare(what + d, {a, b}, f, 0); };
    one("add", [](auto& t) { return t[0] + t[1]; });
    one("sub", [](auto& t) { return t[0] - t[1]; });
    one("mul", [](auto& t) { return t[0] * t[1]; });
    one("div (INT_MIN / -1)", [](auto& t) { return t[0] / t[1]; });
    one("pow", [](auto& t) { return pow(t[0], t[1]); });
    one("neg", [](auto& t) { return -t[0]; });
    one("abs", [](auto& t) { return abs(t[0]); });
    one("sum", [](auto& t) { return sum(t[0]); });
    one("div by zero (an error on both)", [](auto& t) { return t[0] / (t[1] * 0); });
  }
  compare("float -> int32 out of range (an error on both)", {from_vector<double>({1.0, 3e9})},
          [](auto& t) { return to(t[0], DType::int32); }, 0);
  compare("fill int64 with NaN (an error on both)", {from_vector<double>({1.0})},
          [](auto& t) { return full({3}, kNaN, DType::int64, t[0].device()); }, 0);
}

TEST_CASE("cuda ops: attention with NaN and inf puts them where the CPU does, every kind, forward and backward") {
  if (skip_without_test_device()) return;
  const int64_t B = 2, H = 2, Nq = 40, Nk = 47;
  for (int64_t D : {16, 32}) {  // D 32: the fused kernels' head dim (non-finite inputs leave them)
    for (int which = 0; which < 4; ++which) {
      // 0 NaN in a query row, 1 NaN in a key, 2 NaN in a value, 3 finite inputs whose score overflows
      optest::Vec q = optest::vals(optest::rnd({B, H, Nq, D}, DType::float64, 11));
      optest::Vec k = optest::vals(optest::rnd({B, H, Nk, D}, DType::float64, 12));
      optest::Vec v = optest::vals(optest::rnd({B, H, Nk, D}, DType::float64, 13));
      auto qi = [&](int64_t b, int64_t h, int64_t i, int64_t d) { return ((b * H + h) * Nq + i) * D + d; };
      auto kj = [&](int64_t b, int64_t h, int64_t j, int64_t d) { return ((b * H + h) * Nk + j) * D + d; };
      if (which == 0) q[qi(0, 1, 9, 2)] = kNaN;
      if (which == 1) k[kj(1, 0, 30, 1)] = kNaN, k[kj(0, 0, 3, 0)] = kNaN;  // key 30 of batch 1 is padding
      if (which == 2) v[kj(1, 0, 30, 2)] = kNaN, v[kj(0, 1, 20, 0)] = kNaN;
      if (which == 3) {
        for (int64_t i = 0; i < Nq; ++i) q[qi(0, 0, i, 0)] = i == 5 ? 1e20 : 1e-30;
        k[kj(0, 0, 4, 0)] = 1e20;
      }
      std::vector<Tensor> in = {to(from_vector<double>(q, {B, H, Nq, D}), DType::float32),
                                to(from_vector<double>(k, {B, H, Nk, D}), DType::float32),
                                to(from_vector<double>(v, {B, H, Nk, D}), DType::float32)};
      for (int variant = 0; variant < 5; ++variant)
        for (bool causal : {false, true}) {
          AttentionOptions o;
          o.causal = causal;
          o.key_lengths = from_vector<int64_t>({Nk, 25});
          o.q_chunk = 16, o.k_chunk = 24;
          if (variant == 0) o.kind = AttentionKind::vanilla;
          if (variant == 1) o.kind = AttentionKind::chunked;  // fused where the inputs allow
          if (variant == 2) o.kind = AttentionKind::chunked, o.fused = false;
          if (variant == 3) o.kind = AttentionKind::topk, o.top_k = 5;
          if (variant == 4) o.kind = AttentionKind::topk, o.top_k = 300, o.fused = false;  // every key, block-wise
          INFO("D " << D << " case " << which << " variant " << variant << " causal " << causal);
          auto run = [&](Device dev) {
            std::vector<Tensor> x;
            for (const Tensor& t : in) x.push_back(detach(to(t, dev)).set_requires_grad());
            AttentionOptions od = o;
            od.key_lengths = to(o.key_lengths, dev);
            Tensor out = attention(x[0], x[1], x[2], od);
            sum(out * to(optest::rnd(out.shape(), out.dtype(), 99), dev)).backward();
            return std::vector<Tensor>{detach(out), x[0].grad(), x[1].grad(), x[2].grad()};
          };
          const std::vector<Tensor> c = run(Device::cpu()), g = run(test_device());
          const char* names[] = {"out", "dq", "dk", "dv"};
          for (int t = 0; t < 4; ++t) CHECK_SAME_CLASS(g[t], c[t], names[t], 1e-4);
        }
    }
  }
}
