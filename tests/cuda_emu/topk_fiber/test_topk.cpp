// Runs CudaBackend's top-k attention (fused kernels of cuda_topk_fused.cu, and the block-wise path
// of cuda_attention_topk.cu with a host GEMM standing in for cuBLAS), emulated on the host,
// against CpuBackend on random inputs: out, idx, probs, lse, dq, dk, dv; with NaN / inf in q, k and v
// too (data kind 3: NaN ranks highest, +inf kept, a key scored -inf can be picked), where every
// NaN / inf must sit where the CPU's does.
// The options of issue 15 (window, attn_mask, bias, ALiBi, relative bias, GQA, packed sequences,
// dropout, the lse output) against the loop reference and its finite differences:
// ../attention_options_cases.h (--options: those only). The block-wise path's key range narrowed
// by key padding and attn_mask (narrow_cases: the scored columns counted in the fake GEMM).
// usage: test_topk [filter substring] [--quick] [--blockwise] [--options]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>

#include "backends/cpu/cpu_backend.h"
#include "backends/cuda/attention_kernels.h"
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/topk_fused_kernels.h"
#include "core/dtype.h"
#include "tests/cuda_emu/attention_options_cases.h"

using namespace memgrad;

namespace {
cpu::CpuBackend CPU;
}

// ---- fakes of what the GPU build links ----
extern "C" {  // host memory stands for device memory (block_key_spans copies its list and spans)
cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind) {
  std::memcpy(dst, src, n);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t) {
  std::memset(p, v, n);
  return cudaSuccess;
}
}
int64_t scored_cols = 0;  // columns of the score products Q K^T (attn_gemm with op(B) transposed)
namespace memgrad::cuda {
void check_cuda(cudaError_t e, const char*, const char*) {
  if (e) throw RuntimeError("cuda");
}
void check_launch(const char*) {}
Tensor contiguous_copy(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  CPU.copy(x, out);
  return out;
}
// attn_input, head_layout, head_operand: backends/cuda/attention_layout.cpp, linked as it is
// cuBLAS stand-in: row-major C = alpha op(A) op(B) + beta C per (b, h), accumulating in T.
template <class T>
void attn_gemm(const char*, bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const GemmOperand& a,
               const GemmOperand& b, double beta, const GemmOperand& c, int64_t B, int64_t H) {
  if (tb) scored_cols += n;
  for (int64_t bb = 0; bb < B; ++bb)
    for (int64_t h = 0; h < H; ++h) {
      const T* A = static_cast<const T*>(a.p) + bb * a.sb + h * a.sh;
      const T* Bm = static_cast<const T*>(b.p) + bb * b.sb + h * b.sh;
      T* C = const_cast<T*>(static_cast<const T*>(c.p)) + bb * c.sb + h * c.sh;
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          T s = 0;
          for (int64_t l = 0; l < k; ++l) s += (ta ? A[l * a.ld + i] : A[i * a.ld + l]) * (tb ? Bm[j * b.ld + l] : Bm[l * b.ld + j]);
          T r = static_cast<T>(alpha) * s;
          if (beta != 0) r += static_cast<T>(beta) * C[i * c.ld + j];
          C[i * c.ld + j] = r;
        }
    }
}
template void attn_gemm<float>(const char*, bool, bool, int64_t, int64_t, int64_t, double, const GemmOperand&,
                               const GemmOperand&, double, const GemmOperand&, int64_t, int64_t);
template void attn_gemm<double>(const char*, bool, bool, int64_t, int64_t, int64_t, double, const GemmOperand&,
                                const GemmOperand&, double, const GemmOperand&, int64_t, int64_t);

#define STUB(...) __VA_ARGS__ { throw 1; }
STUB(void CudaBackend::fill(Tensor&, double))
STUB(void CudaBackend::arange(Tensor&, double, double))
STUB(void CudaBackend::random(Tensor&, RandomKind, double, double, uint64_t, uint64_t))
STUB(void CudaBackend::copy(const Tensor&, Tensor&))
STUB(void CudaBackend::copy_across(const Tensor&, Tensor&))
STUB(void CudaBackend::unary(UnaryOp, const Tensor&, Tensor&, double))
STUB(void CudaBackend::unary_backward(UnaryOp, const Tensor&, const Tensor&, const Tensor&, Tensor&, double))
STUB(void CudaBackend::binary(BinaryOp, const Tensor&, const Tensor&, Tensor&))
STUB(void CudaBackend::where(const Tensor&, const Tensor&, const Tensor&, Tensor&))
STUB(bool CudaBackend::all_finite(const Tensor&))
STUB(void CudaBackend::reduce(ReduceOp, const Tensor&, const std::vector<int64_t>&, Tensor&))
STUB(void CudaBackend::arg_reduce(ReduceOp, const Tensor&, int64_t, Tensor&, Tensor&))
STUB(void CudaBackend::matmul(const Tensor&, const Tensor&, Tensor&))
STUB(void CudaBackend::softmax(const Tensor&, Tensor&, bool))
STUB(void CudaBackend::softmax_backward(const Tensor&, const Tensor&, Tensor&, bool))
STUB(void CudaBackend::layer_norm(const Tensor&, const Tensor&, const Tensor&, double, Tensor&, Tensor&, Tensor&))
STUB(void CudaBackend::layer_norm_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, Tensor&, Tensor&, Tensor&))
STUB(void CudaBackend::index_select(const Tensor&, int64_t, const Tensor&, Tensor&))
STUB(void CudaBackend::index_add(Tensor&, int64_t, const Tensor&, const Tensor&))
STUB(void CudaBackend::gather(const Tensor&, int64_t, const Tensor&, Tensor&))
STUB(void CudaBackend::scatter_add(Tensor&, int64_t, const Tensor&, const Tensor&))
STUB(void CudaBackend::cross_entropy(const Tensor&, const Tensor&, int64_t, double, Tensor&, Tensor&))
STUB(void CudaBackend::cross_entropy_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, int64_t, double, Tensor&))
STUB(void CudaBackend::attention_chunked_forward(const Tensor&, const Tensor&, const Tensor&, const AttentionMods&, const AttentionParams&, Tensor&, Tensor&))
STUB(void CudaBackend::attention_chunked_backward(const Tensor&, const Tensor&, const Tensor&, const AttentionMods&, const Tensor&, const Tensor&, const Tensor&, const AttentionParams&, Tensor&, Tensor&, Tensor&, AttentionModGrads&))
STUB(void CudaBackend::row_topk(Tensor&, const Tensor&, Tensor&, Tensor&))
STUB(void CudaBackend::gather_rows_sum(const Tensor&, const Tensor&, const Tensor&, Tensor&))
STUB(void CudaBackend::gather_rows_dot(const Tensor&, const Tensor&, const Tensor&, Tensor&))
STUB(void CudaBackend::scatter_rows_add(Tensor&, const Tensor&, const Tensor&, const Tensor&))
STUB(void CudaBackend::sgd_step(Tensor&, const Tensor&, Tensor&, double, double, double, double, bool, bool))
STUB(void CudaBackend::adam_step(Tensor&, const Tensor&, Tensor&, Tensor&, double, double, double, double, double, bool, int64_t))
}  // namespace memgrad::cuda


namespace {
cuda::CudaBackend GPU;
std::mt19937_64 rng(12345);
int cases = 0, passed = 0, near_tie_cases = 0;

double gauss() { return std::normal_distribution<double>(0, 1)(rng); }

// data: 0 gaussian, 1 quantized to multiples of 0.5 in [-2, 2] (many exact ties), 2 gaussian with
// duplicated key rows (exact ties between different keys), 3 gaussian with NaN / inf (set_specials).
Tensor make(const Shape& s, DType dt, int data, bool view) {
  // view: a [B, N, H, D] buffer seen as [B, H, N, D] (unit last stride, permuted rows)
  Shape bs = view ? Shape{s[0], s[2], s[1], s[3]} : s;
  Tensor base = empty(bs, dt);
  dispatch_float(dt, "make", [&]<class T>() {
    T* p = base.data<T>();
    for (int64_t i = 0; i < base.numel(); ++i) {
      double x = gauss();
      if (data == 1) x = std::max(-2.0, std::min(2.0, std::round(x * 2) / 2));
      p[i] = static_cast<T>(x);
    }
  });
  if (!view) return base;
  const Strides& st = base.strides();
  return alias(base, s, {st[0], st[2], st[1], st[3]}, 0);
}

// Copies key row j_src over j_dst in every (b, h) of k (a possibly strided [B, H, N, D] tensor).
void dup_rows(Tensor& k, int64_t j_src, int64_t j_dst) {
  const Shape& s = k.shape();
  const Strides& st = k.strides();
  dispatch_float(k.dtype(), "dup", [&]<class T>() {
    T* p = k.data<T>();
    for (int64_t b = 0; b < s[0]; ++b)
      for (int64_t h = 0; h < s[1]; ++h)
        for (int64_t d = 0; d < s[3]; ++d)
          p[b * st[0] + h * st[1] + j_dst * st[2] + d * st[3]] = p[b * st[0] + h * st[1] + j_src * st[2] + d * st[3]];
  });
}

// Element (b, h, n, d) of a [B, H, N, D] view set to x.
void set_at(Tensor& t, int64_t b, int64_t h, int64_t n, int64_t d, double x) {
  const Strides& st = t.strides();
  dispatch_float(t.dtype(), "set", [&]<class T>() { t.data<T>()[b * st[0] + h * st[1] + n * st[2] + d * st[3]] = T(x); });
}
// NaN / inf in a few places: a query row of NaN (all its scores NaN), keys with a NaN, +inf and
// -inf element (scores NaN, and +-inf by the query's sign), a value with NaN and one with +inf.
void set_specials(Tensor& q, Tensor& k, Tensor& v) {
  const int64_t Nq = q.shape()[2], Nk = k.shape()[2];
  set_at(q, 0, 1, Nq / 2, 0, NAN);
  set_at(k, 1, 0, Nk / 3, 0, NAN);
  if (Nk > 2) set_at(k, 0, 0, Nk - 1, 0, INFINITY), set_at(k, 1, 1, 1, 0, -INFINITY);
  set_at(v, 0, 1, Nk / 2, 1, NAN);
  set_at(v, 1, 0, 0, 0, INFINITY);
}

Tensor garbage(const Shape& s, DType dt) {
  Tensor t = empty(s, dt);
  std::memset(t.raw_data(), 0xFF, t.nbytes());  // NaN / -1: unwritten entries show
  return t;
}
Tensor zeros_of(const Shape& s, DType dt) {
  Tensor t = empty(s, dt);
  std::memset(t.raw_data(), 0, t.nbytes());
  return t;
}

// Max over elements of |g - c| / (rtol |c| + atol), atol relative to the tensor's max |c|.
std::string compare(const Tensor& g, const Tensor& c, double rtol, const char* what) {
  if (g.shape() != c.shape()) return std::string(what) + ": shape";
  std::string err;
  dispatch_all(c.dtype(), "cmp", [&]<class T>() {
    auto a = g.to_vector<T>(), b = c.to_vector<T>();
    double mx = 0;
    for (auto x : b)
      if (std::isfinite(double(x))) mx = std::max(mx, std::fabs(double(x)));
    const double atol = rtol * std::max(mx, 1e-3);
    for (size_t i = 0; i < a.size(); ++i) {
      const double x = double(a[i]), y = double(b[i]);
      const bool special = !std::isfinite(x) || !std::isfinite(y);  // NaN, +inf, -inf: the same on both
      const bool ok = std::is_integral_v<T> ? x == y
                      : special             ? (x == y || (std::isnan(x) && std::isnan(y)))
                                            : std::fabs(x - y) <= rtol * std::fabs(y) + atol;
      if (!ok) {
        char buf[200];
        std::snprintf(buf, sizeof buf, "%s[%zu]: gpu %.9g cpu %.9g", what, i, x, y);
        err = buf;
        return;
      }
    }
  });
  return err;
}

struct Cfg {
  int64_t Nq, Nk, top_k;
  bool causal;
  int mask;  // 0 none, 1 random + batch 1 fully masked, 2 random
  int data;
  DType dt;
  bool fused, view, clamp;
  int64_t D = 16, Dv = 24;
  bool top_left = false;  // causal aligned top-left (PyTorch's is_causal) instead of bottom-right
};

std::string name(const Cfg& c) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "%s Nq=%ld Nk=%ld k=%ld%s D=%ld Dv=%ld %s mask=%d data=%d %s%s", c.fused ? "fused" : "blockwise",
                c.Nq, c.Nk, c.top_k, c.clamp ? "" : "(unclamped)", c.D, c.Dv, c.causal ? (c.top_left ? "causal-top-left" : "causal") : "full", c.mask,
                c.data, to_string(c.dt).c_str(), c.view ? " view" : "");
  return buf;
}

bool run(const Cfg& c) {
  const int64_t B = 2, H = 2, kk = c.clamp ? std::min(c.top_k, c.Nk) : c.top_k;
  const double rtol = c.dt == DType::float32 ? 1e-5 : 1e-10;
  Tensor q = make({B, H, c.Nq, c.D}, c.dt, c.data, c.view), k = make({B, H, c.Nk, c.D}, c.dt, c.data, c.view),
         v = make({B, H, c.Nk, c.Dv}, c.dt, 0, c.view);
  if (c.data == 2 && c.Nk > 1)  // duplicate keys: a few pairs, including far apart (different tiles)
    for (int r = 0; r < std::max<int64_t>(1, c.Nk / 4); ++r) dup_rows(k, rng() % c.Nk, rng() % c.Nk);
  if (c.data == 3 && c.D > 0) set_specials(q, k, v);
  Tensor valid;
  if (c.mask) {
    valid = empty({B, c.Nk}, DType::boolean);
    bool* vb = valid.data<bool>();
    for (int64_t i = 0; i < B * c.Nk; ++i) vb[i] = (rng() % 10) < 7;
    if (c.mask == 1)
      for (int64_t j = 0; j < c.Nk; ++j) vb[c.Nk + j] = false;
  }
  AttentionParams p;
  p.scale = c.data == 1 ? 0.25 : 1 / std::sqrt(double(std::max<int64_t>(c.D, 1)));
  p.causal = c.causal;
  p.causal_align = c.top_left ? CausalAlign::top_left : CausalAlign::bottom_right;
  p.top_k = c.top_k;
  p.q_chunk = 7;  // several query blocks on the block-wise path
  p.fused = c.fused;
  Tensor og = garbage({B, H, c.Nq, c.Dv}, c.dt), ig = garbage({B, H, c.Nq, kk}, DType::int32),
         pg = garbage({B, H, c.Nq, kk}, c.dt);
  Tensor oc = garbage({B, H, c.Nq, c.Dv}, c.dt), ic = garbage({B, H, c.Nq, kk}, DType::int32),
         pc = garbage({B, H, c.Nq, kk}, c.dt);
  const AttentionMods mods{.key_valid = valid};
  Tensor lg = garbage({B, H, c.Nq}, c.dt), lc = garbage({B, H, c.Nq}, c.dt);  // the lse output
  GPU.attention_topk_forward(q, k, v, mods, p, og, ig, pg, lg);
  CPU.attention_topk_forward(q, k, v, mods, p, oc, ic, pc, lc);
  // Rows whose picks differ must be near-ties of the CPU's rounded scores (a duplicated key row
  // or float32 sums in another order): they are left out of the out/probs comparison.
  std::string err;
  const int64_t rows = B * H * c.Nq;
  std::vector<int32_t> Ig = ig.to_vector<int32_t>(), Ic = ic.to_vector<int32_t>();
  std::vector<int64_t> tie_rows;
  for (int64_t r = 0; r < rows && err.empty(); ++r) {
    bool same = true;
    for (int64_t t = 0; t < kk; ++t) same &= Ig[r * kk + t] == Ic[r * kk + t];
    if (same) continue;
    if (c.data == 1) {  // exact scores: no excuse
      err = "idx differ in row " + std::to_string(r);
      break;
    }
    // the score of each key in one set and not the other, in double
    const int64_t bh = r / c.Nq, i = r % c.Nq, b = bh / H, h = bh % H;
    auto score = [&](int64_t j) {
      double acc = 0;
      dispatch_float(c.dt, "s", [&]<class T>() {
        for (int64_t d = 0; d < c.D; ++d)
          acc += double(q.data<T>()[b * q.strides()[0] + h * q.strides()[1] + i * q.strides()[2] + d]) *
                 double(k.data<T>()[b * k.strides()[0] + h * k.strides()[1] + j * k.strides()[2] + d]);
      });
      return acc * p.scale;
    };
    double lo_in = 1e300, hi_out = -1e300;  // the least picked by one side vs the best it left out
    bool special = false;  // a key scored NaN or inf differs: never a rounding near-tie
    std::vector<int32_t> a(Ig.begin() + r * kk, Ig.begin() + (r + 1) * kk), bb(Ic.begin() + r * kk, Ic.begin() + (r + 1) * kk);
    auto note = [&](int32_t j) {
      const double sj = score(j);
      special |= !std::isfinite(sj);
      lo_in = std::min(lo_in, sj), hi_out = std::max(hi_out, sj);
    };
    for (int32_t j : a) if (j >= 0 && std::find(bb.begin(), bb.end(), j) == bb.end()) note(j);
    for (int32_t j : bb) if (j >= 0 && std::find(a.begin(), a.end(), j) == a.end()) note(j);
    const double tol = (c.dt == DType::float32 ? 1e-5 : 1e-12) * std::max(1.0, std::fabs(hi_out));
    if (special || !(hi_out - lo_in <= tol)) {
      char buf[200];
      std::snprintf(buf, sizeof buf, "idx differ in row %ld beyond a near-tie (scores %.9g .. %.9g)", r, lo_in, hi_out);
      err = buf;
    }
    tie_rows.push_back(r);
  }
  auto drop_rows = [&](Tensor t, int64_t w) {  // zero the tie rows
    dispatch_float(c.dt, "z", [&]<class T>() { for (int64_t r : tie_rows) std::fill(t.data<T>() + r * w, t.data<T>() + (r + 1) * w, T(0)); });
  };
  if (!tie_rows.empty())
    drop_rows(pg, kk), drop_rows(pc, kk), drop_rows(og, c.Dv), drop_rows(oc, c.Dv), drop_rows(lg, 1), drop_rows(lc, 1),
        ++near_tie_cases;
  if (err.empty()) err = compare(pg, pc, rtol, "probs");
  if (err.empty()) err = compare(lg, lc, rtol, "lse");
  if (err.empty()) err = compare(og, oc, rtol, "out");
  if (err.empty()) {
    // backward from the CPU's picks on both
    Tensor go = make({B, H, c.Nq, c.Dv}, c.dt, 0, false);
    Tensor dqg = zeros_of(q.shape(), c.dt), dkg = zeros_of(k.shape(), c.dt), dvg = zeros_of(v.shape(), c.dt);
    Tensor dqc = zeros_of(q.shape(), c.dt), dkc = zeros_of(k.shape(), c.dt), dvc = zeros_of(v.shape(), c.dt);
    AttentionModGrads mg;
    GPU.attention_topk_backward(q, k, v, mods, ic, pc, go, p, dqg, dkg, dvg, mg);
    CPU.attention_topk_backward(q, k, v, mods, ic, pc, go, p, dqc, dkc, dvc, mg);
    err = compare(dqg, dqc, rtol, "dq");
    if (err.empty()) err = compare(dkg, dkc, rtol, "dk");
    if (err.empty()) err = compare(dvg, dvc, rtol, "dv");
  }
  ++cases;
  if (err.empty()) ++passed;
  else std::printf("FAIL %s: %s\n", name(c).c_str(), err.c_str());
  return err.empty();
}

// ---- the block-wise path's key range under key padding and attn_mask (scored_blocks) ----

// B = H = 2, Nq 12, Nk 40, k 3, quantised data (exact scores: picks must agree exactly), block-wise:
// GPU against CPU (forward and backward), and the key columns the forward scored against the first
// .. last key that some (b, h) and row sees (stated here, independently of the kernels; q_chunk 7
// and these sizes make one query block of all 12 rows). The case must narrow the band.
bool narrow_case(const char* what, bool causal, const Tensor& valid, const Tensor& mask) {
  const int64_t B = 2, H = 2, Nq = 12, Nk = 40, kk = 3, D = 16, Dv = 24;
  const DType dt = DType::float32;
  Tensor q = make({B, H, Nq, D}, dt, 1, false), k = make({B, H, Nk, D}, dt, 1, true);
  Tensor v = make({B, H, Nk, Dv}, dt, 0, false);
  AttentionParams p;
  p.scale = 0.25, p.causal = causal, p.top_k = kk, p.q_chunk = 7, p.fused = false;
  const AttentionMods mods{.key_valid = valid, .mask = mask};
  auto seen = [&](int64_t b, int64_t h, int64_t i, int64_t j) {
    if (causal && j > i + Nk - Nq) return false;
    if (valid.defined() && !valid.data<bool>()[b * Nk + j]) return false;
    return !mask.defined() || mask.data<bool>()[(mask.shape()[0] == 1 ? 0 : b) * mask.strides()[0] +
                                                (mask.shape()[1] == 1 ? 0 : h) * mask.strides()[1] +
                                                i * mask.strides()[2] + j];
  };
  int64_t first = Nk, last = -1;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Nq; ++i)
        for (int64_t j = 0; j < Nk; ++j)
          if (seen(b, h, i, j)) first = std::min(first, j), last = std::max(last, j);
  const int64_t want = std::max<int64_t>(0, last - first + 1);
  Tensor og = garbage({B, H, Nq, Dv}, dt), ig = garbage({B, H, Nq, kk}, DType::int32), pg = garbage({B, H, Nq, kk}, dt),
         lg = garbage({B, H, Nq}, dt);
  Tensor oc = garbage({B, H, Nq, Dv}, dt), ic = garbage({B, H, Nq, kk}, DType::int32), pc = garbage({B, H, Nq, kk}, dt),
         lc = garbage({B, H, Nq}, dt);
  const int64_t cols0 = scored_cols;
  GPU.attention_topk_forward(q, k, v, mods, p, og, ig, pg, lg);
  const int64_t cols = scored_cols - cols0;
  CPU.attention_topk_forward(q, k, v, mods, p, oc, ic, pc, lc);
  std::string err = compare(ig, ic, 0, "idx");
  if (err.empty()) err = compare(pg, pc, 1e-5, "probs");
  if (err.empty()) err = compare(lg, lc, 1e-5, "lse");
  if (err.empty()) err = compare(og, oc, 1e-5, "out");
  if (err.empty()) {
    Tensor go = make({B, H, Nq, Dv}, dt, 0, false);
    Tensor dqg = zeros_of(q.shape(), dt), dkg = zeros_of(k.shape(), dt), dvg = zeros_of(v.shape(), dt);
    Tensor dqc = zeros_of(q.shape(), dt), dkc = zeros_of(k.shape(), dt), dvc = zeros_of(v.shape(), dt);
    AttentionModGrads mg;
    GPU.attention_topk_backward(q, k, v, mods, ic, pc, go, p, dqg, dkg, dvg, mg);
    CPU.attention_topk_backward(q, k, v, mods, ic, pc, go, p, dqc, dkc, dvc, mg);
    err = compare(dqg, dqc, 1e-5, "dq");
    if (err.empty()) err = compare(dkg, dkc, 1e-5, "dk");
    if (err.empty()) err = compare(dvg, dvc, 1e-5, "dv");
  }
  if (err.empty() && (cols != want || want >= Nk))
    err = "scored " + std::to_string(cols) + " key columns, want " + std::to_string(want) + " of " + std::to_string(Nk);
  ++cases;
  if (err.empty()) ++passed;
  std::printf("narrow: %-58s %s (%ld of %ld keys scored)\n", what, err.empty() ? "ok" : ("FAILED: " + err).c_str(),
              (long)cols, (long)Nk);
  return err.empty();
}

Tensor bools(const Shape& s, const std::function<bool(int64_t, int64_t, int64_t, int64_t)>& f) {  // [B, Nk] or 4-d
  Tensor t = empty(s, DType::boolean);
  const int64_t n1 = s.size() == 4 ? s[1] : 1, n2 = s.size() == 4 ? s[2] : 1, n3 = s.back();
  for (int64_t e = 0; e < t.numel(); ++e)
    t.data<bool>()[e] = f(e / (n3 * n2 * n1), (e / (n3 * n2)) % n1, (e / n3) % n2, e % n3);
  return t;
}

void narrow_cases() {
  auto coin = [](int one_in) { return rng() % one_in != 0; };
  narrow_case("padding: keys 0-9 and 30-39 except 35 in batch 1", false,
              bools({2, 40}, [&](int64_t b, int64_t, int64_t, int64_t j) {
                return (j >= 10 && j < 30 && coin(4)) || (b == 1 && j == 35);
              }),
              Tensor());
  narrow_case("causal, mask [1,H]: head 0 keys 5-20, head 1 keys 12-25", true, Tensor(),
              bools({1, 2, 12, 40}, [&](int64_t, int64_t h, int64_t, int64_t j) {
                return (h == 0 ? j >= 5 && j <= 20 : j >= 12 && j <= 25) && coin(3);
              }));
  narrow_case("padding 0-3, mask [B,1]: batch 1 row 11 alone sees key 38", false,
              bools({2, 40}, [&](int64_t, int64_t, int64_t, int64_t j) { return j >= 4; }),
              bools({2, 1, 12, 40}, [&](int64_t b, int64_t, int64_t i, int64_t j) {
                return j < 30 ? coin(2) : b == 1 && i == 11 && j == 38;
              }));
}

}  // namespace

int main(int argc, char** argv) {
  std::string filter;
  bool quick = false, blockwise = false, options_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") quick = true;
    else if (a == "--blockwise") blockwise = true;
    else if (a == "--options") options_only = true;
    else filter = a;
  }
  // the option cases (../attention_options_cases.h), topk kind, fused and block-wise
  optcases::Tally tally;
  std::mt19937_64 orng(99);
  for (const optcases::Case& c : optcases::cases(true)) {
    if (!filter.empty() && c.name.find(filter) == std::string::npos) continue;
    const bool ok = optcases::check(tally, GPU, c, orng);
    ++cases, passed += ok;
    std::printf("options: %-50s %s\n", c.name.c_str(), ok ? "ok" : "FAILED");
  }
  std::printf("options: %d tensor comparisons, %d failed; worst relative error %.3g in %s\n", tally.checks,
              tally.failures, tally.worst, tally.worst_what.c_str());
  if (options_only) return tally.failures ? 1 : 0;
  if (filter.empty() || std::string("narrow").find(filter) != std::string::npos) narrow_cases();
  const int64_t Ns[] = {1, 7, 33, 100, 300};
  const int64_t Ks[] = {1, 5, 64, 256};
  int i = 0;
  for (int64_t Nq : Ns)
    for (int64_t Nk : Ns)
      for (int64_t top_k : Ks)
        for (int causal = 0; causal < 2; ++causal) {
          // a rotating mix of masks, data kinds, dtypes and layouts per shape
          const int r = i++;
          if (quick && (Nq * Nk > 100 * 100)) continue;
          Cfg c{Nq, Nk, top_k, bool(causal), r % 3, (r / 3) % 3, (r % 4 == 3) ? DType::float64 : DType::float32,
                !blockwise, r % 5 == 1, r % 7 != 5};
          if (!filter.empty() && name(c).find(filter) == std::string::npos) continue;
          run(c);
          if (!quick && Nq * Nk <= 100 * 100) {  // small shapes: every data kind and mask too
            for (int data = 0; data < 3; ++data)
              for (int mask = 0; mask < 3; ++mask) {
                if (data == c.data && mask == c.mask) continue;
                Cfg c2 = c;
                c2.data = data, c2.mask = mask;
                run(c2);
              }
          }
        }
  // NaN / inf in q, k, v (data kind 3), in --quick runs too
  for (auto [Nq, Nk] : {std::pair<int64_t, int64_t>{7, 33}, {33, 100}})
    for (int64_t top_k : {1, 5, 64, 256})
      for (int causal = 0; causal < 2; ++causal)
        for (int mask = 0; mask < 3; ++mask) {
          const int r = i++;
          Cfg c{Nq, Nk, top_k, bool(causal), mask, 3, (r % 4 == 3) ? DType::float64 : DType::float32, !blockwise,
                r % 2 == 1, true};
          if (!filter.empty() && name(c).find(filter) == std::string::npos) continue;
          run(c);
        }
  // causal aligned top-left, where it differs from bottom-right (Nq != Nk)
  for (auto [Nq, Nk] : {std::pair<int64_t, int64_t>{7, 33}, {33, 7}, {100, 300}, {300, 100}})
    for (int64_t top_k : {1, 5, 64, 256}) {
      const int r = i++;
      Cfg c{Nq, Nk, top_k, true, r % 3, r % 3, (r % 4 == 3) ? DType::float64 : DType::float32, !blockwise, r % 2 == 1,
            true};
      c.top_left = true;
      if (!filter.empty() && name(c).find(filter) == std::string::npos) continue;
      run(c);
    }
  // odd head sizes: D, Dv not multiples of 32 and larger than a warp; D = 0
  for (int64_t D : {0, 1, 45, 70})
    for (int64_t top_k : {3, 64, 256}) {
      Cfg c{33, 70, top_k, D % 2 == 1, 1, D == 45 ? 1 : 2, D == 70 ? DType::float64 : DType::float32, !blockwise, D == 45, true, D, 37};
      if (!filter.empty() && name(c).find(filter) == std::string::npos) continue;
      run(c);
    }
  std::printf("%d cases, %d passed (%d with rows whose picks differ at CPU-rounded near-ties), %d failed\n", cases,
              passed, near_tie_cases, cases - passed);
  return passed == cases ? 0 : 1;
}
