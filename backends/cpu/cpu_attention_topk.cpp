// Top-k attention on the CPU (Gupta et al. 2021): per query, the top_k largest scores among its
// visible keys, softmax over them, and O = sum_t p_t V[idx_t]. Scores are formed one query chunk
// at a time ([Cq, W] per thread, W the keys the chunk's rows may see: the whole row, or less with
// causal masking, a sliding window or packed sequences, so time is O(N * W)); only indices and
// probabilities are kept for backward.
//
// Every option of autograd/attention.h: the visibility rule and packed sequences
// (backends/attention_visibility.h) bound each query's key interval; key padding, attn_mask and
// the additive terms (bias, ALiBi, the T5 table) come from ScoreMods<T> (backends/attention_scores.h),
// and the selection ranks the modified scores; grouped-query heads read key/value head h / G in
// place; dropout (DropoutRule) scales the kept probabilities after the softmax and is regenerated
// in backward from idx, so probs and lse are before dropout.
//
// NaN / inf (the contract in autograd/attention.h): the selection ranks NaN above +inf above every
// other score (torch.topk), ties to the earlier key, and takes visible keys only (a visible key
// scored -inf can be taken; a masked one never is); the softmax over the picks propagates NaN and
// +inf, and picks all scored -inf get probability 0. Keys not picked carry nothing.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/attention_mods.h"
#include "backends/cpu/attention_common.h"
#include "backends/cpu/blas.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/parallel.h"
#include "backends/cpu/row_ops.h"
#include "backends/cpu/topk_select.h"
#include "backends/scalar_math.h"

namespace memgrad::cpu {
namespace {

// Segment-local query rows i0 .. i0 + nq - 1 of one packed sequence (the whole row without packing).
struct QueryChunk {
  Segment sg;
  int64_t i0 = 0, nq = 0;
};

// The query chunks of every segment, at most Cq rows each; segments without queries give none.
std::vector<QueryChunk> query_chunks(const std::vector<Segment>& segs, int64_t Cq) {
  std::vector<QueryChunk> out;
  for (const Segment& sg : segs)
    for (int64_t i0 = 0; i0 < sg.nq; i0 += Cq) out.push_back({sg, i0, std::min(Cq, sg.nq - i0)});
  return out;
}

// The factor dropout puts on probability (bh, i, j): keep_scale where kept, 0 where dropped, 1 when off.
template <class T>
T dropout_factor(const DropoutRule& r, int64_t bh, int64_t i, int64_t j) {
  if (!r.on) return T(1);
  return r.keep(bh, i, j) ? static_cast<T>(r.keep_scale) : T(0);
}

// Applies the per-pair rules to the scores s[0, n) of query iq (whole-row index; il in its segment
// sg, whose rule is vis) against the segment's keys fk .. fk + n - 1: visible pairs get the
// additive terms, pairs hidden by key padding or attn_mask score -inf. Returns what select_top
// takes as the visible keys: null when padding and attn_mask hide none of them, else an array of
// n flags (ok, or key_valid read in place).
template <class T>
const bool* apply_pair_rules(const ScoreMods<T>& sm, int64_t b, int64_t h, int64_t iq, int64_t il, const Segment& sg,
                             const Visibility& vis, int64_t fk, int64_t n, T* s, bool* ok) {
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  if (!sm.any_pair_mask() && !sm.any_term()) return nullptr;
  if (!sm.mask && !sm.any_term()) {  // key padding only: the old fast path, key_valid read in place
    const bool* vb = sm.key_valid + b * sm.Nk + sg.k0 + fk;
    for (int64_t c = 0; c < n; ++c) s[c] = vb[c] ? s[c] : kNegInf;
    return vb;
  }
  const int64_t diag = il + vis.offset();  // rel = jl - diag, segment-local
  for (int64_t c = 0; c < n; ++c) {
    const int64_t jl = fk + c, j = sg.k0 + jl;
    ok[c] = sm.allowed(b, h, iq, j);
    s[c] = ok[c] ? s[c] + sm.term(b, h, iq, j, jl - diag) : kNegInf;
  }
  return sm.any_pair_mask() ? ok : nullptr;
}

// dbias [Bb, Hb, Nqb, Nkb] (contiguous, size-1 dims broadcast) += dS at the kept pairs. One task per
// row of dbias, which loops over the (b, h, i) rows broadcast into it: no two tasks write the same
// element, and the sum order is fixed. ds, idx [B, H, Nq, kk].
template <class T>
void accumulate_dbias(const T* ds, const int32_t* idx, Tensor& dbias, int64_t B, int64_t H, int64_t Nq, int64_t kk) {
  const int64_t Bb = dbias.shape()[0], Hb = dbias.shape()[1], Nqb = dbias.shape()[2], Nkb = dbias.shape()[3];
  const int64_t rows = Bb * Hb * Nqb;
  if (rows == 0 || Nkb == 0) return;
  const int64_t per_row = (B / Bb) * (H / Hb) * (Nq / Nqb) * kk;
  parallel_for(rows, per_row, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t rb = r / (Hb * Nqb), rh = (r / Nqb) % Hb, ri = r % Nqb;
      T* out = dbias.data<T>() + r * Nkb;
      for (int64_t b = Bb == 1 ? 0 : rb; b < (Bb == 1 ? B : rb + 1); ++b)
        for (int64_t h = Hb == 1 ? 0 : rh; h < (Hb == 1 ? H : rh + 1); ++h)
          for (int64_t i = Nqb == 1 ? 0 : ri; i < (Nqb == 1 ? Nq : ri + 1); ++i) {
            const int64_t row = ((b * H + h) * Nq + i) * kk;
            for (int64_t t = 0; t < kk && idx[row + t] >= 0; ++t) out[Nkb == 1 ? 0 : idx[row + t]] += ds[row + t];
          }
    }
  });
}

// drel_table [H, buckets] += dS at each kept pair's bucket. One task per query head (its table
// row): race-free, fixed order. ds, idx [B, H, Nq, kk]; the buckets come from ScoreMods.
template <class T>
void accumulate_drel_table(const T* ds, const int32_t* idx, Tensor& drel, const ScoreMods<T>& sm,
                           const std::vector<Segment>& segs, const AttentionParams& p, int64_t B, int64_t H,
                           int64_t Nq, int64_t kk) {
  const int64_t nb = drel.shape()[1];
  parallel_for(H, B * Nq * kk, [&](int64_t h0, int64_t h1) {
    for (int64_t h = h0; h < h1; ++h) {
      T* out = drel.data<T>() + h * nb;
      for (int64_t b = 0; b < B; ++b)
        for (const Segment& sg : segs) {
          const int64_t off = p.visibility(sg.nq, sg.nk).offset();
          for (int64_t il = 0; il < sg.nq; ++il) {
            const int64_t row = ((b * H + h) * Nq + sg.q0 + il) * kk;
            for (int64_t t = 0; t < kk && idx[row + t] >= 0; ++t)
              out[sm.bucket_index(idx[row + t] - sg.k0 - (il + off))] += ds[row + t];
          }
        }
    }
  });
}

// The first and last valid key of each batch row (key padding); the whole row when there is no
// padding, and first > last when every key is padding.
struct KeyRange {
  int64_t first, last;
};
std::vector<KeyRange> valid_key_ranges(const Tensor& key_valid, int64_t B, int64_t Nk) {
  std::vector<KeyRange> r(static_cast<size_t>(B), KeyRange{0, Nk - 1});
  if (!key_valid.defined()) return r;
  const bool* valid = key_valid.data<bool>();  // [B, Nk]
  for (int64_t b = 0; b < B; ++b) {
    const bool* vb = valid + b * Nk;
    int64_t first = 0, last = Nk - 1;
    while (first < Nk && !vb[first]) ++first;
    while (last >= first && !vb[last]) --last;
    r[static_cast<size_t>(b)] = KeyRange{first, last};
  }
  return r;
}

}  // namespace

void CpuBackend::attention_topk_forward(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in,
                                        const AttentionMods& mods, const AttentionParams& p, Tensor& out, Tensor& idx,
                                        Tensor& probs, Tensor& lse) {
  const Tensor q = attention_input(q_in), k = attention_input(k_in), v = attention_input(v_in);
  check_attention_supported(mods, p, q, k, kCpuTopkFeatures, "the CPU topk kernel", "attention_topk");
  check_openblas_core();
  const int64_t B = q.shape()[0], H = q.shape()[1], Nq = q.shape()[2], D = q.shape()[3];
  const int64_t Hkv = k.shape()[1], G = H / std::max<int64_t>(Hkv, 1);  // query heads per key/value head
  const int64_t Nk = k.shape()[2], Dv = v.shape()[3], kk = idx.shape()[3];
  // query rows per block: at most q_chunk, and at most ~1M scores per thread
  const int64_t Cq = std::clamp<int64_t>((int64_t{1} << 20) / std::max<int64_t>(Nk, 1), 1, p.q_chunk);
  const std::vector<QueryChunk> chunks = query_chunks(attention_segments(mods, Nq, Nk), Cq);
  const int64_t n_qc = static_cast<int64_t>(chunks.size());
  dispatch_float(q.dtype(), "attention_topk", [&]<class T>() {
    constexpr T kInf = std::numeric_limits<T>::infinity();
    const ScoreMods<T> sm = score_mods<T>(mods, Nk);
    // per thread: scores [Cq, Nk] and the softmax row [kk]; selection candidates [Nk] and picks
    // [kk]; with attn_mask or additive terms, the visible-key flags of a row [Nk]
    Tensor ws = thread_workspace(Cq * Nk + kk, q.dtype());
    Tensor sel_ws = thread_workspace(static_cast<int64_t>(Nk * sizeof(Scored<T>) + kk * 4), DType::boolean);
    Tensor ok_ws = sm.mask || sm.any_term() ? thread_workspace(Nk, DType::boolean) : Tensor();
    const std::vector<KeyRange> valid_keys = valid_key_ranges(mods.key_valid, B, Nk);  // padding: skipped whole
    parallel_for_dynamic(B * H * n_qc, int64_t{1} << 20, [&](int64_t t0, int64_t t1) {
      T* S = thread_slot<T>(ws);
      T* e = S + Cq * Nk;
      auto* cand = reinterpret_cast<Scored<T>*>(thread_slot<bool>(sel_ws));
      auto* pick = reinterpret_cast<int32_t*>(cand + Nk);
      bool* ok = ok_ws.defined() ? thread_slot<bool>(ok_ws) : nullptr;
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t bh = t / n_qc, b = bh / H, h = bh % H;
        const QueryChunk& qc = chunks[t % n_qc];
        const Segment& sg = qc.sg;
        const Visibility vis = p.visibility(sg.nq, sg.nk);
        // the chunk's keys: the union of its rows' intervals (both ends nondecrease with i), within
        // the batch row's first .. last valid key (keys outside are padding: never scored). Key
        // padding never comes with packed sequences (attention() refuses it), so where kr narrows
        // the keys the segment is the whole row and its indices are the row's.
        const KeyRange& kr = valid_keys[static_cast<size_t>(b)];
        const int64_t lo = std::max(vis.first_key(qc.i0), kr.first);
        const int64_t w = std::max<int64_t>(std::min(vis.last_key(qc.i0 + qc.nq - 1), kr.last) + 1 - lo, 0);
        const T* K = head<T>(k, b, h / G);  // [Nk, D]
        const T* V = head<T>(v, b, h / G);  // [Nk, Dv]
        // S = scale * Q K^T  [nq, w]: the chunk's queries against keys lo .. lo + w - 1 of the segment
        if (w > 0)
          gemm<T>(false, true, qc.nq, w, D, T(p.scale), head<T>(q, b, h) + (sg.q0 + qc.i0) * row_stride(q),
                  row_stride(q), K + (sg.k0 + lo) * row_stride(k), row_stride(k), T(0), S, w);
        for (int64_t r = 0; r < qc.nq; ++r) {
          const int64_t il = qc.i0 + r, iq = sg.q0 + il, fk = std::max(vis.first_key(il), kr.first);
          const int64_t n = std::max<int64_t>(std::min(vis.last_key(il), kr.last) + 1 - fk, 0);  // keys fk .. fk + n - 1
          T* s = S + r * w + (fk - lo);
          T* O = head<T>(out, b, h) + iq * row_stride(out);  // [Dv]: out in the input layout
          int32_t* I = idx.data<int32_t>() + (bh * Nq + iq) * kk;
          T* Pr = probs.data<T>() + (bh * Nq + iq) * kk;
          std::fill(O, O + Dv, T(0));
          std::fill(I, I + kk, -1);
          std::fill(Pr, Pr + kk, T(0));
          const bool* vb = apply_pair_rules(sm, b, h, iq, il, sg, vis, fk, n, s, ok);
          const int64_t sel = n > 0 ? select_top(s, vb, n, kk, cand, pick) : 0;
          if (sel == 0 && lse.defined()) lse.data<T>()[bh * Nq + iq] = kInf;
          if (sel == 0) continue;  // no visible key: output 0
          T m = -kInf;
          for (int64_t t2 = 0; t2 < sel; ++t2) e[t2] = s[pick[t2]], m = nan_max(m, e[t2]);
          // softmax over the picks: NaN or +inf make it NaN; all -inf make it 0 (softmax's rule)
          const T sum = m == -kInf ? T(0) : exp_sub_sum(e, m, e, sel);
          if (lse.defined()) lse.data<T>()[bh * Nq + iq] = sum == T(0) ? kInf : m + std::log(sum);
          for (int64_t t2 = 0; t2 < sel; ++t2) {
            const int32_t j = static_cast<int32_t>(sg.k0 + fk + pick[t2]);  // index into the whole row
            const T pt = sum == T(0) ? T(0) : e[t2] / sum;
            I[t2] = j;
            Pr[t2] = pt;
            const T pd = pt * dropout_factor<T>(p.dropout, bh, iq, j);  // after dropout
            const T* vr = V + j * row_stride(v);
            for (int64_t d = 0; d < Dv; ++d) O[d] += pd * vr[d];
          }
        }
      }
    });
  });
}

void CpuBackend::attention_topk_backward(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in,
                                         const AttentionMods& mods, const Tensor& idx, const Tensor& probs,
                                         const Tensor& grad_out_in, const AttentionParams& p, Tensor& dq, Tensor& dk,
                                         Tensor& dv, AttentionModGrads& g) {
  const Tensor q = attention_input(q_in), k = attention_input(k_in), v = attention_input(v_in);
  check_attention_supported(mods, p, q, k, kCpuTopkFeatures, "the CPU topk kernel", "attention_topk_backward");
  const int64_t B = q.shape()[0], H = q.shape()[1], Nq = q.shape()[2], D = q.shape()[3];
  const int64_t Hkv = k.shape()[1], G = H / std::max<int64_t>(Hkv, 1);  // query heads per key/value head
  const int64_t Nk = k.shape()[2], Dv = v.shape()[3], kk = idx.shape()[3];
  const Tensor grad_out = attention_input(grad_out_in);  // [B, H, Nq, Dv], read in place
  const bool want_ds = g.dbias.defined() || g.drel_table.defined();
  dispatch_float(q.dtype(), "attention_topk_backward", [&]<class T>() {
    // dS of every kept pair [B, H, Nq, kk], for the bias and table gradients (O(N k), as probs)
    Tensor ds_all = want_ds ? empty({B, H, Nq, kk}, q.dtype()) : Tensor();
    Tensor ws = thread_workspace(2 * kk, q.dtype());
    const T scale = static_cast<T>(p.scale);
    const int32_t* idx_all = idx.data<int32_t>();
    // One task per (b, key/value head): it owns that head's dK and dV rows, which the scatter-adds
    // touch, and the dQ rows of the query heads sharing it, which it loops over.
    parallel_for_dynamic(B * Hkv, G * Nq * kk * (D + Dv), [&](int64_t t0, int64_t t1) {
      T* dp = thread_slot<T>(ws);
      T* f = dp + kk;
      for (int64_t bk = t0; bk < t1; ++bk) {
        const int64_t b = bk / Hkv, hk = bk % Hkv;
        const T* K = head<T>(k, b, hk);  // [Nk, D]
        const T* V = head<T>(v, b, hk);  // [Nk, Dv]
        T* dK = dk.data<T>() + bk * Nk * D;
        T* dV = dv.data<T>() + bk * Nk * Dv;
        for (int64_t h = hk * G; h < (hk + 1) * G; ++h) {
          const int64_t bh = b * H + h;
          const T* Q = head<T>(q, b, h);  // [Nq, D]
          for (int64_t i = 0; i < Nq; ++i) {
            const int32_t* I = idx_all + (bh * Nq + i) * kk;
            const T* Pr = probs.data<T>() + (bh * Nq + i) * kk;
            const T* dO = head<T>(grad_out, b, h) + i * row_stride(grad_out);
            const T* Qi = Q + i * row_stride(q);
            T* dQi = dq.data<T>() + (bh * Nq + i) * D;
            T* dS = want_ds ? ds_all.data<T>() + (bh * Nq + i) * kk : nullptr;
            // f_t: the dropout factor; dp_t = dO . V[idx_t]; delta = sum_u p_u f_u dp_u (= dO . O);
            // ds_t = p_t (f_t dp_t - delta). The picks fill the front slots, -1 after them.
            int64_t sel = 0;
            T delta = 0;
            for (; sel < kk && I[sel] >= 0; ++sel) {
              f[sel] = dropout_factor<T>(p.dropout, bh, i, I[sel]);
              dp[sel] = row_dot(dO, V + I[sel] * row_stride(v), Dv);
              delta += Pr[sel] * f[sel] * dp[sel];
            }
            for (int64_t t = 0; t < sel; ++t) {
              const T ds = Pr[t] * (f[t] * dp[t] - delta);
              if (dS) dS[t] = ds;
              const T* Kr = K + I[t] * row_stride(k);
              T* dKr = dK + I[t] * D;
              T* dVr = dV + I[t] * Dv;
              const T a = scale * ds, pf = Pr[t] * f[t];
              for (int64_t d = 0; d < D; ++d) dQi[d] += a * Kr[d], dKr[d] += a * Qi[d];  // dQ, dK[idx] += scale ds ...
              for (int64_t d = 0; d < Dv; ++d) dVr[d] += pf * dO[d];                    // dV[idx] += p f dO
            }
          }
        }
      }
    });
    if (g.dbias.defined()) accumulate_dbias<T>(ds_all.data<T>(), idx_all, g.dbias, B, H, Nq, kk);
    if (g.drel_table.defined())
      accumulate_drel_table<T>(ds_all.data<T>(), idx_all, g.drel_table, score_mods<T>(mods, Nk),
                               attention_segments(mods, Nq, Nk), p, B, H, Nq, kk);
  });
}

}  // namespace memgrad::cpu
