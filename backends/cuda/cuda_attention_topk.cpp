// Top-k attention on the GPU, as on the CPU (cpu_attention_topk.cpp): scores for a block of query
// rows against every key they may see ([B * H, rows, k_end], a cuBLAS product), then one kernel
// that selects each row's top kk keys, softmaxes them and gathers V. Only indices and
// probabilities are kept for backward, which scatter-adds into dK and dV. With p.fused and
// top_k <= 256 both passes are single fused kernels instead (cuda_topk_fused.cpp).
#include <algorithm>

#include "backends/attention_mods.h"
#include "backends/attention_visibility.h"
#include "backends/cuda/attention_kernels.h"
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/topk_fused_kernels.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/tensor.h"

namespace memgrad::cuda {
namespace {

// Score-block budget (elements) over all heads: query blocks grow past q_chunk rows while the
// block stays below it. A constant, so memory stays O(N).
constexpr int64_t kBlockElems = int64_t{1} << 22;


}  // namespace

void CudaBackend::attention_topk_forward(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in,
                                         const AttentionMods& mods, const AttentionParams& p, Tensor& out, Tensor& idx,
                                         Tensor& probs, Tensor& lse) {
  check_attention_supported(mods, p, q_in, k_in, kCudaAttentionFeatures, "the CUDA kernels", "attention_topk");
  MG_CHECK(!lse.defined(), "attention_topk", "the lse output of the topk kind is not implemented on CUDA yet");
  const Tensor& key_valid = mods.key_valid;
  if (topk_fused_forward(q_in, k_in, v_in, key_valid, p, out, idx, probs)) return;  // k <= 256: one fused kernel
  const int64_t B = q_in.shape()[0], H = q_in.shape()[1], Nq = q_in.shape()[2], D = q_in.shape()[3];
  const int64_t Nk = k_in.shape()[2], Dv = v_in.shape()[3], kk = idx.shape()[3], BH = B * H;
  dispatch_float(q_in.dtype(), "attention_topk", [&]<class T>() {
    if (BH == 0 || Nq == 0) return;
    MG_CHECK(Nk <= INT32_MAX, "attention_topk", "{} keys exceed the int32 indices", Nk);
    const Tensor q = attention_input(q_in), k = attention_input(k_in), v = attention_input(v_in);
    const int64_t Cq = std::min(p.q_chunk, Nq);
    const int64_t R = std::max<int64_t>(1, std::min(Nq, std::max(Cq, kBlockElems / std::max<int64_t>(BH * Nk, 1))));
    const AttnMask mk{key_valid.defined() ? key_valid.data<bool>() : nullptr, H, Nq, Nk, p.causal, p.causal_align};
    // scores of R query rows against the keys they may see  [BH, R, <= Nk]
    Tensor S_t = empty({BH, R, Nk}, q.dtype(), q.device());
    T* S = S_t.data<T>();
    for (int64_t i0 = 0; i0 < Nq; i0 += R) {
      const int64_t nq = std::min(R, Nq - i0);
      const int64_t k_end = std::max<int64_t>(0, p.visibility(Nq, Nk).last_key(i0 + nq - 1) + 1);  // keys beyond: masked
      // S = scale * Q_i K^T  [BH, nq, k_end]
      if (k_end > 0)
        attn_gemm<T>("attention_topk", false, true, nq, k_end, D, p.scale, head_operand(q, i0), head_operand(k, 0), 0,
                     GemmOperand{S, k_end, H * nq * k_end, nq * k_end}, B, H);
      launch_topk_select<T>(S, BH, nq, k_end, i0, mk, v.data<T>(), head_layout(v), Dv, kk, out.data<T>(),
                            idx.data<int32_t>(), probs.data<T>());
      check_launch("attention_topk");
    }
  });
}

void CudaBackend::attention_topk_backward(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in,
                                          const AttentionMods& mods, const Tensor& idx_in, const Tensor& probs_in,
                                          const Tensor& grad_out_in, const AttentionParams& p, Tensor& dq, Tensor& dk,
                                          Tensor& dv, AttentionModGrads& /*g*/) {
  check_attention_supported(mods, p, q_in, k_in, kCudaAttentionFeatures, "the CUDA kernels", "attention_topk_backward");
  if (topk_fused_backward(q_in, k_in, v_in, idx_in, probs_in, grad_out_in, p, dq, dk, dv)) return;
  const int64_t B = q_in.shape()[0], H = q_in.shape()[1], Nq = q_in.shape()[2], D = q_in.shape()[3];
  const int64_t Nk = k_in.shape()[2], Dv = v_in.shape()[3], kk = idx_in.shape()[3], BH = B * H;
  dispatch_float(q_in.dtype(), "attention_topk_backward", [&]<class T>() {
    if (BH == 0 || Nq == 0 || kk == 0) return;  // no key picked: every gradient stays 0
    MG_CHECK(dq.is_contiguous() && dk.is_contiguous() && dv.is_contiguous(), "attention_topk_backward",
             "dq, dk, dv must be contiguous");
    const Tensor q = attention_input(q_in), k = attention_input(k_in), v = attention_input(v_in);
    const Tensor grad_out = contiguous_copy(grad_out_in);  // [B, H, Nq, Dv]
    const Tensor idx = contiguous_copy(idx_in), probs = contiguous_copy(probs_in);  // [B, H, Nq, kk]
    launch_topk_backward<T>(q.data<T>(), head_layout(q), k.data<T>(), head_layout(k), v.data<T>(), head_layout(v),
                            idx.data<int32_t>(), probs.data<T>(), grad_out.data<T>(), dq.data<T>(), dk.data<T>(),
                            dv.data<T>(), BH, H, Nq, Nk, D, Dv, kk, p.scale);
    check_launch("attention_topk_backward");
  });
}

}  // namespace memgrad::cuda
