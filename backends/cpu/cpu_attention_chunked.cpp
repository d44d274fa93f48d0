// Chunked (memory-efficient) attention on the CPU: exact softmax attention by online softmax over
// key chunks (Rabe & Staats 2021), backward by recomputation block by block (FlashAttention-2).
// Score blocks are products through cblas; nothing of size Nq x Nk is ever allocated.
//
// NaN / inf (the contract in autograd/attention.h): visible pairs compute as vanilla, in IEEE
// arithmetic; masked pairs carry nothing. The running max propagates NaN; probabilities and score
// gradients of masked pairs are set to 0 explicitly (exp(-inf - NaN) would be NaN), and a block
// holding masked pairs whose q, k, v or output-gradient rows are not all finite is multiplied pair
// by pair over its visible pairs only (a product through BLAS would add 0 * NaN = NaN for them).
#include <cmath>
#include <limits>
#include <mutex>
#include <vector>

#include "backends/cpu/attention_common.h"
#include "backends/cpu/blas.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/parallel.h"
#include "backends/cpu/row_ops.h"
#include "backends/scalar_math.h"

namespace memgrad::cpu {
namespace {

// acc [nq, Dv] += P [nq, nk] V [nk, Dv] (row stride ldv) over the block's visible pairs only.
template <class T>
void add_visible_products(const T* P, int64_t nq, int64_t nk, const T* V, int64_t ldv, int64_t Dv, T* acc, int64_t i0,
                          int64_t j0, const bool* valid, const Visibility& vis) {
  for (int64_t r = 0; r < nq; ++r)
    for (int64_t c = 0; c < nk; ++c) {
      if (!visible(i0 + r, j0 + c, valid, vis)) continue;
      const T pr = P[r * nk + c];
      for (int64_t d = 0; d < Dv; ++d) acc[r * Dv + d] += pr * V[c * ldv + d];
    }
}

// The backward products of one block over its visible pairs only: dV [nk, Dv] += P^T dO,
// dK [nk, D] += scale dS^T Q, dQ [nq, D] += scale dS K (Q, K with row strides ldq, ldk; dO dense).
template <class T>
void add_visible_grads(const T* P, const T* dS, int64_t nq, int64_t nk, const T* Q, int64_t ldq, const T* K,
                       int64_t ldk, const T* dO, int64_t D, int64_t Dv, T scale, T* dQ, T* dK, T* dV, int64_t i0,
                       int64_t j0, const bool* valid, const Visibility& vis) {
  for (int64_t r = 0; r < nq; ++r)
    for (int64_t c = 0; c < nk; ++c) {
      if (!visible(i0 + r, j0 + c, valid, vis)) continue;
      const T pr = P[r * nk + c], ds = scale * dS[r * nk + c];
      for (int64_t d = 0; d < Dv; ++d) dV[c * Dv + d] += pr * dO[r * Dv + d];
      for (int64_t d = 0; d < D; ++d) {
        dK[c * D + d] += ds * Q[r * ldq + d];
        dQ[r * D + d] += ds * K[c * ldk + d];
      }
    }
}

}  // namespace

void CpuBackend::attention_chunked_forward(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in,
                                           const AttentionMods& mods, const AttentionParams& p, Tensor& out,
                                           Tensor& lse) {
  const Tensor q = attention_input(q_in), k = attention_input(k_in), v = attention_input(v_in);
  check_attention_supported(mods, p, q, k, kCpuChunkedFeatures, "the CPU chunked kernel", "attention");
  const Tensor& key_valid = mods.key_valid;
  check_openblas_core();
  const int64_t B = q.shape()[0], H = q.shape()[1], Nq = q.shape()[2], D = q.shape()[3];
  const int64_t Nk = k.shape()[2], Dv = v.shape()[3];
  const Visibility vis = p.visibility(Nq, Nk);
  const int64_t Cq = std::min(p.q_chunk, std::max<int64_t>(Nq, 1)), Ck = std::min(p.k_chunk, std::max<int64_t>(Nk, 1));
  const int64_t n_qc = (Nq + Cq - 1) / Cq;
  dispatch_float(q.dtype(), "attention", [&]<class T>() {
    // per thread: scores S [Cq, Ck], accumulator acc [Cq, Dv], running max m [Cq] and sum l [Cq]
    Tensor ws = thread_workspace(Cq * Ck + Cq * Dv + 2 * Cq, q.dtype());
    const bool* valid = key_valid.defined() ? key_valid.data<bool>() : nullptr;
    const T ninf = -std::numeric_limits<T>::infinity();
    parallel_for(B * H * n_qc, int64_t{1} << 20, [&](int64_t t0, int64_t t1) {
      T* S = thread_slot<T>(ws);
      T* acc = S + Cq * Ck;
      T* m = acc + Cq * Dv;
      T* l = m + Cq;
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t b = t / (H * n_qc), h = (t / n_qc) % H, i0 = (t % n_qc) * Cq;
        const int64_t nq = std::min(Cq, Nq - i0);
        const T* Q = head<T>(q, b, h) + i0 * row_stride(q);  // [nq, D]
        const T* K = head<T>(k, b, h);                        // [Nk, D]
        const T* V = head<T>(v, b, h);                        // [Nk, Dv]
        const bool* vb = valid ? valid + b * Nk : nullptr;
        std::fill(m, m + nq, ninf);
        std::fill(l, l + nq, T(0));
        std::fill(acc, acc + nq * Dv, T(0));
        const int64_t k_end = vis.last_key(i0 + nq - 1) + 1;  // keys beyond are masked for all rows
        for (int64_t j0 = 0; j0 < k_end; j0 += Ck) {
          const int64_t nk = std::min(Ck, k_end - j0);
          // S = scale * Q K_j^T  [nq, nk]
          gemm<T>(false, true, nq, nk, D, T(p.scale), Q, row_stride(q), K + j0 * row_stride(k), row_stride(k), T(0), S,
                  nk);
          mask_block(S, nk, nq, nk, i0, j0, vb, vis);
          for (int64_t r = 0; r < nq; ++r) {
            T* s = S + r * nk;
            const T m_new = nan_max(m[r], row_max(s, nk));  // NaN: the row's output is NaN
            if (m_new == ninf) {  // every key so far masked (or scored -inf) for this row
              std::fill(s, s + nk, T(0));
              continue;
            }
            const T alpha = fast_exp(m[r] - m_new);  // rescales what was summed under the old max
            l[r] = l[r] * alpha + exp_sub_sum(s, m_new, s, nk);
            if (alpha != T(1))
              for (int64_t d = 0; d < Dv; ++d) acc[r * Dv + d] *= alpha;
            m[r] = m_new;
          }
          // acc += P V_j  [nq, Dv]
          const T* Vj = V + j0 * row_stride(v);
          if (block_has_masked(nq, nk, i0, j0, vb, vis) && !rows_finite(Vj, nk, Dv, row_stride(v)))
            add_visible_products(S, nq, nk, Vj, row_stride(v), Dv, acc, i0, j0, vb, vis);
          else
            gemm<T>(false, false, nq, Dv, nk, T(1), S, nk, Vj, row_stride(v), T(1), acc, Dv);
        }
        T* O = out.data<T>() + ((b * H + h) * Nq + i0) * Dv;  // [nq, Dv]
        T* L = lse.data<T>() + (b * H + h) * Nq + i0;
        for (int64_t r = 0; r < nq; ++r) {
          if (l[r] == T(0)) {  // no visible key, or all scored -inf: lse = +inf makes every P = 0 in backward
            // the sum of 0 * v over the visible keys: 0, or NaN where one of their v is not finite
            std::copy(acc + r * Dv, acc + (r + 1) * Dv, O + r * Dv);
            L[r] = std::numeric_limits<T>::infinity();
            continue;
          }
          const T inv = T(1) / l[r];
          for (int64_t d = 0; d < Dv; ++d) O[r * Dv + d] = acc[r * Dv + d] * inv;
          L[r] = m[r] + std::log(l[r]);
        }
      }
    });
  });
}

void CpuBackend::attention_chunked_backward(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in,
                                            const AttentionMods& mods, const Tensor& out, const Tensor& lse,
                                            const Tensor& grad_out_in, const AttentionParams& p, Tensor& dq,
                                            Tensor& dk, Tensor& dv, AttentionModGrads& /*g*/) {
  const Tensor q = attention_input(q_in), k = attention_input(k_in), v = attention_input(v_in);
  check_attention_supported(mods, p, q, k, kCpuChunkedFeatures, "the CPU chunked kernel", "attention_backward");
  const Tensor& key_valid = mods.key_valid;
  const int64_t B = q.shape()[0], H = q.shape()[1], Nq = q.shape()[2], D = q.shape()[3];
  const int64_t Nk = k.shape()[2], Dv = v.shape()[3];
  const Visibility vis = p.visibility(Nq, Nk);
  const int64_t Cq = std::min(p.q_chunk, std::max<int64_t>(Nq, 1)), Ck = std::min(p.k_chunk, std::max<int64_t>(Nk, 1));
  const int64_t n_qc = (Nq + Cq - 1) / Cq, n_kc = (Nk + Ck - 1) / Ck;
  Tensor grad_out = contiguous_copy(grad_out_in);  // [B, H, Nq, Dv]
  dispatch_float(q.dtype(), "attention_backward", [&]<class T>() {
    const T* dO_all = grad_out.data<T>();
    const T* O_all = out.data<T>();
    const T* L_all = lse.data<T>();
    // Delta_i = rowsum(dO_i * O_i)  [B, H, Nq]
    Tensor delta = empty({B, H, Nq}, q.dtype());
    T* Dl = delta.data<T>();
    parallel_for(B * H * Nq, Dv, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) Dl[i] = row_dot(dO_all + i * Dv, O_all + i * Dv, Dv);
    });
    // per thread: S/P [Cq, Ck], dP/dS [Cq, Ck], dQ part [Cq, D]
    Tensor ws = thread_workspace(2 * Cq * Ck + Cq * D, q.dtype());
    const bool* valid = key_valid.defined() ? key_valid.data<bool>() : nullptr;
    std::vector<std::mutex> dq_locks(static_cast<size_t>(B * H * n_qc));
    // Each task owns the dK, dV rows of one key chunk; dQ rows are shared, so they are added under a lock.
    parallel_for(B * H * n_kc, int64_t{1} << 20, [&](int64_t t0, int64_t t1) {
      T* P = thread_slot<T>(ws);
      T* dS = P + Cq * Ck;
      T* dQp = dS + Cq * Ck;
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t b = t / (H * n_kc), h = (t / n_kc) % H, j0 = (t % n_kc) * Ck;
        const int64_t nk = std::min(Ck, Nk - j0);
        const int64_t bh = b * H + h;
        const T* Kj = head<T>(k, b, h) + j0 * row_stride(k);  // [nk, D]
        const T* Vj = head<T>(v, b, h) + j0 * row_stride(v);  // [nk, Dv]
        T* dKj = dk.data<T>() + (bh * Nk + j0) * D;            // [nk, D]
        T* dVj = dv.data<T>() + (bh * Nk + j0) * Dv;           // [nk, Dv]
        const bool* vb = valid ? valid + b * Nk : nullptr;
        for (int64_t qc = 0; qc < n_qc; ++qc) {
          const int64_t i0 = qc * Cq, nq = std::min(Cq, Nq - i0);
          if (vis.last_key(i0 + nq - 1) < j0) continue;  // the whole block is masked
          const T* Qi = head<T>(q, b, h) + i0 * row_stride(q);  // [nq, D]
          const T* dOi = dO_all + (bh * Nq + i0) * Dv;           // [nq, Dv]
          const T* Li = L_all + bh * Nq + i0;
          const T* Di = Dl + bh * Nq + i0;
          // P = exp(scale * Q K^T - L)  [nq, nk], recomputed
          gemm<T>(false, true, nq, nk, D, T(p.scale), Qi, row_stride(q), Kj, row_stride(k), T(0), P, nk);
          for (int64_t r = 0; r < nq; ++r) {
            T* pr = P + r * nk;
            const T Lr = Li[r];
            for (int64_t c = 0; c < nk; ++c) pr[c] = fast_exp(pr[c] - Lr);
          }
          // dP = dO_i V_j^T  [nq, nk]; dS = P * (dP - Delta)
          gemm<T>(false, true, nq, nk, Dv, T(1), dOi, Dv, Vj, row_stride(v), T(0), dS, nk);
          for (int64_t r = 0; r < nq; ++r) {
            T* ds = dS + r * nk;
            const T* pr = P + r * nk;
            const T dr = Di[r];
            for (int64_t c = 0; c < nk; ++c) ds[c] = pr[c] * (ds[c] - dr);
          }
          const bool masked = block_has_masked(nq, nk, i0, j0, vb, vis);
          if (masked) {  // masked pairs: P = dS = 0 exactly, whatever L, dP and Delta hold
            mask_block(P, nk, nq, nk, i0, j0, vb, vis, T(0));
            mask_block(dS, nk, nq, nk, i0, j0, vb, vis, T(0));
          }
          if (masked && !(rows_finite(Qi, nq, D, row_stride(q)) && rows_finite(Kj, nk, D, row_stride(k)) &&
                          rows_finite(dOi, nq, Dv, Dv))) {
            std::fill(dQp, dQp + nq * D, T(0));
            add_visible_grads(P, dS, nq, nk, Qi, row_stride(q), Kj, row_stride(k), dOi, D, Dv, T(p.scale), dQp, dKj,
                              dVj, i0, j0, vb, vis);
          } else {
            // dV_j += P^T dO_i  [nk, Dv]
            gemm<T>(true, false, nk, Dv, nq, T(1), P, nk, dOi, Dv, T(1), dVj, Dv);
            // dK_j += scale * dS^T Q_i  [nk, D]
            gemm<T>(true, false, nk, D, nq, T(p.scale), dS, nk, Qi, row_stride(q), T(1), dKj, D);
            // dQ_i += scale * dS K_j  [nq, D]
            gemm<T>(false, false, nq, D, nk, T(p.scale), dS, nk, Kj, row_stride(k), T(0), dQp, D);
          }
          T* dQi = dq.data<T>() + (bh * Nq + i0) * D;
          std::lock_guard lock(dq_locks[bh * n_qc + qc]);
          for (int64_t e = 0; e < nq * D; ++e) dQi[e] += dQp[e];
        }
      }
    });
  });
}

}  // namespace memgrad::cpu
