#pragma once
// Scaled dot-product attention in three kinds behind one interface (DESIGN.md, "Attention").
//
//   vanilla  softmax(QK^T s + mask) V from primitive ops: autograd saves the [Nq, Nk] probabilities.
//   chunked  the same values, exactly, by online softmax over key chunks (Rabe & Staats 2021): one
//            autograd node that saves Q, K, V, O and one logsumexp per query row, and recomputes
//            score blocks in backward (FlashAttention-2 style). Nothing of size Nq x Nk exists.
//   topk     each query keeps its top_k largest unmasked scores and softmaxes over them
//            (Gupta et al. 2021); saves only their indices and probabilities.
#include <cstdint>
#include <optional>
#include <string>

#include "backends/attention_visibility.h"
#include "core/tensor.h"

namespace memgrad {

enum class AttentionKind { vanilla, chunked, topk };
std::string to_string(AttentionKind k);
AttentionKind parse_attention_kind(const std::string& s);  // "vanilla" | "chunked" | "topk"
std::string to_string(CausalAlign a);
CausalAlign parse_causal_align(const std::string& s);  // "bottom_right" | "top_left"

struct AttentionOptions {
  AttentionKind kind = AttentionKind::chunked;
  std::optional<double> scale;  // default 1/sqrt(D)
  // Causal masking. When Nq != Nk, causal_align says how queries and keys line up
  // (backends/attention_visibility.h, the one statement of the rule):
  //   bottom_right (default): the queries are the *last* Nq positions of the key sequence, as in
  //     FlashAttention and KV-cached decoding: query i may attend keys j <= i + (Nk - Nq);
  //   top_left: PyTorch's is_causal (torch.tril): query i may attend keys j <= i.
  bool causal = false;
  CausalAlign causal_align = CausalAlign::bottom_right;
  // Key padding: either a bool [B, Nk] tensor, true where the key is padding (ignored), as in
  // PyTorch's key_padding_mask, or per-batch valid lengths, int [B] (keys j >= length ignored).
  Tensor key_padding_mask;
  Tensor key_lengths;
  // Block sizes of the chunked and topk kinds; unset picks the defaults measured by
  // benchmarks/attention (docs/attention.md). Must be positive when given.
  std::optional<int64_t> q_chunk;
  std::optional<int64_t> k_chunk;
  int64_t top_k = 64;  // topk kind: keys kept per query (all of them when >= Nk)
  // GPU only. fused: one kernel per pass (FlashAttention-style tiles in on-chip memory) where the
  // shapes allow it, else the block-wise cuBLAS path; false forces the block-wise path (tests
  // compare the two). float32 products stay float32 (no TF32 tensor cores).
  bool fused = true;
};

// q [B, H, Nq, D], k [B, H, Nk, D], v [B, H, Nk, Dv] -> [B, H, Nq, Dv]. Any view (copied once
// where the kernels cannot read it in place: backend.h, "Attention input layout").
//
// Masks and non-finite values, the same in every kind and on every device (tests/test_nan_rules.cpp):
//  - A key is visible to query i unless it is padding or (causal) after i's last key.
//  - Visible pairs compute as the dense formulas do, in IEEE arithmetic: s_ij = scale q_i . k_j,
//    p_i = softmax over i's visible keys, out_i = sum_j p_ij v_j, and their gradients. So a NaN or
//    +inf among row i's visible scores makes all of p_i and out_i NaN (softmax's rule), a NaN or
//    inf in a visible v_j reaches out_i (0 * inf = NaN where p_ij underflows), and so on.
//  - Masked pairs carry nothing: whatever q_i, k_j or v_j hold, a masked pair (i, j) adds nothing
//    to out_i and no gradient to q_i, k_j or v_j.
//  - A query with no visible key gets output 0 and zero gradients. A query whose visible scores
//    are all -inf gets probabilities 0 (softmax's all -inf rule): out_i = sum_j 0 * v_j.
//  - topk keeps, among the visible keys, the top_k highest scores, NaN above +inf above the rest
//    (torch.topk), ties to the earlier key; the keys it does not keep count as masked. With
//    top_k >= Nk it equals vanilla, NaN pattern included.
//  - One exception: a non-finite gradient of the output reaches vanilla's dv of keys masked for
//    that row (0 * inf in its dense product), not the other kinds'.
// key_lengths outside [0, Nk] are an error (key_valid_mask).
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& opts = {});

// The keys each batch element may attend, by the rule attention() applies (and the pooling heads
// can share): bool [B, Nk] on `device`, true = valid, contiguous; undefined when neither mask is
// given. key_padding_mask: bool [B, Nk], true = padding. key_lengths: int [B], keys j >= length are
// padding; each length must lie in [0, Nk]. Anything else (both given, wrong shape or dtype, a
// length out of range) is an Error naming `op` (and, for a length, the batch index and the value).
Tensor key_valid_mask(const Tensor& key_padding_mask, const Tensor& key_lengths, int64_t B, int64_t Nk, Device device,
                      const char* op = "attention");

// The default block sizes, measured by `bench_attention --sweep` (docs/attention.md): chunked
// forward+backward at N=4096 was fastest with 256 x 256 blocks, topk with 64 query rows.
constexpr int64_t kDefaultQChunk = 256;
constexpr int64_t kDefaultKChunk = 256;
constexpr int64_t kDefaultTopkQChunk = 64;

}  // namespace memgrad
