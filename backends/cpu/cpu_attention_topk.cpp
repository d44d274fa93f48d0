// Top-k attention on the CPU (Gupta et al. 2021): per query, the top_k largest unmasked scores,
// softmax over them, and O = sum_t p_t V[idx_t]. Scores are formed one query chunk at a time
// ([Cq, Nk] per thread); only indices and probabilities are kept for backward.
//
// NaN / inf (the contract in autograd/attention.h): the selection ranks NaN above +inf above every
// other score (torch.topk), ties to the earlier key, and takes visible keys only (a visible key
// scored -inf can be taken; a masked one never is); the softmax over the picks propagates NaN and
// +inf, and picks all scored -inf get probability 0. Keys not picked carry nothing.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/attention_common.h"
#include "backends/cpu/blas.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/parallel.h"
#include "backends/cpu/row_ops.h"
#include "backends/cpu/topk_select.h"
#include "backends/scalar_math.h"

namespace memgrad::cpu {

void CpuBackend::attention_topk_forward(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in,
                                        const AttentionMods& mods, const AttentionParams& p, Tensor& out, Tensor& idx,
                                        Tensor& probs, Tensor& lse) {
  const Tensor q = attention_input(q_in), k = attention_input(k_in), v = attention_input(v_in);
  check_attention_supported(mods, p, q, k, kCpuTopkFeatures, "the CPU topk kernel", "attention_topk");
  const Tensor& key_valid = mods.key_valid;
  check_openblas_core();
  const int64_t B = q.shape()[0], H = q.shape()[1], Nq = q.shape()[2], D = q.shape()[3];
  const Visibility vis = p.visibility(Nq, k.shape()[2]);
  const int64_t Nk = k.shape()[2], Dv = v.shape()[3], kk = idx.shape()[3];
  // query rows per block: at most q_chunk, and at most ~1M scores per thread
  const int64_t Cq = std::clamp<int64_t>((int64_t{1} << 20) / std::max<int64_t>(Nk, 1), 1, p.q_chunk);
  const int64_t n_qc = (Nq + Cq - 1) / Cq;
  dispatch_float(q.dtype(), "attention_topk", [&]<class T>() {
    // per thread: scores [Cq, Nk] and the softmax row [kk]; selection candidates [Nk] and picks [kk]
    Tensor ws = thread_workspace(Cq * Nk + kk, q.dtype());
    Tensor sel_ws = thread_workspace(static_cast<int64_t>(Nk * sizeof(Scored<T>) + kk * 4), DType::boolean);
    const bool* valid = key_valid.defined() ? key_valid.data<bool>() : nullptr;
    parallel_for(B * H * n_qc, int64_t{1} << 20, [&](int64_t t0, int64_t t1) {
      T* S = thread_slot<T>(ws);
      T* e = S + Cq * Nk;
      auto* cand = reinterpret_cast<Scored<T>*>(thread_slot<bool>(sel_ws));
      auto* pick = reinterpret_cast<int32_t*>(cand + Nk);
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t b = t / (H * n_qc), h = (t / n_qc) % H, i0 = (t % n_qc) * Cq;
        const int64_t nq = std::min(Cq, Nq - i0), bh = b * H + h;
        const int64_t k_end = vis.last_key(i0 + nq - 1) + 1;
        const T* K = head<T>(k, b, h);
        const T* V = head<T>(v, b, h);
        const bool* vb = valid ? valid + b * Nk : nullptr;
        // S = scale * Q K^T  [nq, k_end]
        if (k_end > 0)
          gemm<T>(false, true, nq, k_end, D, T(p.scale), head<T>(q, b, h) + i0 * row_stride(q), row_stride(q), K,
                  row_stride(k), T(0), S, k_end);
        for (int64_t r = 0; r < nq; ++r) {
          const int64_t i = i0 + r, n_keys = vis.last_key(i) + 1;
          T* s = S + r * k_end;
          if (vb)  // masked keys score -inf
            for (int64_t j = 0; j < n_keys; ++j) s[j] = vb[j] ? s[j] : -std::numeric_limits<T>::infinity();
          T* O = out.data<T>() + (bh * Nq + i) * Dv;
          int32_t* I = idx.data<int32_t>() + (bh * Nq + i) * kk;
          T* Pr = probs.data<T>() + (bh * Nq + i) * kk;
          std::fill(O, O + Dv, T(0));
          std::fill(I, I + kk, -1);
          std::fill(Pr, Pr + kk, T(0));
          const int64_t sel = select_top(s, vb, n_keys, kk, cand, pick);
          if (sel == 0 && lse.defined()) lse.data<T>()[bh * Nq + i] = std::numeric_limits<T>::infinity();
          if (sel == 0) continue;  // every key masked: output 0
          T m = -std::numeric_limits<T>::infinity();
          for (int64_t t2 = 0; t2 < sel; ++t2) e[t2] = s[pick[t2]], m = nan_max(m, e[t2]);
          // softmax over the picks: NaN or +inf make it NaN; all -inf make it 0 (softmax's rule)
          const T sum = m == -std::numeric_limits<T>::infinity() ? T(0) : exp_sub_sum(e, m, e, sel);
          if (lse.defined()) lse.data<T>()[bh * Nq + i] = sum == T(0) ? std::numeric_limits<T>::infinity() : m + std::log(sum);
          for (int64_t t2 = 0; t2 < sel; ++t2) {
            const int32_t j = pick[t2];
            const T pt = sum == T(0) ? T(0) : e[t2] / sum;
            I[t2] = j;
            Pr[t2] = pt;
            const T* vr = V + j * row_stride(v);
            for (int64_t d = 0; d < Dv; ++d) O[d] += pt * vr[d];
          }
        }
      }
    });
  });
}

void CpuBackend::attention_topk_backward(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in,
                                         const AttentionMods& mods, const Tensor& idx, const Tensor& probs,
                                         const Tensor& grad_out_in, const AttentionParams& p, Tensor& dq, Tensor& dk,
                                         Tensor& dv, AttentionModGrads& /*g*/) {
  const Tensor q = attention_input(q_in), k = attention_input(k_in), v = attention_input(v_in);
  check_attention_supported(mods, p, q, k, kCpuTopkFeatures, "the CPU topk kernel", "attention_topk_backward");
  const int64_t B = q.shape()[0], H = q.shape()[1], Nq = q.shape()[2], D = q.shape()[3];
  const int64_t Nk = k.shape()[2], Dv = v.shape()[3], kk = idx.shape()[3];
  Tensor grad_out = contiguous_copy(grad_out_in);  // [B, H, Nq, Dv]
  dispatch_float(q.dtype(), "attention_topk_backward", [&]<class T>() {
    Tensor ws = thread_workspace(2 * kk, q.dtype());
    const T scale = static_cast<T>(p.scale);
    // One task per (b, h): it owns that head's dK and dV rows, which the scatter-adds touch.
    parallel_for(B * H, Nq * kk * (D + Dv), [&](int64_t t0, int64_t t1) {
      T* dp = thread_slot<T>(ws);
      T* ds = dp + kk;
      for (int64_t bh = t0; bh < t1; ++bh) {
        const int64_t b = bh / H, h = bh % H;
        const T* Q = head<T>(q, b, h);
        const T* K = head<T>(k, b, h);
        const T* V = head<T>(v, b, h);
        T* dK = dk.data<T>() + bh * Nk * D;
        T* dV = dv.data<T>() + bh * Nk * Dv;
        for (int64_t i = 0; i < Nq; ++i) {
          const int32_t* I = idx.data<int32_t>() + (bh * Nq + i) * kk;
          const T* Pr = probs.data<T>() + (bh * Nq + i) * kk;
          const T* dO = grad_out.data<T>() + (bh * Nq + i) * Dv;
          const T* Qi = Q + i * row_stride(q);
          T* dQi = dq.data<T>() + (bh * Nq + i) * D;
          // dp_t = dO . V[idx_t]; ds_t = p_t (dp_t - sum_u p_u dp_u)
          T pdp = 0;
          for (int64_t t = 0; t < kk; ++t) {
            dp[t] = I[t] < 0 ? T(0) : row_dot(dO, V + I[t] * row_stride(v), Dv);
            pdp += Pr[t] * dp[t];
          }
          for (int64_t t = 0; t < kk; ++t) {
            if (I[t] < 0) continue;
            ds[t] = Pr[t] * (dp[t] - pdp);
            const T* Kr = K + I[t] * row_stride(k);
            T* dKr = dK + I[t] * D;
            T* dVr = dV + I[t] * Dv;
            const T a = scale * ds[t], pt = Pr[t];
            for (int64_t d = 0; d < D; ++d) dQi[d] += a * Kr[d], dKr[d] += a * Qi[d];  // dQ, dK[idx] += scale ds ...
            for (int64_t d = 0; d < Dv; ++d) dVr[d] += pt * dO[d];                    // dV[idx] += p dO
          }
        }
      }
    });
  });
}

}  // namespace memgrad::cpu
