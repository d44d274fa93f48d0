// Runs CudaBackend::attention_chunked_forward / _backward against CpuBackend on random inputs: the
// fused kernels (backends/cuda/cuda_flash_attention.*, every block of their grids) and, on a subset
// of cases, the block-wise path (cuda_attention_chunked.*, grid-stride kernels capped at 3 blocks,
// cuBLAS faked by a naive gemm). D 32/64/128, causal, key masks (one batch with no valid key),
// ragged tiles, strided q/k/v with NaN padding, empty sequences; and NaN / inf in q, k, v (the
// block-wise path's products over visible pairs only) and scores overflowing from finite inputs
// (the fused kernels' NaN rows), whose NaN / inf must sit where the CPU's do.
// The options of issue 15 (window, attn_mask, bias, ALiBi, relative bias, GQA, packed sequences,
// dropout) against the loop reference and its finite differences: attention_options_cases.h.
// Block skipping on the block-wise path: key blocks hidden for every (b, h) by key padding or
// attn_mask (and blocks only one batch item or head sees) against the CPU, with the blocks each
// pass ran counted through the emulator's launch counters.
// Built and run by tests/cuda_emu/run.sh; `test_attention_chunked one Nq Nk D causal mask layout
// [blockwise]` runs one case (B = H = 2), `test_attention_chunked special` the NaN / inf cases only,
// `test_attention_chunked skip` the block-skipping cases only, `test_attention_chunked options
// [name substring]` the option cases only.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/flash_attention_kernels.h"
#include "fake_cuda.h"
#include "tests/cuda_emu/attention_options_cases.h"

using namespace memgrad;

namespace {
cpu::CpuBackend CPU;
Backend& GPU = cuda::emu_backend();
std::mt19937_64 rng(7);
int failures = 0, checks = 0;
double worst = 0;
std::string worst_what;

Tensor filled(const Shape& s, double sd, float fill_nan_first = 0) {
  Tensor x = empty(s, DType::float32);
  std::normal_distribution<float> nd(0.f, static_cast<float>(sd));
  float* p = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = nd(rng);
  (void)fill_nan_first;
  return x;
}
Tensor zeros_f(const Shape& s) {
  Tensor x = empty(s, DType::float32);
  std::memset(x.data<float>(), 0, x.nbytes());
  return x;
}
// A [B, H, N, D] view with unusual strides (layout 0: contiguous, 1: [B, N, H, D+5] + offset 3,
// 2: [H, B, N, D+2]); padding is NaN so any read outside the view shows.
Tensor strided(int64_t B, int64_t H, int64_t N, int64_t D, int layout) {
  Tensor x;
  if (layout == 0) return filled({B, H, N, D}, 1.0);
  if (layout == 1) {
    const int64_t P = D + 5;
    Tensor base = filled({B * N * H * P + 3}, 1.0);
    float* p = base.data<float>();
    for (int64_t i = 0; i < base.numel(); ++i) if (i < 3 || (i - 3) % P >= D) p[i] = NAN;
    return alias(base, {B, H, N, D}, {N * H * P, P, H * P, 1}, 3);
  }
  const int64_t P = D + 2;
  Tensor base = filled({H * B * N * P}, 1.0);
  float* p = base.data<float>();
  for (int64_t i = 0; i < base.numel(); ++i) if (i % P >= D) p[i] = NAN;
  return alias(base, {B, H, N, D}, {N * P, B * N * P, P, 1}, 0);
}

// max |a - b| / max(max |b|, 1e-30) over finite entries; the special values (inf, exact 0 rows) must agree exactly.
void compare(const Tensor& got, const Tensor& want, const std::string& what, double tol) {
  ++checks;
  const float* a = got.data<float>();
  const float* b = want.data<float>();
  double mx = 0, err = 0;
  bool special_ok = true;
  for (int64_t i = 0; i < want.numel(); ++i) {
    if (std::isfinite(b[i])) mx = std::max(mx, (double)std::fabs(b[i]));
    if (!std::isfinite(b[i]) || !std::isfinite(a[i])) {
      if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) special_ok = false;
      continue;
    }
    if (b[i] == 0 && a[i] != 0 && std::fabs(a[i]) > 1e-30) {}  // covered by the relative error
    err = std::max(err, (double)std::fabs(a[i] - b[i]));
  }
  // relative to the tensor's largest entry, floored at 1 (the inputs are N(0, 1)): a gradient that is
  // 0 in exact arithmetic (Nk = 1: softmax of one key) holds only rounding noise on both sides
  const double rel = err / std::max(mx, 1.0);
  if (rel > worst) worst = rel, worst_what = what + " (max |ref| " + std::to_string(mx) + ")";
  if (!special_ok || rel > tol) {
    ++failures;
    std::printf("FAIL %s: rel err %.3g (max |ref| %.3g) special %s\n", what.c_str(), rel, mx, special_ok ? "ok" : "MISMATCH");
  }
}
// Exact agreement for rows that must be 0 / lse that must be +inf.
int count_inf(const Tensor& t) {
  int n = 0;
  const float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) n += std::isinf(p[i]);
  return n;
}

struct Result { Tensor out, lse, dq, dk, dv; };

Result run(Backend& be, const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMods& mods, const Tensor& go,
           const AttentionParams& p) {
  const int64_t B = q.shape()[0], H = q.shape()[1], Nq = q.shape()[2], D = q.shape()[3], Nk = k.shape()[2];
  Result r;
  r.out = filled({B, H, Nq, D}, 1.0);  // garbage: the kernel must overwrite every element
  r.lse = filled({B, H, Nq}, 1.0);
  be.attention_chunked_forward(q, k, v, mods, p, r.out, r.lse);
  r.dq = zeros_f({B, H, Nq, D});
  r.dk = zeros_f({B, H, Nk, D});
  r.dv = zeros_f({B, H, Nk, D});
  AttentionModGrads mg;
  be.attention_chunked_backward(q, k, v, mods, r.out, r.lse, go, p, r.dq, r.dk, r.dv, mg);
  return r;
}
Result run(Backend& be, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& kv, const Tensor& go,
           const AttentionParams& p) {
  return run(be, q, k, v, AttentionMods{.key_valid = kv}, go, p);
}

int cases = 0, cases_failed = 0;

void one(int64_t B, int64_t H, int64_t Nq, int64_t Nk, int64_t D, bool causal, int mask, int layout, bool blockwise,
         CausalAlign align = CausalAlign::bottom_right) {
  const int f0 = failures;
  Tensor q = strided(B, H, Nq, D, layout), k = strided(B, H, Nk, D, (layout + 1) % 3), v = strided(B, H, Nk, D, (layout + 2) % 3);
  Tensor kv;
  if (mask) {
    kv = empty({B, Nk}, DType::boolean);
    bool* m = kv.data<bool>();
    for (int64_t i = 0; i < B * Nk; ++i) m[i] = rng() % 4 != 0;
    if (mask == 2) for (int64_t j = 0; j < Nk; ++j) m[j] = false;  // batch 0: every key padding
  }
  Tensor go = filled({B, H, Nq, D}, 1.0);
  AttentionParams p;
  p.scale = 1.0 / std::sqrt((double)D) * 1.7;
  p.causal = causal;
  p.causal_align = align;
  p.q_chunk = 16, p.k_chunk = 24;
  p.fused = true;
  if (!cuda::flash_attention_supported(q, k, v)) { std::printf("unexpected: not supported\n"); ++failures; }
  const int64_t blocks0 = emu::blocks_run();
  const Result ref = run(CPU, q, k, v, kv, go, p);
  const auto t0 = std::chrono::steady_clock::now();
  const Result got = run(GPU, q, k, v, kv, go, p);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t fused_blocks = emu::blocks_run() - blocks0;
  char name[200];
  std::snprintf(name, sizeof name, "B%ld H%ld Nq%ld Nk%ld D%ld causal%d%s mask%d layout%d", (long)B, (long)H,
                (long)Nq, (long)Nk, (long)D, causal, align == CausalAlign::top_left ? " top-left" : "", mask, layout);
  const double tol = 1e-5;
  compare(got.out, ref.out, std::string(name) + " fused out", tol);
  compare(got.lse, ref.lse, std::string(name) + " fused lse", tol);
  compare(got.dq, ref.dq, std::string(name) + " fused dq", tol);
  compare(got.dk, ref.dk, std::string(name) + " fused dk", tol);
  compare(got.dv, ref.dv, std::string(name) + " fused dv", tol);
  const int n_inf = count_inf(ref.lse);
  if (blockwise) {
    p.fused = false;
    const Result bw = run(GPU, q, k, v, kv, go, p);
    compare(bw.out, got.out, std::string(name) + " blockwise vs fused out", tol);
    compare(bw.lse, got.lse, std::string(name) + " blockwise vs fused lse", tol);
    compare(bw.dq, got.dq, std::string(name) + " blockwise vs fused dq", tol);
    compare(bw.dk, got.dk, std::string(name) + " blockwise vs fused dk", tol);
    compare(bw.dv, got.dv, std::string(name) + " blockwise vs fused dv", tol);
  }
  ++cases;
  if (failures != f0) ++cases_failed;
  std::printf("%-60s %s  (%d rows with no key, %ld blocks, %.1fs)\n", name, failures == f0 ? "ok" : "FAILED", n_inf,
              (long)fused_blocks, secs);
  std::fflush(stdout);
}
// Inputs with NaN / inf (which: 0 NaN in a query row, 1 NaN in keys, 2 NaN in values, 3 +inf in a
// value, 4 finite inputs whose scores overflow to +inf): the fused path hands non-finite inputs to
// the block-wise one (products over visible pairs only); both must match the CPU element by element.
void one_special(int64_t Nq, int64_t Nk, int64_t D, bool causal, int mask, int which) {
  const int f0 = failures;
  const int64_t B = 2, H = 2;
  Tensor q = strided(B, H, Nq, D, 1), k = strided(B, H, Nk, D, 2), v = strided(B, H, Nk, D, 0);
  auto at = [](Tensor& t, int64_t b, int64_t h, int64_t n, int64_t d) -> float& {
    const Strides& st = t.strides();
    return t.data<float>()[b * st[0] + h * st[1] + n * st[2] + d];
  };
  switch (which) {
    case 0: at(q, 0, 1, 3, 2) = NAN, at(q, 1, 0, Nq - 1, 0) = NAN; break;
    case 1: at(k, 1, 0, 5, 1) = NAN, at(k, 0, 1, Nk - 1, 3) = NAN; break;  // key 5 is padding in some cases
    case 2: at(v, 1, 0, 5, 2) = NAN, at(v, 0, 1, Nk - 1, 0) = NAN, at(v, 1, 1, 0, 4) = NAN; break;
    case 3: at(v, 0, 0, 2, 1) = INFINITY; break;
    default:  // q row 3 . k row 7 = 1e40: +inf; the other rows hardly see the big key (well conditioned)
      for (int64_t i = 0; i < Nq; ++i) at(q, 0, 0, i, 0) = i == 3 ? 1e20f : 1e-30f;
      at(k, 0, 0, 7, 0) = 1e20f;
  }
  Tensor kv;
  if (mask) {
    kv = empty({B, Nk}, DType::boolean);
    bool* m = kv.data<bool>();
    for (int64_t i = 0; i < B * Nk; ++i) m[i] = rng() % 4 != 0;
    m[Nk + 5] = false;  // key 5 of batch 1: padding
    m[7] = true;        // key 7 of batch 0: visible (which 4: row 3's +inf score is not masked)
    if (mask == 2) for (int64_t j = 0; j < Nk; ++j) m[j] = false;  // batch 0: every key padding
  }
  Tensor go = filled({B, H, Nq, D}, 1.0);
  AttentionParams p;
  p.scale = 1.0 / std::sqrt((double)D);
  p.causal = causal;
  p.q_chunk = 16, p.k_chunk = 24;
  p.fused = true;
  const Result ref = run(CPU, q, k, v, kv, go, p);
  char name[200];
  std::snprintf(name, sizeof name, "special %d Nq%ld Nk%ld D%ld causal%d mask%d", which, (long)Nq, (long)Nk, (long)D,
                causal, mask);
  const double tol = 1e-5;
  for (bool fused : {true, false}) {
    p.fused = fused;
    const Result got = run(GPU, q, k, v, kv, go, p);
    const std::string n = std::string(name) + (fused ? " fused" : " blockwise");
    compare(got.out, ref.out, n + " out", tol);
    compare(got.lse, ref.lse, n + " lse", tol);
    compare(got.dq, ref.dq, n + " dq", tol);
    compare(got.dk, ref.dk, n + " dk", tol);
    compare(got.dv, ref.dv, n + " dv", tol);
  }
  ++cases;
  if (failures != f0) ++cases_failed;
  std::printf("%-60s %s\n", name, failures == f0 ? "ok" : "FAILED");
  std::fflush(stdout);
}

// ---- block skipping under key padding and attn_mask (the block-wise path) ----

// A case of skip(): key padding kv [B, Nk] and attn_mask [B|1, H|1, Nq, Nk] (either may be
// undefined), causal (bottom-right) or not, a window's left bound wl (< 0: none), packed sequences
// cu_q / cu_k (B = 1) or none.
struct SkipCase {
  std::string name;
  int64_t B = 2, H = 2, Nq = 20, Nk = 50;
  bool causal = false;
  int64_t wl = -1;
  Tensor kv, mask;
  std::vector<int64_t> cu_q, cu_k;
};

int64_t site_count(const char* kernel) {  // launches so far of the sites naming `kernel`
  int64_t n = 0;
  for (const auto& [site, count] : emu::site_launches())
    if (site.find(kernel) != std::string::npos) n += count;
  return n;
}

// The key chunks (k_chunk keys from each segment's first key) holding a pair that some (b, h) and
// query of the segment sees: with padding and attn_mask (masked = true) or the causal band only.
// Stated here independently of the kernels. The block-wise path makes one query block per segment
// for these small sizes (rows_per_block grows blocks to 2^22 score elements), so this is the
// number of blocks it must run in each pass.
int64_t chunks_seen(const SkipCase& c, int64_t Ck, bool masked) {
  std::vector<int64_t> cq = c.cu_q, ck = c.cu_k;
  if (cq.empty()) cq = {0, c.Nq}, ck = {0, c.Nk};
  const int64_t* ms = c.mask.defined() ? c.mask.strides().data() : nullptr;
  auto seen = [&](int64_t b, int64_t h, int64_t i, int64_t j) {
    if (!masked) return true;
    if (c.kv.defined() && !c.kv.data<bool>()[b * c.Nk + j]) return false;
    if (!c.mask.defined()) return true;
    const int64_t mb = c.mask.shape()[0] == 1 ? 0 : b, mh = c.mask.shape()[1] == 1 ? 0 : h;
    return c.mask.data<bool>()[mb * ms[0] + mh * ms[1] + i * ms[2] + j * ms[3]];
  };
  int64_t n = 0;
  for (size_t s = 0; s + 1 < cq.size(); ++s) {
    const int64_t q0 = cq[s], nq = cq[s + 1] - q0, k0 = ck[s], nk = ck[s + 1] - k0;
    for (int64_t j0 = 0; j0 < nk; j0 += Ck) {
      bool any = false;
      for (int64_t b = 0; b < c.B; ++b)
        for (int64_t h = 0; h < c.H; ++h)
          for (int64_t i = 0; i < nq; ++i)
            for (int64_t j = j0; j < std::min(j0 + Ck, nk); ++j)
              any = any || ((!c.causal || j <= i + nk - nq) && (c.wl < 0 || j >= i + nk - nq - c.wl) &&
                            seen(b, h, q0 + i, k0 + j));
      n += any && nq > 0;
    }
  }
  return n;
}

// The block-wise path against the CPU (forward and backward), and the number of blocks it ran in
// each pass (launches of the forward's update kernel and of the backward's probability kernel)
// against chunks_seen; the case must hide at least one chunk that the band alone would run.
void one_skip(const SkipCase& c) {
  const int f0 = failures;
  const int64_t D = 8;
  Tensor q = strided(c.B, c.H, c.Nq, D, 1), k = strided(c.B, c.H, c.Nk, D, 2), v = strided(c.B, c.H, c.Nk, D, 0);
  Tensor go = filled({c.B, c.H, c.Nq, D}, 1.0);
  AttentionMods mods{.key_valid = c.kv, .mask = c.mask};
  if (!c.cu_q.empty()) {
    mods.cu_seqlens_q = empty({static_cast<int64_t>(c.cu_q.size())}, DType::int64);
    mods.cu_seqlens_k = empty({static_cast<int64_t>(c.cu_k.size())}, DType::int64);
    std::copy(c.cu_q.begin(), c.cu_q.end(), mods.cu_seqlens_q.data<int64_t>());
    std::copy(c.cu_k.begin(), c.cu_k.end(), mods.cu_seqlens_k.data<int64_t>());
  }
  AttentionParams p;
  p.scale = 0.4;
  p.causal = c.causal;
  p.window_left = c.wl;
  p.q_chunk = 4, p.k_chunk = 8;
  p.fused = false;
  const Result ref = run(CPU, q, k, v, mods, go, p);
  const int64_t fwd0 = site_count("fwd_update_kernel"), bwd0 = site_count("bwd_probs_kernel");
  const int64_t spans0 = site_count("block_spans_kernel");
  const Result got = run(GPU, q, k, v, mods, go, p);
  const int64_t fwd = site_count("fwd_update_kernel") - fwd0, bwd = site_count("bwd_probs_kernel") - bwd0;
  const int64_t spans = site_count("block_spans_kernel") - spans0;
  const std::string name = "skip " + c.name;
  compare(got.out, ref.out, name + " out", 1e-5);
  compare(got.lse, ref.lse, name + " lse", 1e-5);
  compare(got.dq, ref.dq, name + " dq", 1e-5);
  compare(got.dk, ref.dk, name + " dk", 1e-5);
  compare(got.dv, ref.dv, name + " dv", 1e-5);
  const int64_t want = chunks_seen(c, p.k_chunk, true), band = chunks_seen(c, p.k_chunk, false);
  checks += 2;
  if (fwd != want || bwd != want || spans != 2 || want >= band) {
    ++failures;
    std::printf("FAIL %s: blocks run forward %ld, backward %ld, want %ld (band alone: %ld); span launches %ld, "
                "want 2\n", name.c_str(), (long)fwd, (long)bwd, (long)want, (long)band, (long)spans);
  }
  ++cases;
  if (failures != f0) ++cases_failed;
  std::printf("%-60s %s  (%ld of %ld blocks run)\n", name.c_str(), failures == f0 ? "ok" : "FAILED", (long)want,
              (long)band);
  std::fflush(stdout);
}

Tensor bool_tensor(const Shape& s, const std::function<bool(int64_t, int64_t, int64_t, int64_t)>& f) {
  Tensor t = empty(s, DType::boolean);
  bool* p = t.data<bool>();
  const int64_t n2 = s.size() == 4 ? s[2] : 1, n3 = s.back(), n1 = s.size() == 4 ? s[1] : 1;
  for (int64_t e = 0; e < t.numel(); ++e) {
    const int64_t x3 = e % n3, x2 = (e / n3) % n2, x1 = (e / (n3 * n2)) % n1, x0 = e / (n3 * n2 * n1);
    p[e] = f(x0, x1, x2, x3);
  }
  return t;
}

// Whole key blocks hidden by padding or attn_mask for every (b, h), and blocks that only one batch
// item or head sees (Nq 20, Nk 50, k_chunk 8: key chunks 0-7, 8-15, .., 40-47, 48-49).
void skip_cases() {
  auto coin = [](int one_in) { return rng() % one_in != 0; };
  SkipCase c;
  c.name = "padding: keys 16-39 and 48-49 everywhere, 40-47 in batch 0";
  c.kv = bool_tensor({2, 50}, [&](int64_t b, int64_t, int64_t, int64_t j) {
    return !(j >= 16 && j < 40) && j < 48 && !(b == 0 && j >= 40) && coin(4);
  });
  one_skip(c);
  c = {};
  c.name = "attn_mask [1,1] block-diagonal";  // rows 0-9: keys 0-7, rows 10-19: keys 16-23
  c.mask = bool_tensor({1, 1, 20, 50},
                       [&](int64_t, int64_t, int64_t i, int64_t j) { return j / 8 == 2 * (i / 10) && coin(5); });
  one_skip(c);
  c = {};
  c.name = "attn_mask [B,H] banded, key 49 seen by b1 h1 only";  // row i: keys 2i, 2i + 1
  c.mask = bool_tensor({2, 2, 20, 50}, [&](int64_t b, int64_t h, int64_t i, int64_t j) {
    return (j / 2 == i && coin(5)) || (b == 1 && h == 1 && i == 7 && j == 49);
  });
  one_skip(c);
  c = {};
  c.name = "causal + padding 0-7 + mask [B,1], key 30 seen in batch 1 only";
  c.causal = true;  // row i sees keys <= i + 30: key chunk 48-49 only rows 18, 19, which the mask hides
  c.kv = bool_tensor({2, 50}, [&](int64_t, int64_t, int64_t, int64_t j) { return j >= 8 && coin(4); });
  c.mask = bool_tensor({2, 1, 20, 50}, [&](int64_t b, int64_t, int64_t i, int64_t j) {
    if (j >= 48) return false;
    if (j >= 24 && j < 32) return b == 1 && i == 19 && j == 30;
    return coin(5);
  });
  c.kv.data<bool>()[50 + 30] = true;
  one_skip(c);
  c = {};
  c.name = "causal window 6 + mask [1,H]: keys seen by their band's first or last row only";
  c.causal = true, c.wl = 6;  // row i sees keys i + 24 .. i + 30: key j by rows j - 30 .. j - 24
  c.mask = bool_tensor({1, 2, 20, 50}, [&](int64_t, int64_t h, int64_t i, int64_t j) {
    if (j >= 48) return false;
    if (j >= 32 && j < 40) return h == 1 && i == 9 && j == 33;  // the last row that sees key 33
    if (j >= 40) return h == 0 && i == 10 && j == 40;            // the first row that sees key 40
    return coin(5);
  });
  one_skip(c);
  c = {};
  c.name = "packed: segment 0's keys all padding, keys 32-39 padding";  // rows 0-7 see no key
  c.B = 1, c.cu_q = {0, 8, 20}, c.cu_k = {0, 24, 50};
  c.kv = bool_tensor({1, 50}, [&](int64_t, int64_t, int64_t, int64_t j) { return j >= 24 && !(j >= 32 && j < 40) && coin(4); });
  one_skip(c);
}

// The option cases (attention_options_cases.h), chunked kind; name_filter: a substring.
void options(const std::string& name_filter) {
  optcases::Tally t;
  std::mt19937_64 orng(99);
  for (const optcases::Case& c : optcases::cases(false)) {
    if (c.name.find(name_filter) == std::string::npos) continue;
    const auto t0 = std::chrono::steady_clock::now();
    // fused off only where the fused kernels could take the shape (float32 runs, D = Dv in 32/64/128)
    const bool ok = optcases::check(t, GPU, c, orng, true, cuda::flash_head_dim_supported(c.D) && c.D == c.Dv);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++cases;
    if (!ok) ++cases_failed;
    std::printf("options: %-50s %s (%.1fs)\n", c.name.c_str(), ok ? "ok" : "FAILED", secs);
    std::fflush(stdout);
  }
  checks += t.checks, failures += t.failures;
  if (t.worst > worst) worst = t.worst, worst_what = t.worst_what;
}

}  // namespace

int main(int argc, char** argv) {
  // the block-wise path's kernels loop grid-stride; the fused kernels' grids must run whole
  emu::cap_grid(3, "cuda_attention_chunked.cu");
  const std::string mode = argc > 1 ? argv[1] : "all";
  if (mode == "one") {
    one(2, 2, std::atol(argv[2]), std::atol(argv[3]), std::atol(argv[4]), std::atoi(argv[5]), std::atoi(argv[6]),
        std::atoi(argv[7]), argc > 8 && std::atoi(argv[8]));
  } else if (mode == "all") {
    const int64_t pairs[][2] = {{1, 1}, {7, 33}, {33, 7}, {70, 129}, {129, 70}, {129, 129}, {1, 129}, {33, 33}, {128, 129}, {96, 129}};
    int c = 0;
    for (int64_t D : {32, 64, 128})
      for (auto& pr : pairs)
        for (int causal = 0; causal < 3; ++causal) {  // 2: causal aligned top-left (where Nq != Nk)
          if (causal == 2 && pr[0] == pr[1]) continue;
          const int mask = c % 3, layout = (c / 3) % 3;
          // the block-wise path (fake cuBLAS) on a subset: it is slow in the emulator
          one(2, 2, pr[0], pr[1], D, causal > 0, mask, layout, c % 4 == 0,
              causal == 2 ? CausalAlign::top_left : CausalAlign::bottom_right);
          ++c;
        }
    // empty sequences and other head counts
    one(2, 2, 5, 0, 64, false, 0, 1, true);
    one(2, 2, 0, 5, 64, true, 1, 1, true);
    one(1, 3, 200, 150, 128, true, 1, 2, false);
    one(3, 1, 65, 64, 32, false, 2, 1, false);
    // NaN / inf
    for (int which = 0; which < 5; ++which)
      for (int causal = 0; causal < 2; ++causal)
        for (int mask = 0; mask < 3; ++mask) one_special(33, 40, 32, causal, mask, which);
    skip_cases();
    options("");
  } else if (mode == "skip") {
    skip_cases();
  } else if (mode == "options") {
    options(argc > 2 ? argv[2] : "");
  } else if (mode == "special") {
    for (int which = 0; which < 5; ++which)
      for (int causal = 0; causal < 2; ++causal)
        for (int mask = 0; mask < 3; ++mask) one_special(33, 40, 32, causal, mask, which);
  }
  std::printf("%d cases, %d failed; %d tensor comparisons, %d failed; worst relative error %.3g in %s\n", cases,
              cases_failed, checks, failures, worst, worst_what.c_str());
  return failures ? 1 : 0;
}
