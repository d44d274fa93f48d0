// Chunked (memory-efficient) attention on the CPU: exact softmax attention by online softmax over
// key chunks (Rabe & Staats 2021), backward by recomputation block by block (FlashAttention-2).
// Block products run through block_gemm.h's register tiles, with each key block packed once per
// task where it is reused (backward) and per pair otherwise; nothing of size Nq x Nk is allocated.
//
// Every option of autograd/attention.h, through the rule headers (attention_visibility.h,
// attention_scores.h): work runs per packed sequence (Segment; one per row without packing) with
// segment-local visibility, a query block visits only the key blocks between its first row's
// first_key and its last row's last_key (so a sliding window costs O(N W)), and blocks whose
// pairs are all masked (window, causal, padding, attn_mask) are skipped. Terms (bias, ALiBi,
// relative table) are added per pair to each score block; dropout zeroes dropped probabilities
// after the online softmax (lse stays the undropped statistic) and is regenerated in backward.
// Grouped-query heads read their shared k / v head in place; a backward task owns (batch, kv head,
// key block) and loops over the group's query heads, so dK, dV and dbias need no locks; dQ parts
// are added under a lock per query block, in key-block order wherever a thread owns a whole head
// (the results then do not depend on the schedule); the relative table's gradient is summed per
// thread, then reduced. Blocks are handed out dynamically (parallel.h: parallel_for_dynamic).
//
// NaN / inf (the contract in autograd/attention.h): visible pairs compute as vanilla, in IEEE
// arithmetic; masked pairs carry nothing. The running max propagates NaN; probabilities and score
// gradients of masked pairs are set to 0 explicitly (exp(-inf - NaN) would be NaN), and a block
// holding masked pairs whose q, k, v or output-gradient rows are not all finite is multiplied pair
// by pair over its visible pairs only (a product through BLAS would add 0 * NaN = NaN for them).
#include <array>
#include <cmath>
#include <limits>
#include <mutex>
#include <vector>

#include "backends/cpu/attention_common.h"
#include "backends/cpu/block_gemm.h"
#include "backends/cpu/chunked_workspace.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/parallel.h"
#include "backends/cpu/row_ops.h"
#include "backends/scalar_math.h"

namespace memgrad::cpu {
namespace {

// acc [nq, Dv] += P [nq, nk] V [nk, Dv] (row stride ldv) over the block's seen pairs only.
template <class T>
void add_visible_products(const T* P, int64_t nq, int64_t nk, const T* V, int64_t ldv, int64_t Dv, T* acc,
                          const uint8_t* seen) {
  for (int64_t r = 0; r < nq; ++r)
    for (int64_t c = 0; c < nk; ++c) {
      if (!seen[r * nk + c]) continue;
      const T pr = P[r * nk + c];
      for (int64_t d = 0; d < Dv; ++d) acc[r * Dv + d] += pr * V[c * ldv + d];
    }
}

// The backward products of one block over its seen pairs only: dV [nk, Dv] += P^T dO,
// dK [nk, D] += scale dS^T Q, dQ [nq, D] += scale dS K (P, dS with row stride ldp; Q, K with ldq,
// ldk; dO dense; seen [nq, nk]).
template <class T>
void add_visible_grads(const T* P, const T* dS, int64_t ldp, int64_t nq, int64_t nk, const T* Q, int64_t ldq,
                       const T* K, int64_t ldk, const T* dO, int64_t ldo, int64_t D, int64_t Dv, T scale, T* dQ, T* dK,
                       T* dV, const uint8_t* seen) {
  for (int64_t r = 0; r < nq; ++r)
    for (int64_t c = 0; c < nk; ++c) {
      if (!seen[r * nk + c]) continue;
      const T pr = P[r * ldp + c], ds = scale * dS[r * ldp + c];
      for (int64_t d = 0; d < Dv; ++d) dV[c * Dv + d] += pr * dO[r * ldo + d];
      for (int64_t d = 0; d < D; ++d) {
        dK[c * D + d] += ds * Q[r * ldq + d];
        dQ[r * D + d] += ds * K[c * ldk + d];
      }
    }
}

// The backward's operands packed for block_gemm (chunked_workspace.h): per key block K_j^T, V_j^T
// and K_j, per query block Q_i and dO_i.
template <class T>
struct Packs {
  T *Kt = nullptr, *Vt = nullptr, *Kn = nullptr, *Qp = nullptr, *dOp = nullptr;
};

// One block of queries or keys: the segment's index and the block's first segment-local index.
struct SegBlock {
  int64_t seg = 0, start = 0;
};

// The blocks of `chunk` rows of every segment, queries (of_queries) or keys, in order.
std::vector<SegBlock> segment_blocks(const std::vector<Segment>& segs, int64_t chunk, bool of_queries) {
  std::vector<SegBlock> out;
  for (size_t s = 0; s < segs.size(); ++s)
    for (int64_t i = 0; i < (of_queries ? segs[s].nq : segs[s].nk); i += chunk)
      out.push_back(SegBlock{static_cast<int64_t>(s), i});
  return out;
}

// Elements of type T holding n bytes (the `seen` flags placed in a T workspace).
template <class T>
int64_t bytes_as(int64_t n) {
  return (n + static_cast<int64_t>(sizeof(T)) - 1) / static_cast<int64_t>(sizeof(T));
}

// The workspace elements of a block's `seen` flags (block_cover): none when every block is
// entirely visible (no causal rule, window, padding or attn_mask), so plain calls keep their peak.
template <class T>
int64_t seen_elems(const ScoreMods<T>& sm, const AttentionParams& p, int64_t block) {
  return p.visibility(1, 1).limited() || sm.any_pair_mask() ? bytes_as<T>(block) : 0;
}
// The workspace elements of one block row's dropout keep flags (DropoutRule::keep_run).
template <class T>
int64_t kept_elems(const AttentionParams& p, int64_t row) {
  return p.dropout.on ? bytes_as<T>(row) : 0;
}

// Zeroes the dropped probabilities of row i (whole-row index; head row bh) of a block, keys
// k0 .. k0 + nk - 1 (whole-row indices): DropoutRule::keep; kept [nk] is scratch.
template <class T>
void drop_row(T* p, const DropoutRule& rule, int64_t bh, int64_t i, int64_t k0, int64_t nk, uint8_t* kept) {
  rule.keep_run(bh, i, k0, nk, kept);
  for (int64_t c = 0; c < nk; ++c)
    if (!kept[c]) p[c] = T(0);
}

// Element strides of the contiguous gradient g (4-d, the bias's shape), 0 along its size-1 dims.
std::array<int64_t, 4> broadcast_strides(const Tensor& g) {
  std::array<int64_t, 4> s{};
  int64_t st = 1;
  for (int d = 3; d >= 0; --d) {
    s[d] = g.shape()[d] == 1 ? 0 : st;
    st *= g.shape()[d];
  }
  return s;
}

}  // namespace

void CpuBackend::attention_chunked_forward(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in,
                                           const AttentionMods& mods, const AttentionParams& p, Tensor& out,
                                           Tensor& lse) {
  const Tensor q = attention_input(q_in), k = attention_input(k_in), v = attention_input(v_in);
  check_attention_supported(mods, p, q, k, kCpuChunkedFeatures, "the CPU chunked kernel", "attention");
  check_openblas_core();
  const int64_t B = q.shape()[0], H = q.shape()[1], Nq = q.shape()[2], D = q.shape()[3];
  const int64_t Hkv = k.shape()[1], Nk = k.shape()[2], Dv = v.shape()[3];
  const int64_t G = H / std::max<int64_t>(Hkv, 1);  // query heads per key/value head
  const std::vector<Segment> segs = attention_segments(mods, Nq, Nk);
  const int64_t Cq = std::min(p.q_chunk, std::max<int64_t>(Nq, 1)), Ck = std::min(p.k_chunk, std::max<int64_t>(Nk, 1));
  const std::vector<SegBlock> qblocks = segment_blocks(segs, Cq, true);
  const int64_t n_qb = static_cast<int64_t>(qblocks.size());
  const DropoutRule& drop = p.dropout;
  dispatch_float(q.dtype(), "attention", [&]<class T>() {
    const ScoreMods<T> sm = score_mods<T>(mods, Nk);
    // per thread (chunked_workspace.h): scores S [Cq, Ck], accumulator acc [Cq, Dv], running max m
    // [Cq] and sum l [Cq], packed K_j^T and V_j, then the block's seen and dropout flags (bytes)
    const int64_t fixed = chunked_forward_workspace<T>(Cq, Ck, D, Dv);
    Tensor ws = thread_workspace(fixed + seen_elems<T>(sm, p, Cq * Ck) + kept_elems<T>(p, Ck), q.dtype());
    const T ninf = -std::numeric_limits<T>::infinity();
    const T keep_scale = static_cast<T>(drop.on ? drop.keep_scale : 1.0);
    parallel_for_dynamic(B * H * n_qb, int64_t{1} << 20, [&](int64_t t0, int64_t t1) {
      T* S = thread_slot<T>(ws);
      T* acc = S + Cq * Ck;
      T* m = acc + Cq * Dv;
      T* l = m + Cq;
      T* Kp = l + Cq;                                          // K_j^T packed [D, nk]
      T* Vp = Kp + block_gemm_packed_size<T>(D, Ck);           // V_j packed [nk, Dv]
      uint8_t* seen = reinterpret_cast<uint8_t*>(S + fixed);
      uint8_t* kept = seen + seen_elems<T>(sm, p, Cq * Ck) * static_cast<int64_t>(sizeof(T));
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t b = t / (H * n_qb), h = (t / n_qb) % H, bh = b * H + h;
        const Segment& sg = segs[static_cast<size_t>(qblocks[t % n_qb].seg)];
        const Visibility vis = p.visibility(sg.nq, sg.nk);  // segment-local indices
        const int64_t i0 = qblocks[t % n_qb].start, nq = std::min(Cq, sg.nq - i0);
        const T* Q = head<T>(q, b, h) + (sg.q0 + i0) * row_stride(q);  // [nq, D]
        const T* K = head<T>(k, b, h / G) + sg.k0 * row_stride(k);     // [sg.nk, D]
        const T* V = head<T>(v, b, h / G) + sg.k0 * row_stride(v);     // [sg.nk, Dv]
        std::fill(m, m + nq, ninf);
        std::fill(l, l + nq, T(0));
        std::fill(acc, acc + nq * Dv, T(0));
        // keys outside first_key(i0) .. last_key(i0 + nq - 1) are masked for every row of the block
        const int64_t k_end = vis.last_key(i0 + nq - 1) + 1;
        for (int64_t j0 = vis.first_key(i0); j0 < k_end; j0 += Ck) {
          const int64_t nk = std::min(Ck, k_end - j0);
          const Cover cover = block_cover(sm, vis, sg, b, h, i0, nq, j0, nk, seen);
          if (cover == Cover::none) continue;  // block skipping
          // S = scale * Q K_j^T + terms  [nq, nk], masked pairs -inf
          pack_b(K + j0 * row_stride(k), D, nk, 1, row_stride(k), Kp);
          block_gemm(nq, nk, D, T(p.scale), Q, row_stride(q), 1, Kp, T(0), S, nk);
          add_score_terms(S, sm, vis, sg, b, h, i0, nq, j0, nk);
          if (cover == Cover::some) fill_unseen(S, seen, nq * nk, ninf);
          for (int64_t r = 0; r < nq; ++r) {
            T* s = S + r * nk;
            const T m_new = nan_max(m[r], row_max(s, nk));  // NaN: the row's output is NaN
            if (m_new == ninf) {  // every key so far masked (or scored -inf) for this row
              std::fill(s, s + nk, T(0));
              continue;
            }
            const T alpha = fast_exp(m[r] - m_new);  // rescales what was summed under the old max
            l[r] = l[r] * alpha + exp_sub_sum(s, m_new, s, nk);  // l: undropped (the lse statistic)
            if (drop.on) drop_row(s, drop, bh, sg.q0 + i0 + r, sg.k0 + j0, nk, kept);
            if (alpha != T(1))
              for (int64_t d = 0; d < Dv; ++d) acc[r * Dv + d] *= alpha;
            m[r] = m_new;
          }
          // acc += P V_j  [nq, Dv]
          const T* Vj = V + j0 * row_stride(v);
          if (cover == Cover::some && !rows_finite(Vj, nk, Dv, row_stride(v)))
            add_visible_products(S, nq, nk, Vj, row_stride(v), Dv, acc, seen);
          else {
            pack_b(Vj, nk, Dv, row_stride(v), 1, Vp);
            block_gemm(nq, Dv, nk, T(1), S, nk, 1, Vp, T(1), acc, Dv);
          }
        }
        const int64_t ldo = row_stride(out);
        T* O = head<T>(out, b, h) + (sg.q0 + i0) * ldo;  // [nq, Dv], rows ldo apart
        T* L = lse.data<T>() + bh * Nq + sg.q0 + i0;     // [nq]
        for (int64_t r = 0; r < nq; ++r) {
          if (l[r] == T(0)) {  // no visible key, or all scored -inf: lse = +inf makes every P = 0 in backward
            // the sum of 0 * v over the visible keys: 0, or NaN where one of their v is not finite
            std::copy(acc + r * Dv, acc + (r + 1) * Dv, O + r * ldo);
            L[r] = std::numeric_limits<T>::infinity();
            continue;
          }
          const T inv = keep_scale / l[r];  // dropout's 1 / (1 - p) on the kept probabilities
          for (int64_t d = 0; d < Dv; ++d) O[r * ldo + d] = acc[r * Dv + d] * inv;
          L[r] = m[r] + std::log(l[r]);
        }
      }
    });
  });
}

void CpuBackend::attention_chunked_backward(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in,
                                            const AttentionMods& mods, const Tensor& out, const Tensor& lse,
                                            const Tensor& grad_out_in, const AttentionParams& p, Tensor& dq,
                                            Tensor& dk, Tensor& dv, AttentionModGrads& g) {
  const Tensor q = attention_input(q_in), k = attention_input(k_in), v = attention_input(v_in);
  check_attention_supported(mods, p, q, k, kCpuChunkedFeatures, "the CPU chunked kernel", "attention_backward");
  const int64_t B = q.shape()[0], H = q.shape()[1], Nq = q.shape()[2], D = q.shape()[3];
  const int64_t Hkv = k.shape()[1], Nk = k.shape()[2], Dv = v.shape()[3];
  const int64_t G = H / std::max<int64_t>(Hkv, 1);  // query heads per key/value head
  const std::vector<Segment> segs = attention_segments(mods, Nq, Nk);
  const int64_t Cq = std::min(p.q_chunk, std::max<int64_t>(Nq, 1)), Ck = std::min(p.k_chunk, std::max<int64_t>(Nk, 1));
  const std::vector<SegBlock> qblocks = segment_blocks(segs, Cq, true), kblocks = segment_blocks(segs, Ck, false);
  const int64_t n_qb = static_cast<int64_t>(qblocks.size()), n_kb = static_cast<int64_t>(kblocks.size());
  std::vector<int64_t> first_qb(segs.size(), 0);  // the index in qblocks of each segment's first block
  for (int64_t e = n_qb - 1; e >= 0; --e) first_qb[static_cast<size_t>(qblocks[e].seg)] = e;
  // A task owns dK, dV of (batch, kv head, key block). dbias elements are shared along the bias's
  // broadcast dims, so those dims are looped inside one task (race-free, no N^2 buffer).
  const bool dbias = g.dbias.defined();
  const bool fold_b = dbias && g.dbias.shape()[0] == 1, fold_h = dbias && g.dbias.shape()[1] == 1,
             fold_k = dbias && g.dbias.shape()[3] == 1;
  const int64_t nb_t = fold_b ? 1 : B, nh_t = fold_h ? 1 : Hkv, nk_t = fold_k ? 1 : n_kb;
  const std::array<int64_t, 4> dbs = dbias ? broadcast_strides(g.dbias) : std::array<int64_t, 4>{};
  const DropoutRule& drop = p.dropout;
  // dO and O [B, H, Nq, Dv] read in place in the input layout (the forward's output is a view of
  // [B, Nq, H, Dv], and so is the gradient a head merge hands back)
  const Tensor grad_out = attention_input(grad_out_in), o = attention_input(out);
  const int64_t ld_do = row_stride(grad_out), ld_o = row_stride(o);
  dispatch_float(q.dtype(), "attention_backward", [&]<class T>() {
    const ScoreMods<T> sm = score_mods<T>(mods, Nk);
    const T* L_all = lse.data<T>();
    // Delta_i = rowsum(dO_i * O_i)  [B, H, Nq] (O with dropout: still sum_j P_ij dP_ij)
    Tensor delta = empty({B, H, Nq}, q.dtype());
    T* Dl = delta.data<T>();
    parallel_for(B * H * Nq, Dv, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t b = i / (H * Nq), h = (i / Nq) % H, r = i % Nq;
        Dl[i] = row_dot(head<T>(grad_out, b, h) + r * ld_do, head<T>(o, b, h) + r * ld_o, Dv);
      }
    });
    // per thread (chunked_workspace.h): S/P [Cq, Ck], dP/dS [Cq, Ck], dQ part [Cq, D], the packed
    // operands (Pack), then the seen and dropout flags (bytes)
    const int64_t fixed = chunked_backward_workspace<T>(Cq, Ck, D, Dv);
    const int64_t ldP = chunked_block_ld(Ck);  // P and dS rows (chunked_workspace.h)
    Tensor ws = thread_workspace(fixed + seen_elems<T>(sm, p, Cq * Ck) + kept_elems<T>(p, Ck), q.dtype());
    // per thread: its part of the relative table's gradient [H, buckets], reduced at the end
    const bool drel = g.drel_table.defined();
    Tensor drel_ws = drel ? thread_workspace(H * sm.rel_buckets, q.dtype()) : Tensor();
    if (drel) std::fill(drel_ws.data<T>(), drel_ws.data<T>() + drel_ws.numel(), T(0));
    T* dbias_all = dbias ? g.dbias.data<T>() : nullptr;
    const T keep_scale = static_cast<T>(drop.on ? drop.keep_scale : 1.0);
    std::vector<std::mutex> dq_locks(static_cast<size_t>(B * H * n_qb));

    // One key block of (b, kv head hkv) against every query block of the group's heads that sees it.
    auto key_block = [&](int64_t b, int64_t hkv, const SegBlock& kb, T* P, T* dS, T* dQp, const Packs<T>& pk,
                         uint8_t* seen, uint8_t* kept, T* drel_t) {
      const Segment& sg = segs[static_cast<size_t>(kb.seg)];
      const Visibility vis = p.visibility(sg.nq, sg.nk);  // segment-local indices
      const int64_t j0 = kb.start, nk = std::min(Ck, sg.nk - j0);
      const T* Kj = head<T>(k, b, hkv) + (sg.k0 + j0) * row_stride(k);  // [nk, D]
      const T* Vj = head<T>(v, b, hkv) + (sg.k0 + j0) * row_stride(v);  // [nk, Dv]
      T* dKj = dk.data<T>() + ((b * Hkv + hkv) * Nk + sg.k0 + j0) * D;   // [nk, D]
      T* dVj = dv.data<T>() + ((b * Hkv + hkv) * Nk + sg.k0 + j0) * Dv;  // [nk, Dv]
      pack_b(Kj, D, nk, 1, row_stride(k), pk.Kt);   // K_j^T [D, nk], for S = Q_i K_j^T
      pack_b(Vj, Dv, nk, 1, row_stride(v), pk.Vt);  // V_j^T [Dv, nk], for dP = dO_i V_j^T
      pack_b(Kj, nk, D, row_stride(k), 1, pk.Kn);   // K_j [nk, D], for dQ = dS K_j
      // queries outside first_query(j0) .. last_query(j0 + nk - 1) see no key of the block
      const int64_t q_first = vis.first_query(j0), q_last = std::min(vis.last_query(j0 + nk - 1), sg.nq - 1);
      for (int64_t h = hkv * G; h < (hkv + 1) * G && q_first <= q_last; ++h) {
        const int64_t bh = b * H + h;
        for (int64_t qc = q_first / Cq; qc * Cq <= q_last; ++qc) {
          const int64_t i0 = qc * Cq, nq = std::min(Cq, sg.nq - i0), gi0 = sg.q0 + i0;  // gi0: whole-row index
          const Cover cover = block_cover(sm, vis, sg, b, h, i0, nq, j0, nk, seen);
          if (cover == Cover::none) continue;  // block skipping
          const T* Qi = head<T>(q, b, h) + gi0 * row_stride(q);  // [nq, D]
          const T* dOi = head<T>(grad_out, b, h) + gi0 * ld_do;  // [nq, Dv], rows ld_do apart
          const T* Li = L_all + bh * Nq + gi0;
          const T* Di = Dl + bh * Nq + gi0;
          // P = exp(scale * Q K^T + terms - L)  [nq, nk], recomputed; terms and exp in the product's
          // epilogue (block_gemm.h): on the registers for float without terms, else on each row piece
          if constexpr (std::is_same_v<T, float>) {
            if (!sm.any_term()) {
              block_gemm(nq, nk, D, T(p.scale), Qi, row_stride(q), 1, pk.Kt, T(0), P, ldP,
                         vec_epilogue([&](int64_t r, int64_t, auto s) { return fast_exp_vec(s - Li[r]); }));
            }
          }
          if (!std::is_same_v<T, float> || sm.any_term())
            block_gemm(nq, nk, D, T(p.scale), Qi, row_stride(q), 1, pk.Kt, T(0), P, ldP,
                       [&](int64_t r, int64_t c0, T* pr, int64_t n) {
                         if (sm.any_term()) add_score_terms_row(pr, sm, vis, sg, b, h, i0 + r, j0 + c0, n);
                         const T Lr = Li[r];
                         for (int64_t c = 0; c < n; ++c) pr[c] = fast_exp(pr[c] - Lr);
                       });
          // dP = dO_i V_j^T  [nq, nk]; in the epilogue dS = P * (dP * keep - Delta), then P * keep for dV
          if (!drop.on)
            block_gemm(nq, nk, Dv, T(1), dOi, ld_do, 1, pk.Vt, T(0), dS, ldP, vec_epilogue([&](int64_t r, int64_t c, auto dp) {
                         return BlockVec<T>::load(P + r * ldP + c) * (dp - Di[r]);
                       }));
          else
            block_gemm(nq, nk, Dv, T(1), dOi, ld_do, 1, pk.Vt, T(0), dS, ldP, [&](int64_t r, int64_t c0, T* ds, int64_t n) {
              T* pr = P + r * ldP + c0;
              const T dr = Di[r];
              drop.keep_run(bh, gi0 + r, sg.k0 + j0 + c0, n, kept);
              for (int64_t c = 0; c < n; ++c) {
                const T kf = kept[c] ? keep_scale : T(0);
                ds[c] = pr[c] * (ds[c] * kf - dr);
                pr[c] *= kf;
              }
            });
          if (cover == Cover::some) {  // masked pairs: P = dS = 0 exactly, whatever L, dP and Delta hold
            for (int64_t r = 0; r < nq; ++r) {
              fill_unseen(P + r * ldP, seen + r * nk, nk, T(0));
              fill_unseen(dS + r * ldP, seen + r * nk, nk, T(0));
            }
          }
          if (dbias_all)  // dbias [B|1, H|1, Nq|1, Nk|1] += dS
            for (int64_t r = 0; r < nq; ++r)
              for (int64_t c = 0; c < nk; ++c)
                dbias_all[b * dbs[0] + h * dbs[1] + (gi0 + r) * dbs[2] + (sg.k0 + j0 + c) * dbs[3]] += dS[r * ldP + c];
          if (drel)  // drel_table[h, bucket(rel)] += dS
            for (int64_t r = 0; r < nq; ++r) {
              const int64_t diag = i0 + r + vis.offset();
              for (int64_t c = 0; c < nk; ++c)
                drel_t[h * sm.rel_buckets + sm.bucket_index(j0 + c - diag)] += dS[r * ldP + c];
            }
          if (cover == Cover::some && !(rows_finite(Qi, nq, D, row_stride(q)) && rows_finite(Kj, nk, D, row_stride(k)) &&
                                        rows_finite(dOi, nq, Dv, ld_do))) {
            std::fill(dQp, dQp + nq * D, T(0));
            add_visible_grads(P, dS, ldP, nq, nk, Qi, row_stride(q), Kj, row_stride(k), dOi, ld_do, D, Dv, T(p.scale), dQp, dKj,
                              dVj, seen);
          } else {
            pack_b(dOi, nq, Dv, ld_do, 1, pk.dOp);           // dO_i [nq, Dv]
            pack_b(Qi, nq, D, row_stride(q), 1, pk.Qp);  // Q_i [nq, D]
            // dV_j += (P * keep)^T dO_i  [nk, Dv]
            block_gemm(nk, Dv, nq, T(1), P, 1, ldP, pk.dOp, T(1), dVj, Dv);
            // dK_j += scale * dS^T Q_i  [nk, D]
            block_gemm(nk, D, nq, T(p.scale), dS, 1, ldP, pk.Qp, T(1), dKj, D);
            // dQ_i part = scale * dS K_j  [nq, D]
            block_gemm(nq, D, nk, T(p.scale), dS, ldP, 1, pk.Kn, T(0), dQp, D);
          }
          // dQ rows are shared by the key blocks: added under the query block's lock
          T* dQi = dq.data<T>() + (bh * Nq + gi0) * D;
          std::lock_guard lock(dq_locks[static_cast<size_t>(bh * n_qb + first_qb[static_cast<size_t>(kb.seg)] + qc)]);
          for (int64_t e = 0; e < nq * D; ++e) dQi[e] += dQp[e];
        }
      }
    };

    // Items: a head group (b, kv head) with all its key blocks in order, where there are at least
    // two groups per thread; then one thread adds all of a head's dQ parts, in key-block order, and
    // the result does not depend on the schedule. Else single key blocks, for parallelism. Items
    // are handed out dynamically (parallel.h), except with the relative table's gradient, whose
    // per-thread parts must come from a fixed split to be summed in a fixed order.
    const int64_t per_item = nk_t > 0 && nb_t * nh_t >= 2 * omp_get_max_threads() ? nk_t : 1;
    auto run_items = [&](int64_t i0, int64_t i1) {
      T* P = thread_slot<T>(ws);
      T* dS = P + Cq * ldP;
      T* dQp = dS + Cq * ldP;
      Packs<T> pk;
      pk.Kt = dQp + Cq * D;
      pk.Vt = pk.Kt + block_gemm_packed_size<T>(D, Ck);
      pk.Kn = pk.Vt + block_gemm_packed_size<T>(Dv, Ck);
      pk.Qp = pk.Kn + block_gemm_packed_size<T>(Ck, D);
      pk.dOp = pk.Qp + block_gemm_packed_size<T>(Cq, D);
      uint8_t* seen = reinterpret_cast<uint8_t*>(P + fixed);
      uint8_t* kept = seen + seen_elems<T>(sm, p, Cq * Ck) * static_cast<int64_t>(sizeof(T));
      T* drel_t = drel ? thread_slot<T>(drel_ws) : nullptr;
      for (int64_t t = i0 * per_item; t < i1 * per_item; ++t) {
        const int64_t bt = t / (nh_t * nk_t), ht = (t / nk_t) % nh_t, kt = t % nk_t;
        for (int64_t b = fold_b ? 0 : bt; b < (fold_b ? B : bt + 1); ++b)
          for (int64_t hkv = fold_h ? 0 : ht; hkv < (fold_h ? Hkv : ht + 1); ++hkv)
            for (int64_t e = fold_k ? 0 : kt; e < (fold_k ? n_kb : kt + 1); ++e)
              key_block(b, hkv, kblocks[static_cast<size_t>(e)], P, dS, dQp, pk, seen, kept, drel_t);
      }
    };
    const int64_t items = nb_t * nh_t * nk_t / per_item;
    if (drel)
      parallel_for(items, int64_t{1} << 20, run_items);
    else
      parallel_for_dynamic(items, int64_t{1} << 20, run_items);
    if (drel) {  // the threads' parts, summed in thread order
      T* out_t = g.drel_table.data<T>();
      const int64_t n = H * sm.rel_buckets;
      for (int64_t th = 0; th < drel_ws.shape()[0]; ++th)
        for (int64_t e = 0; e < n; ++e) out_t[e] += drel_ws.data<T>()[th * drel_ws.shape()[1] + e];
    }
  });
}

}  // namespace memgrad::cpu
