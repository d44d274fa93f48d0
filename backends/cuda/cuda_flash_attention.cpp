// Host side of the fused chunked attention kernels (cuda_flash_attention.cu): which inputs they
// take, and the forward / backward entry points CudaBackend::attention_chunked_* dispatch to when
// AttentionParams::fused is set. q, k, v are used in place (any strides with a unit last dim).
#include "backends/attention_mods.h"
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/flash_attention_kernels.h"
#include "core/error.h"
#include "core/tensor.h"

namespace memgrad::cuda {

namespace {

constexpr int64_t kMaxGridY = 65535;  // B * H runs along the grid's y dimension

// The options of attention_features the fused kernels implement (with causal and key padding).
constexpr unsigned kFlashAttentionFeatures = attn_window | attn_gqa;

FlashShape flash_shape(const Tensor& q, const Tensor& k, const Tensor& key_valid, const AttentionParams& p) {
  FlashShape s;
  s.H = q.shape()[1];
  s.Nq = q.shape()[2];
  s.Nk = k.shape()[2];
  s.G = s.H / k.shape()[1];
  s.BH = q.shape()[0] * s.H;
  s.valid = key_valid.defined() ? key_valid.data<bool>() : nullptr;  // [B, Nk], contiguous
  s.vis = p.visibility(s.Nq, s.Nk);
  s.scale = static_cast<float>(p.scale);  // as the CPU's T(p.scale)
  return s;
}

}  // namespace

bool flash_attention_supported(const Tensor& q, const Tensor& k, const Tensor& v) {
  const int64_t D = q.shape()[3];
  if (q.dtype() != DType::float32 || !flash_head_dim_supported(D)) return false;
  if (k.shape()[3] != D || v.shape()[3] != D) return false;
  for (const Tensor* t : {&q, &k, &v})
    if (t->strides()[3] != 1) return false;
  return q.shape()[0] * q.shape()[1] <= kMaxGridY;
}

bool flash_attention_supported(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMods& m,
                               const AttentionParams& p) {
  const unsigned used = attention_features(m, p, q.shape()[1], k.shape()[1]);
  return (used & ~kFlashAttentionFeatures) == 0 && flash_attention_supported(q, k, v);
}

void flash_attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_valid,
                             const AttentionParams& p, Tensor& out, Tensor& lse) {
  const FlashShape s = flash_shape(q, k, key_valid, p);
  if (s.BH == 0 || s.Nq == 0) return;
  MG_CHECK(out.is_contiguous() && lse.is_contiguous(), "attention", "out and lse must be contiguous");
  // out [B, H, Nq, D], lse [B, H, Nq]
  launch_flash_fwd(q.data<float>(), head_layout(q), k.data<float>(), head_layout(k), v.data<float>(), head_layout(v),
                   s, q.shape()[3], out.data<float>(), lse.data<float>());
  check_launch("attention");
}

void flash_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_valid,
                              const Tensor& out_in, const Tensor& lse_in, const Tensor& grad_out_in,
                              const AttentionParams& p, Tensor& dq, Tensor& dk, Tensor& dv) {
  const FlashShape s = flash_shape(q, k, key_valid, p);
  if (s.BH == 0 || s.Nq == 0 || s.Nk == 0) return;  // no score: every gradient stays 0
  MG_CHECK(dq.is_contiguous() && dk.is_contiguous() && dv.is_contiguous(), "attention_backward",
           "dq, dk, dv must be contiguous");
  const int64_t D = q.shape()[3];
  const Tensor grad_out = contiguous_copy(grad_out_in), out = contiguous_copy(out_in), lse = contiguous_copy(lse_in);
  // delta_i = rowsum(dO_i * O_i)  [B, H, Nq]
  Tensor delta = empty({q.shape()[0], s.H, s.Nq}, DType::float32, q.device());
  launch_attn_row_dot<float>(grad_out.data<float>(), out.data<float>(), delta.data<float>(), s.BH * s.Nq, D);
  check_launch("attention_backward");
  launch_flash_bwd(q.data<float>(), head_layout(q), k.data<float>(), head_layout(k), v.data<float>(), head_layout(v),
                   s, D, grad_out.data<float>(), lse.data<float>(), delta.data<float>(), dq.data<float>(),
                   dk.data<float>(), dv.data<float>());
  check_launch("attention_backward");
}

}  // namespace memgrad::cuda
