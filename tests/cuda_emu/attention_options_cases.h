#pragma once
// The attention options of issue 15 (window, attn_mask, bias, ALiBi, T5 relative bias, GQA, packed
// sequences, dropout, the lse output) through a Backend's chunked and topk kernels, checked against
// the loop reference tests/attention_options_ref.h: outputs against attnref::attention; gradients
// (dq, dk, dv, dbias, drel_table) against central finite differences of that reference in float64
// (the emulator programs link no autograd); lse against s_ij - log p_ij, p_ij from the reference
// with one-hot values. float64 runs are checked tightly, float32 runs to rounding. Shared by
// test_attention_chunked.cpp and topk_fiber/test_topk.cpp.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backends/attention_mods.h"
#include "backends/attention_scores.h"
#include "backends/backend.h"
#include "core/dtype.h"
#include "core/tensor.h"
#include "tests/attention_options_ref.h"

namespace optcases {
using namespace memgrad;
using Vec = std::vector<double>;

struct Case {
  std::string name;
  int64_t B = 2, H = 2, Hkv = 2, Nq = 7, Nk = 9, D = 5, Dv = 3;
  bool causal = false, top_left = false;
  int64_t wl = -1, wr = -1;   // window
  int key_pad = 0;            // 1: random key padding; 2: also batch 0 all padding
  int mask = 0;               // attn_mask: 0 none, 1 [B,1,Nq,Nk], 2 [1,H,Nq,Nk], 3 [B,H,Nq,Nk]
  int bias = 0;               // bias, same shapes as mask; with a gradient
  bool alibi = false, relative = false;
  std::vector<int64_t> cu_q, cu_k;  // packed sequences (B = 1)
  double dropout = 0;
  int64_t top_k = 0;                // topk kind: keys kept (0: the chunked kind)
  int64_t q_chunk = 4, k_chunk = 3;
  // >= 0: k and v of this key hold NaN in every head on the kernels' side (a key no query sees: the
  // reference keeps 0 there). The kernels then take their products over visible pairs only, and a
  // masked pair must carry nothing (autograd/attention.h).
  int64_t nan_key = -1;
  bool nan_query = false;  // q of batch 0, query 2 holds NaN (with key_pad = 2 it sees no key)
};

// The inputs of a case: master float64 values, and the reference's options.
struct Inputs {
  Vec q, k, v, go, bias, table;
  std::vector<char> key_valid, mask;  // [B, Nk], mask in its broadcast shape
  Shape mask_shape, bias_shape;
  Vec alibi;
  int64_t buckets = 6, max_dist = 5;
  DropoutRule drop;
};

inline Shape broadcast_shape(const Case& c, int kind) {
  return {kind == 2 ? 1 : c.B, kind == 1 ? 1 : c.H, c.Nq, c.Nk};
}
inline int64_t bcast_index(const Shape& s, int64_t b, int64_t h, int64_t i, int64_t j) {
  return ((std::min(b, s[0] - 1) * s[1] + std::min(h, s[1] - 1)) * s[2] + i) * s[3] + j;
}

inline Inputs make_inputs(const Case& c, std::mt19937_64& rng) {
  Inputs in;
  std::normal_distribution<double> nd(0, 1);
  auto fill = [&](int64_t n, double sd) {
    Vec x(n);
    for (double& e : x) e = sd * nd(rng);
    return x;
  };
  in.q = fill(c.B * c.H * c.Nq * c.D, 1);
  in.k = fill(c.B * c.Hkv * c.Nk * c.D, 1);
  in.v = fill(c.B * c.Hkv * c.Nk * c.Dv, 1);
  in.go = fill(c.B * c.H * c.Nq * c.Dv, 1);
  if (c.key_pad) {
    in.key_valid.resize(c.B * c.Nk);
    for (auto& e : in.key_valid) e = rng() % 4 != 0;
    if (c.key_pad == 2)
      for (int64_t j = 0; j < c.Nk; ++j) in.key_valid[j] = 0;
    if (c.nan_key >= 0)  // padding in every batch: hidden inside a block the kernels compute
      for (int64_t b = 0; b < c.B; ++b) in.key_valid[b * c.Nk + c.nan_key] = 0;
  }
  if (c.mask) {
    in.mask_shape = broadcast_shape(c, c.mask);
    in.mask.resize(memgrad::numel(in.mask_shape));
    for (auto& e : in.mask) e = rng() % 5 != 0;
  }
  if (c.bias) {
    in.bias_shape = broadcast_shape(c, c.bias);
    in.bias = fill(memgrad::numel(in.bias_shape), 0.7);
  }
  if (c.alibi)
    for (int64_t h = 0; h < c.H; ++h) in.alibi.push_back(0.3 * alibi_default_slope(h, c.H) + 0.05 * (h % 3));
  if (c.relative) in.table = fill(c.H * in.buckets, 0.8);
  if (c.dropout > 0) in.drop = make_dropout_rule(c.dropout, 0x1234567890abcdefull + rng() % 1000, 17 + rng() % 100);
  return in;
}

inline double scale_of(const Case& c) { return 1.3 / std::sqrt(static_cast<double>(c.D)); }

// The reference's options for a case (its own statement of each rule).
inline attnref::Options ref_options(const Case& c, const Inputs& in) {
  attnref::Options o;
  o.B = c.B, o.H = c.H, o.Hkv = c.Hkv, o.Nq = c.Nq, o.Nk = c.Nk, o.D = c.D, o.Dv = c.Dv;
  o.scale = scale_of(c);
  o.causal = c.causal, o.top_left = c.top_left, o.window_left = c.wl, o.window_right = c.wr;
  if (c.key_pad || c.mask)
    o.allowed = [&c, &in](int64_t b, int64_t h, int64_t i, int64_t j) {
      if (c.key_pad && !in.key_valid[b * c.Nk + j]) return false;
      return !c.mask || in.mask[bcast_index(in.mask_shape, b, h, i, j)] != 0;
    };
  if (c.bias) o.bias = [&in](int64_t b, int64_t h, int64_t i, int64_t j) { return in.bias[bcast_index(in.bias_shape, b, h, i, j)]; };
  o.alibi = in.alibi;
  o.table = in.table;
  if (c.relative) o.buckets = in.buckets, o.max_distance = in.max_dist;
  o.cu_q = c.cu_q, o.cu_k = c.cu_k;
  o.dropout = in.drop;
  o.top_k = c.top_k;
  return o;
}

template <class T>
Tensor tensor_of(const Vec& x, const Shape& s) {
  Tensor t = empty(s, std::is_same_v<T, float> ? DType::float32 : DType::float64);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<T>()[i] = static_cast<T>(x[i]);
  return t;
}
inline Vec vec_of(const Tensor& t) {
  Vec x(t.numel());
  dispatch_float(t.dtype(), "vec_of", [&]<class T>() {
    for (int64_t i = 0; i < t.numel(); ++i) x[i] = static_cast<double>(t.data<T>()[i]);
  });
  return x;
}
inline Tensor zeros(const Shape& s, DType dt) {
  Tensor t = empty(s, dt);
  std::memset(t.raw_data(), 0, t.nbytes());
  return t;
}

// The kernels' view of a case in dtype T.
template <class T>
struct Call {
  Tensor q, k, v, go;
  AttentionMods mods;
  AttentionParams p;
};

template <class T>
Call<T> make_call(const Case& c, const Inputs& in) {
  Call<T> k;
  k.q = tensor_of<T>(in.q, {c.B, c.H, c.Nq, c.D});
  k.k = tensor_of<T>(in.k, {c.B, c.Hkv, c.Nk, c.D});
  k.v = tensor_of<T>(in.v, {c.B, c.Hkv, c.Nk, c.Dv});
  k.go = tensor_of<T>(in.go, {c.B, c.H, c.Nq, c.Dv});
  if (c.key_pad) {
    k.mods.key_valid = empty({c.B, c.Nk}, DType::boolean);
    for (int64_t i = 0; i < c.B * c.Nk; ++i) k.mods.key_valid.template data<bool>()[i] = in.key_valid[i] != 0;
  }
  if (c.mask) {
    k.mods.mask = empty(in.mask_shape, DType::boolean);
    for (int64_t i = 0; i < k.mods.mask.numel(); ++i) k.mods.mask.template data<bool>()[i] = in.mask[i] != 0;
  }
  if (c.bias) k.mods.bias = tensor_of<T>(in.bias, in.bias_shape);
  if (c.alibi) k.mods.alibi_slopes = tensor_of<T>(in.alibi, {c.H});
  if (c.relative) {
    k.mods.rel_table = tensor_of<T>(in.table, {c.H, in.buckets});
    k.mods.rel_max_distance = in.max_dist;
    k.mods.rel_bucket = empty({2 * in.max_dist + 1}, DType::int32);
    for (int64_t r = -in.max_dist; r <= in.max_dist; ++r)
      k.mods.rel_bucket.template data<int32_t>()[r + in.max_dist] = t5_relative_bucket(r, in.buckets, in.max_dist, !c.causal);
  }
  if (!c.cu_q.empty()) {
    k.mods.cu_seqlens_q = empty({static_cast<int64_t>(c.cu_q.size())}, DType::int64);
    k.mods.cu_seqlens_k = empty({static_cast<int64_t>(c.cu_k.size())}, DType::int64);
    std::copy(c.cu_q.begin(), c.cu_q.end(), k.mods.cu_seqlens_q.template data<int64_t>());
    std::copy(c.cu_k.begin(), c.cu_k.end(), k.mods.cu_seqlens_k.template data<int64_t>());
  }
  k.p.scale = scale_of(c);
  k.p.causal = c.causal;
  k.p.causal_align = c.top_left ? CausalAlign::top_left : CausalAlign::bottom_right;
  k.p.window_left = c.wl, k.p.window_right = c.wr;
  k.p.q_chunk = c.q_chunk, k.p.k_chunk = c.k_chunk;
  k.p.top_k = c.top_k;
  k.p.dropout = in.drop;
  return k;
}

struct Result {
  Vec out, lse, dq, dk, dv, dbias, drel;
};

// Forward (with lse) and backward of the case's kind on backend `be`.
template <class T>
Result run(Backend& be, const Case& c, const Inputs& in, bool fused) {
  Call<T> k = make_call<T>(c, in);
  k.p.fused = fused;
  const DType dt = k.q.dtype();
  Tensor out = tensor_of<T>(Vec(c.B * c.H * c.Nq * c.Dv, 7.0), {c.B, c.H, c.Nq, c.Dv});  // garbage to overwrite
  Tensor lse = tensor_of<T>(Vec(c.B * c.H * c.Nq, 7.0), {c.B, c.H, c.Nq});
  Tensor dq = zeros({c.B, c.H, c.Nq, c.D}, dt), dk = zeros({c.B, c.Hkv, c.Nk, c.D}, dt),
         dv = zeros({c.B, c.Hkv, c.Nk, c.Dv}, dt);
  AttentionModGrads g;
  if (c.bias) g.dbias = zeros(in.bias_shape, dt);
  if (c.relative) g.drel_table = zeros({c.H, in.buckets}, dt);
  if (c.top_k > 0) {
    const int64_t kk = std::min(c.top_k, c.Nk);
    Tensor idx = empty({c.B, c.H, c.Nq, kk}, DType::int32), probs = zeros({c.B, c.H, c.Nq, kk}, dt);
    be.attention_topk_forward(k.q, k.k, k.v, k.mods, k.p, out, idx, probs, lse);
    be.attention_topk_backward(k.q, k.k, k.v, k.mods, idx, probs, k.go, k.p, dq, dk, dv, g);
  } else {
    be.attention_chunked_forward(k.q, k.k, k.v, k.mods, k.p, out, lse);
    be.attention_chunked_backward(k.q, k.k, k.v, k.mods, out, lse, k.go, k.p, dq, dk, dv, g);
  }
  Result r{vec_of(out), vec_of(lse), vec_of(dq), vec_of(dk), vec_of(dv), {}, {}};
  if (c.bias) r.dbias = vec_of(g.dbias);
  if (c.relative) r.drel = vec_of(g.drel_table);
  return r;
}

// sum(out * go) of the reference.
inline double ref_loss(const Case& c, Inputs& in) {
  const Vec out = attnref::attention(in.q, in.k, in.v, ref_options(c, in));
  double s = 0;
  for (size_t i = 0; i < out.size(); ++i) s += out[i] * in.go[i];
  return s;
}

// The reference: out, lse and every gradient (central differences of ref_loss).
inline Result reference(const Case& c, Inputs in) {
  Result r;
  r.out = attnref::attention(in.q, in.k, in.v, ref_options(c, in));
  auto fd = [&](Vec& x) {
    Vec g(x.size());
    const double h = 1e-6;
    for (size_t i = 0; i < x.size(); ++i) {
      const double x0 = x[i];
      x[i] = x0 + h;
      const double lp = ref_loss(c, in);
      x[i] = x0 - h;
      const double lm = ref_loss(c, in);
      x[i] = x0;
      g[i] = (lp - lm) / (2 * h);
    }
    return g;
  };
  r.dq = fd(in.q);
  r.dk = fd(in.k);
  r.dv = fd(in.v);
  if (c.bias) r.dbias = fd(in.bias);
  if (c.relative) r.drel = fd(in.table);
  // lse: p_ij from the reference with one-hot values (v_j = e_j, no dropout); lse_i = s_ij - log p_ij
  // at the most probable key, s_ij = scale q.k + terms (the rule headers' ScoreMods::term).
  Inputs oh = in;
  oh.drop = DropoutRule{};
  Case c1 = c;
  c1.Dv = c.Nk;
  oh.v.assign(c.B * c.Hkv * c.Nk * c.Nk, 0.0);
  for (int64_t bk = 0; bk < c.B * c.Hkv; ++bk)
    for (int64_t j = 0; j < c.Nk; ++j) oh.v[(bk * c.Nk + j) * c.Nk + j] = 1;
  const Vec P = attnref::attention(oh.q, oh.k, oh.v, ref_options(c1, oh));  // [B, H, Nq, Nk]
  Call<double> k = make_call<double>(c, in);
  const ScoreMods<double> sm = score_mods<double>(k.mods, c.Nk);
  const int64_t G = c.H / c.Hkv;
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t h = 0; h < c.H; ++h)
      for (int64_t i = 0; i < c.Nq; ++i) {
        const double* pr = &P[((b * c.H + h) * c.Nq + i) * c.Nk];
        const int64_t j = std::max_element(pr, pr + c.Nk) - pr;
        if (!(pr[j] > 0)) {
          r.lse.push_back(INFINITY);
          continue;
        }
        Segment sg{0, c.Nq, 0, c.Nk};
        for (size_t s = 0; s + 1 < c.cu_q.size(); ++s)
          if (i >= c.cu_q[s] && i < c.cu_q[s + 1]) sg = packed_segment(c.cu_q.data(), c.cu_k.data(), s);
        const Visibility vis = k.p.visibility(sg.nq, sg.nk);
        double s = 0;
        for (int64_t d = 0; d < c.D; ++d)
          s += in.q[((b * c.H + h) * c.Nq + i) * c.D + d] * in.k[((b * c.Hkv + h / G) * c.Nk + j) * c.D + d];
        s = s * scale_of(c) + sm.term(b, h, i, j, (j - sg.k0) - (i - sg.q0 + vis.offset()));
        r.lse.push_back(s - std::log(pr[j]));
      }
  return r;
}

struct Tally {
  int checks = 0, failures = 0;
  double worst = 0;
  std::string worst_what;
};

// max |got - want| / max(max |want|, 1) over finite entries; infinities must agree exactly.
inline void compare(Tally& t, const Vec& got, const Vec& want, const std::string& what, double tol) {
  ++t.checks;
  double mx = 0, err = got.size() == want.size() ? 0 : INFINITY;
  bool special_ok = true;
  for (size_t i = 0; i < want.size() && i < got.size(); ++i) {
    if (!std::isfinite(want[i]) || !std::isfinite(got[i])) {
      special_ok = special_ok && (got[i] == want[i] || (std::isnan(got[i]) && std::isnan(want[i])));
      continue;
    }
    mx = std::max(mx, std::fabs(want[i]));
    err = std::max(err, std::fabs(got[i] - want[i]));
  }
  const double rel = err / std::max(mx, 1.0);
  if (rel > t.worst) t.worst = rel, t.worst_what = what;
  if (!special_ok || !(rel <= tol)) {
    ++t.failures;
    std::printf("FAIL %s: rel err %.3g (max |ref| %.3g) special %s\n", what.c_str(), rel, mx,
                special_ok ? "ok" : "MISMATCH");
  }
}

// One case on backend `be` in float64 (tight) and float32 (rounding), with fused on, and in float64
// with fused off too unless `unfused` is false (a program whose fused kernels cannot take the case:
// the two runs would take the same path). Returns whether it passed.
inline bool check(Tally& t, Backend& be, const Case& c, std::mt19937_64& rng, bool float32 = true,
                  bool unfused = true) {
  const int f0 = t.failures;
  const Inputs in = make_inputs(c, rng);
  const Result ref = reference(c, in);
  Inputs kin = in;  // the kernels' inputs
  if (c.nan_key >= 0)
    for (int64_t bk = 0; bk < c.B * c.Hkv; ++bk) {
      kin.k[(bk * c.Nk + c.nan_key) * c.D] = NAN;
      kin.v[(bk * c.Nk + c.nan_key) * c.Dv + c.Dv - 1] = NAN;
    }
  if (c.nan_query) kin.q[2 * c.D] = NAN;
  auto cmp = [&](const Result& got, const std::string& tag, double tol, double gtol) {
    compare(t, got.out, ref.out, c.name + tag + " out", tol);
    compare(t, got.lse, ref.lse, c.name + tag + " lse", tol);
    compare(t, got.dq, ref.dq, c.name + tag + " dq", gtol);
    compare(t, got.dk, ref.dk, c.name + tag + " dk", gtol);
    compare(t, got.dv, ref.dv, c.name + tag + " dv", gtol);
    if (c.bias) compare(t, got.dbias, ref.dbias, c.name + tag + " dbias", gtol);
    if (c.relative) compare(t, got.drel, ref.drel, c.name + tag + " drel_table", gtol);
  };
  for (bool fused : {true, false}) {
    if (!fused && !unfused) continue;
    // float64: the finite differences' own error is ~1e-9
    cmp(run<double>(be, c, kin, fused), fused ? " f64 fused" : " f64 blockwise", 1e-12, 1e-7);
    if (float32 && fused) cmp(run<float>(be, c, kin, fused), " f32", 2e-5, 1e-4);
  }
  return t.failures == f0;
}

// The option cases: each option alone and in combinations, odd sizes, Nq != Nk.
inline std::vector<Case> cases(bool topk) {
  std::vector<Case> v;
  auto add = [&](Case c) {
    if (topk && c.top_k == 0) c.top_k = 4;
    v.push_back(c);
  };
  Case c;
  c.name = "window 2,1";                  c.wl = 2, c.wr = 1;                          add(c);
  c = {}; c.name = "window 3,-1 causal top-left Nq>Nk"; c.Nq = 11, c.Nk = 6, c.wl = 3, c.causal = true, c.top_left = true; add(c);
  c = {}; c.name = "window -1,0 bottom-right Nq<Nk";    c.Nq = 5, c.Nk = 12, c.wr = 0, c.wl = -1;  add(c);
  // key blocks before the band (first_key of the first row) and after it (last_key of the last) skipped
  c = {}; c.name = "window 2,0 bottom-right Nq<Nk skips"; c.Nq = 5, c.Nk = 12, c.wl = 2, c.wr = 0;  add(c);
  c = {}; c.name = "causal top-left Nq<Nk skips";       c.Nq = 7, c.Nk = 13, c.causal = true, c.top_left = true; add(c);
  c = {}; c.name = "attn_mask [B,1] + key padding";     c.mask = 1, c.key_pad = 2, c.Nq = 6;       add(c);
  c = {}; c.name = "attn_mask [1,H] causal";            c.mask = 2, c.causal = true, c.Nq = 10;    add(c);
  c = {}; c.name = "bias [B,H]";                        c.bias = 3, c.Nk = 10;                     add(c);
  c = {}; c.name = "bias [1,H] + mask [B,H]";           c.bias = 1, c.mask = 3;                    add(c);
  c = {}; c.name = "bias [B,1] causal window";          c.bias = 2, c.causal = true, c.wl = 3;     add(c);
  c = {}; c.name = "alibi";                             c.alibi = true, c.H = 3, c.Hkv = 3;        add(c);
  c = {}; c.name = "alibi causal Nq>Nk";                c.alibi = true, c.causal = true, c.Nq = 9, c.Nk = 6; add(c);
  c = {}; c.name = "relative bidirectional";            c.relative = true, c.Nq = 8, c.Nk = 13;   add(c);
  c = {}; c.name = "relative causal";                   c.relative = true, c.causal = true, c.Nq = 12, c.Nk = 12; add(c);
  c = {}; c.name = "gqa H4 Hkv2";                       c.H = 4, c.Hkv = 2;                        add(c);
  c = {}; c.name = "mqa H3 Hkv1 causal mask";           c.H = 3, c.Hkv = 1, c.causal = true, c.key_pad = 1; add(c);
  c = {}; c.name = "varlen";                            c.B = 1, c.Nq = 13, c.Nk = 11, c.cu_q = {0, 4, 4, 11, 13}, c.cu_k = {0, 5, 7, 7, 11}; add(c);
  c = {}; c.name = "varlen causal window relative";     c.B = 1, c.Nq = 12, c.Nk = 12, c.cu_q = {0, 5, 12}, c.cu_k = {0, 5, 12};
          c.causal = true, c.wl = 2, c.relative = true;                                           add(c);
  c = {}; c.name = "varlen alibi bias gqa";             c.B = 1, c.H = 4, c.Hkv = 2, c.Nq = 9, c.Nk = 14, c.cu_q = {0, 3, 9}, c.cu_k = {0, 8, 14};
          c.alibi = true, c.bias = 3;                                                             add(c);
  c = {}; c.name = "dropout 0.3";                       c.dropout = 0.3;                           add(c);
  c = {}; c.name = "dropout 0.5 causal gqa bias";       c.dropout = 0.5, c.causal = true, c.H = 4, c.Hkv = 2, c.bias = 1; add(c);
  c = {}; c.name = "everything";                        c.B = 1, c.H = 4, c.Hkv = 2, c.Nq = 10, c.Nk = 11, c.cu_q = {0, 6, 10}, c.cu_k = {0, 4, 11};
          c.causal = true, c.top_left = true, c.wl = 3, c.mask = 3, c.bias = 2, c.alibi = true, c.relative = true, c.dropout = 0.25; add(c);
  // shapes the fused kernels take (float32, D = Dv = 32): window and GQA there, the first key tile skipped
  c = {}; c.name = "flash window 3,0 gqa, a key tile skipped"; c.B = 1, c.H = 4, c.Hkv = 2, c.Nq = 9, c.Nk = 80, c.D = 32, c.Dv = 32;
          c.wl = 3, c.wr = 0, c.key_pad = 1;                                                      add(c);
  c = {}; c.name = "flash causal top-left window 4 mqa Nq>Nk"; c.B = 1, c.H = 2, c.Hkv = 1, c.Nq = 70, c.Nk = 9, c.D = 32, c.Dv = 32;
          c.causal = true, c.top_left = true, c.wl = 4;                                           add(c);
  // NaN in keys no query sees: products over visible pairs only
  c = {}; c.name = "NaN hidden by the window, gqa";     c.Nq = 5, c.Nk = 12, c.wl = 2, c.wr = 0, c.H = 4, c.Hkv = 2, c.nan_key = 1; add(c);
  c = {}; c.name = "NaN in a padded key, gqa window alibi"; c.H = 4, c.Hkv = 2, c.key_pad = 1, c.nan_key = 4, c.wl = 4, c.alibi = true; add(c);
  c = {}; c.name = "NaN in a query that sees no key, gqa bias"; c.H = 4, c.Hkv = 2, c.key_pad = 2, c.nan_query = true, c.bias = 3; add(c);
  c = {}; c.name = "NaN in an unseen segment, dropout bias"; c.B = 1, c.Nq = 13, c.Nk = 11, c.cu_q = {0, 4, 4, 11, 13}, c.cu_k = {0, 5, 7, 7, 11};
          c.nan_key = 6, c.dropout = 0.2, c.bias = 3, c.relative = true;                           add(c);
  if (topk) {
    c = {}; c.name = "topk k >= Nk, window bias gqa";  c.top_k = 20, c.wl = 2, c.wr = 2, c.bias = 3, c.H = 4, c.Hkv = 2; add(c);
    c = {}; c.name = "topk k 1 relative dropout";      c.top_k = 1, c.relative = true, c.dropout = 0.3; add(c);
  }
  return v;
}

}  // namespace optcases
