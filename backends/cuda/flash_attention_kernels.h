#pragma once
// Fused chunked attention (FlashAttention-2 style) for float32 with D == Dv in {32, 64, 128}: one
// kernel per pass, score tiles in registers and shared memory, nothing of size Nq x Nk in global
// memory. Launchers (cuda_flash_attention.cu) and the host entry points the block-wise methods
// dispatch to (cuda_flash_attention.cpp). Plain C++: both nvcc and the C++ compiler include it.
// Launchers enqueue on the default stream and do not check errors; the caller calls
// check_launch(op) after each one.
#include "backends/attention_visibility.h"
#include <cstdint>

#include "backends/cuda/attention_kernels.h"

namespace memgrad {
struct AttentionParams;  // backends/op_kinds.h
struct AttentionMods;    // backends/backend.h
}

namespace memgrad::cuda {

// What every fused kernel needs besides pointers: sizes, the mask and the scale.
struct FlashShape {
  int64_t H = 1, Nq = 0, Nk = 0;
  int64_t G = 1;                // query heads per key/value head (grouped-query attention)
  int64_t BH = 0;               // B * H: the grid's y extent (<= 65535)
  const bool* valid = nullptr;  // key_valid [B, Nk] (true = attend), or null
  Visibility vis;               // which keys query i sees: backends/attention_visibility.h
  float scale = 1;
};

// The head dims the kernels are built for (q, k and v share it).
inline bool flash_head_dim_supported(int64_t d) { return d == 32 || d == 64 || d == 128; }

// out [BH, Nq, D] and lse [BH, Nq] (dense): out = softmax(scale q k^T, masked) v per row and
// lse = its log-sum-exp; a row with no visible key gets out = 0, lse = +inf. q is a [B, H, Nq, D]
// view, k, v [B, H / G, Nk, D] views (query head h reads head h / G), with unit stride in the last
// dim, laid out as their HeadLayout says. Key tiles outside a query tile's band (causal, window)
// are skipped, in both passes.
void launch_flash_fwd(const float* q, HeadLayout ql, const float* k, HeadLayout kl, const float* v, HeadLayout vl,
                      const FlashShape& s, int64_t D, float* out, float* lse);

// Accumulates the gradients of the forward above into the dense, zero-initialised dq [BH, Nq, D],
// dk and dv [B * H / G, Nk, D]; dO [BH, Nq, D], lse and delta = rowsum(dO * out) [BH, Nq] are dense.
// dq is accumulated with float atomicAdd (its last bits depend on the order blocks finish), and so
// are dk and dv when G > 1 (the G query heads of a group add into the same rows).
void launch_flash_bwd(const float* q, HeadLayout ql, const float* k, HeadLayout kl, const float* v, HeadLayout vl,
                      const FlashShape& s, int64_t D, const float* dO, const float* lse, const float* delta, float* dq,
                      float* dk, float* dv);

// ---- host side (cuda_flash_attention.cpp) ----

// Whether the fused kernels take these inputs: float32, D == Dv in {32, 64, 128}, unit stride in
// the last dim, B * H within the grid's y limit.
bool flash_attention_supported(const Tensor& q, const Tensor& k, const Tensor& v);
// The shapes above, and no attention option (backends/attention_mods.h) beyond those the fused
// kernels implement: causal masking (either alignment), key padding, the sliding window and
// grouped-query heads (kFlashAttentionFeatures in cuda_flash_attention.cpp). A call using any other
// takes the block-wise path.
bool flash_attention_supported(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMods& m,
                               const AttentionParams& p);
// Backend::attention_chunked_forward / _backward through the fused kernels (checks launches).
void flash_attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_valid,
                             const AttentionParams& p, Tensor& out, Tensor& lse);
void flash_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_valid,
                              const Tensor& out, const Tensor& lse, const Tensor& grad_out, const AttentionParams& p,
                              Tensor& dq, Tensor& dk, Tensor& dv);

}  // namespace memgrad::cuda
