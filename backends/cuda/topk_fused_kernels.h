#pragma once
// Fused top-k attention (cuda_topk_fused.cu, cuda_topk_fused.cpp): for top_k <= 256, one kernel per
// pass that never holds more than one tile of scores per block. Plain C++: both nvcc and the C++
// compiler include it. Launchers enqueue on the default stream and do not check errors; the caller
// calls check_launch(op) after each one.
#include <cstdint>

#include "backends/cuda/attention_kernels.h"
#include "backends/op_kinds.h"

namespace memgrad {
struct AttentionMods;  // backends/backend.h
}

namespace memgrad::cuda {

constexpr int64_t kTopkFusedMaxK = 256;        // larger top_k takes the block-wise path
constexpr int kTopkFusedTile = 32;             // keys per tile: one per lane
constexpr int64_t kTopkFusedSmem = 48 * 1024;  // shared memory a block may use without opting in

// Candidate buffer entries per query row: 2 * max(32, the power of 2 >= kk). A compaction leaves
// kk <= cap / 2 entries, so a tile's 32 candidates always fit after one.
inline int topk_fused_capacity(int64_t kk) {
  int64_t half = kTopkFusedTile;
  while (half < kk) half *= 2;
  return static_cast<int>(2 * half);
}

// Dynamic shared memory (bytes) of the forward kernel with `rows` query rows (warps) per block:
// the K tile [32, D + 1], the query rows [rows, D], candidate scores [rows, cap], keys (int32).
inline int64_t topk_fused_fwd_smem(int rows, int64_t D, int64_t kk, int64_t elem) {
  const int64_t cap = topk_fused_capacity(kk);
  return (kTopkFusedTile * (D + 1) + rows * D + rows * cap) * elem + rows * cap * 4;
}
// Query rows per block of the forward: the most of 8, 4, 2, 1 whose shared memory fits; 0: none.
inline int topk_fused_fwd_rows(int64_t D, int64_t kk, int64_t elem) {
  for (int r = 8; r >= 1; r /= 2)
    if (topk_fused_fwd_smem(r, D, kk, elem) <= kTopkFusedSmem) return r;
  return 0;
}
// Dynamic shared memory of the backward kernel: per row (warp) its dp_t [kk] and dQ row [D].
inline int64_t topk_fused_bwd_smem(int rows, int64_t D, int64_t kk, int64_t elem) { return rows * (kk + D) * elem; }
inline int topk_fused_bwd_rows(int64_t D, int64_t kk, int64_t elem) {
  for (int r = 8; r >= 1; r /= 2)
    if (topk_fused_bwd_smem(r, D, kk, elem) <= kTopkFusedSmem) return r;
  return 0;
}

// Forward over every (b, h) and query row: the row's top kk visible scores scale * q_i . k_j
// (ties to the earlier key; NaN and -inf excluded), their softmax and out = sum_t p_t v[idx_t], as
// launch_topk_select documents. q, k, v are [B, H, N, *] views (unit last stride) at the given
// pointers (k, v with H / mk.G heads: query head h reads head h / G); key tiles outside a row
// group's band (causal, window) are skipped. out [BH, Nq, Dv], idx and probs [BH, Nq, kk] are dense;
// lse [BH, Nq] (the logsumexp of the kept scores, +inf when none) is written when not null. 1 <= kk <= kTopkFusedMaxK;
// rows = topk_fused_fwd_rows(D, kk, sizeof(T)) > 0.
template <class T>
void launch_topk_fused_forward(const T* q, HeadLayout ql, const T* k, HeadLayout kl, const T* v, HeadLayout vl,
                               const AttnMask& mk, int64_t BH, int64_t D, int64_t Dv, int64_t kk, double scale,
                               int rows, T* out, int32_t* idx, T* probs, T* lse);
// Backward, one warp per query row: dq += scale sum_t ds_t k[idx_t] (the warp owns the row),
// dk[idx_t] += scale ds_t q and dv[idx_t] += p_t dO (atomic). dO, dq [BH, Nq, *], dk, dv
// [BH / G, Nk, *] (query head h adds into key/value head h / G), idx, probs [BH, Nq, kk] dense;
// rows = topk_fused_bwd_rows(D, kk, sizeof(T)) > 0.
template <class T>
void launch_topk_fused_backward(const T* q, HeadLayout ql, const T* k, HeadLayout kl, const T* v, HeadLayout vl,
                                const int32_t* idx, const T* probs, const T* dO, T* dq, T* dk, T* dv, int64_t BH,
                                int64_t H, int64_t G, int64_t Nq, int64_t Nk, int64_t D, int64_t Dv, int64_t kk,
                                double scale, int rows);

// ---- host (cuda_topk_fused.cpp) ----
// The attention options (backends/attention_mods.h) the fused kernels implement besides causal
// masking (either alignment) and key padding: the sliding window and grouped-query heads
// (attn_window | attn_gqa, spelled as numbers: nvcc includes this header without attention_mods.h;
// cuda_topk_fused.cpp checks them against the names). A call using any other takes the block-wise path.
inline constexpr unsigned kTopkFusedFeatures = (1u << 0) | (1u << 5);
// Run the fused kernels when they apply (p.fused, float32 or float64, 1 <= kk <= kTopkFusedMaxK,
// the shared memory fits, no option outside kTopkFusedFeatures) and return true; return false to
// leave the block-wise path to the caller.
bool topk_fused_forward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMods& m,
                        const AttentionParams& p, Tensor& out, Tensor& idx, Tensor& probs, Tensor& lse);
bool topk_fused_backward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMods& m, const Tensor& idx,
                         const Tensor& probs, const Tensor& grad_out, const AttentionParams& p, Tensor& dq, Tensor& dk,
                         Tensor& dv);

}  // namespace memgrad::cuda
