// Host side of fused top-k attention (cuda_topk_fused.cu): picks it over the block-wise path of
// cuda_attention_topk.cpp when p.fused, 1 <= kk <= 256 and the kernels' shared memory fits.
#include "backends/attention_mods.h"
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/topk_fused_kernels.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/tensor.h"

namespace memgrad::cuda {

static_assert(kTopkFusedFeatures == (attn_window | attn_gqa), "topk_fused_kernels.h: the fused options");

bool topk_fused_forward(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, const AttentionMods& m,
                        const AttentionParams& p, Tensor& out, Tensor& idx, Tensor& probs, Tensor& lse) {
  if (attention_features(m, p, q_in.shape()[1], k_in.shape()[1]) & ~kTopkFusedFeatures) return false;
  const Tensor& key_valid = m.key_valid;
  const int64_t B = q_in.shape()[0], H = q_in.shape()[1], Nq = q_in.shape()[2], D = q_in.shape()[3];
  const int64_t Nk = k_in.shape()[2], Dv = v_in.shape()[3], kk = idx.shape()[3], BH = B * H;
  if (!p.fused || kk < 1 || kk > kTopkFusedMaxK || !is_floating(q_in.dtype())) return false;
  const int rows = topk_fused_fwd_rows(D, kk, static_cast<int64_t>(itemsize(q_in.dtype())));
  if (rows == 0) return false;  // D too large for a tile in shared memory
  dispatch_float(q_in.dtype(), "attention_topk", [&]<class T>() {
    if (BH == 0 || Nq == 0) return;
    MG_CHECK(Nk <= INT32_MAX, "attention_topk", "{} keys exceed the int32 indices", Nk);
    const Tensor q = attention_input(q_in), k = attention_input(k_in), v = attention_input(v_in);
    const AttnMask mk{key_valid.defined() ? key_valid.data<bool>() : nullptr, H, Nq, Nk, p.visibility(Nq, Nk),
                      H / k_in.shape()[1]};
    launch_topk_fused_forward<T>(q.data<T>(), head_layout(q), k.data<T>(), head_layout(k), v.data<T>(),
                                 head_layout(v), mk, BH, D, Dv, kk, p.scale, rows, out.data<T>(),
                                 idx.data<int32_t>(), probs.data<T>(), lse.defined() ? lse.data<T>() : nullptr);
    check_launch("attention_topk");
  });
  return true;
}

bool topk_fused_backward(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, const AttentionMods& m,
                         const Tensor& idx_in, const Tensor& probs_in, const Tensor& grad_out_in,
                         const AttentionParams& p, Tensor& dq, Tensor& dk, Tensor& dv) {
  if (attention_features(m, p, q_in.shape()[1], k_in.shape()[1]) & ~kTopkFusedFeatures) return false;
  const int64_t B = q_in.shape()[0], H = q_in.shape()[1], Nq = q_in.shape()[2], D = q_in.shape()[3];
  const int64_t Nk = k_in.shape()[2], Dv = v_in.shape()[3], kk = idx_in.shape()[3], BH = B * H;
  if (!p.fused || kk < 1 || kk > kTopkFusedMaxK || !is_floating(q_in.dtype())) return false;
  const int rows = topk_fused_bwd_rows(D, kk, static_cast<int64_t>(itemsize(q_in.dtype())));
  if (rows == 0) return false;
  dispatch_float(q_in.dtype(), "attention_topk_backward", [&]<class T>() {
    if (BH == 0 || Nq == 0) return;
    MG_CHECK(dq.is_contiguous() && dk.is_contiguous() && dv.is_contiguous(), "attention_topk_backward",
             "dq, dk, dv must be contiguous");
    const Tensor q = attention_input(q_in), k = attention_input(k_in), v = attention_input(v_in);
    const Tensor grad_out = contiguous_copy(grad_out_in);                          // [B, H, Nq, Dv]
    const Tensor idx = contiguous_copy(idx_in), probs = contiguous_copy(probs_in);  // [B, H, Nq, kk]
    launch_topk_fused_backward<T>(q.data<T>(), head_layout(q), k.data<T>(), head_layout(k), v.data<T>(),
                                  head_layout(v), idx.data<int32_t>(), probs.data<T>(), grad_out.data<T>(),
                                  dq.data<T>(), dk.data<T>(), dv.data<T>(), BH, H, H / k_in.shape()[1], Nq, Nk, D, Dv, kk,
                                  p.scale, rows);
    check_launch("attention_topk_backward");
  });
  return true;
}

}  // namespace memgrad::cuda
