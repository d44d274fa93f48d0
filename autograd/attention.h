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

#include "core/tensor.h"

namespace memgrad {

enum class AttentionKind { vanilla, chunked, topk };
std::string to_string(AttentionKind k);
AttentionKind parse_attention_kind(const std::string& s);  // "vanilla" | "chunked" | "topk"

struct AttentionOptions {
  AttentionKind kind = AttentionKind::chunked;
  std::optional<double> scale;  // default 1/sqrt(D)
  // Causal masking. When Nq != Nk the queries are the *last* Nq positions of the key sequence
  // (bottom-right alignment, as in FlashAttention and KV-cached decoding): query i may attend
  // keys j <= i + (Nk - Nq).
  bool causal = false;
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

// q [B, H, Nq, D], k [B, H, Nk, D], v [B, H, Nk, Dv] -> [B, H, Nq, Dv].
// A query whose keys are all masked gets output 0 and zero gradients, in every kind.
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
