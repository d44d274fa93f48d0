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
#include "core/random.h"
#include "core/tensor.h"

namespace memgrad {

enum class AttentionKind { vanilla, chunked, topk };
std::string to_string(AttentionKind k);
AttentionKind parse_attention_kind(const std::string& s);  // "vanilla" | "chunked" | "topk"
std::string to_string(CausalAlign a);
CausalAlign parse_causal_align(const std::string& s);  // "bottom_right" | "top_left"

// A position bias computed inside the kernels, never stored as Nq x Nk.
enum class PositionBias { none, alibi, relative };
std::string to_string(PositionBias p);
PositionBias parse_position_bias(const std::string& s);  // "none" | "alibi" | "relative"

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
  // Sliding window (FlashAttention's window_size): query i sees keys i + o - window_left ..
  // i + o + window_right, o the causal alignment's offset (0 for top_left, Nk - Nq otherwise);
  // -1 leaves that side unbounded. With causal, the tighter right bound holds.
  int64_t window_left = -1, window_right = -1;
  // A boolean mask, broadcastable to [B, H, Nq, Nk], true = may attend (PyTorch's bool attn_mask).
  Tensor attn_mask;
  // An additive float bias, broadcastable to [B, H, Nq, Nk], q's dtype; it gets a gradient when it
  // requires one (summed over its broadcast dims). -inf entries mask like attn_mask.
  Tensor bias;
  // Position bias computed in the kernels from the relative position rel = j - (i + o) (within
  // each packed sequence):
  //   alibi:    - slope[h] * |rel|; alibi_slopes [H] (no gradient), undefined = the paper's
  //             defaults 2^(-8 (h + 1) / H) (backends/attention_scores.h);
  //   relative: + relative_table[h, bucket(rel)], T5's buckets (relative_buckets = table width,
  //             relative_max_distance, bidirectional unless causal); the table [H, buckets] is
  //             learned: its gradient is accumulated in backward.
  PositionBias position = PositionBias::none;
  Tensor alibi_slopes;
  Tensor relative_table;
  int64_t relative_max_distance = 128;
  // Packed variable-length sequences (FlashAttention's varlen API): q [1, H, total_q, D] and k, v
  // [1, Hkv, total_k, *] hold S sequences back to back; cu_seqlens_q / cu_seqlens_k are int [S + 1],
  // nondecreasing from 0 to total_q / total_k. No query sees another sequence's keys; causal,
  // window and position biases apply inside each sequence. Both or neither; not with key padding.
  Tensor cu_seqlens_q, cu_seqlens_k;
  // Dropout on the attention probabilities (kept ones scaled by 1 / (1 - p)), in training only:
  // nn passes 0 in eval. The keep pattern comes from `generator` (default_generator() when null)
  // and is regenerated in backward, so nothing is saved for it.
  double dropout_p = 0;
  Generator* generator = nullptr;
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
  // Context parallelism (ring attention, docs/distributed.md): q, k and v hold this rank's share
  // of one sequence split across the ranks of memgrad::dist in the zigzag order of
  // context_parallel_shard; k/v blocks travel around the ring while each rank attends its queries
  // to them, and the partial results merge by their logsumexp. Memory per rank is O(N / P).
  // Chunked kind only, self-attention (q, k, v split alike), with causal (either alignment: the
  // global Nq = Nk) and GQA; the other options are errors naming them. With one rank it is plain
  // chunked attention.
  bool context_parallel = false;
};

// This rank's share of a whole sequence (x's `dim` holds all N positions) for context parallelism:
// N is cut into 2P chunks as even as possible (the first N mod 2P one longer), and rank r keeps
// chunks r and 2P - 1 - r, concatenated, so that under the causal rule every rank has the same
// work (the zigzag split). Differentiable (narrow and cat).
Tensor context_parallel_shard(const Tensor& x, int64_t dim);
// The rows of an n-row sequence that rank `rank` of `ranks` holds under that split.
int64_t context_parallel_rows(int64_t n, int rank, int ranks);

// q [B, H, Nq, D], k [B, Hkv, Nk, D], v [B, Hkv, Nk, Dv] -> [B, H, Nq, Dv], with Hkv dividing H
// (grouped-query attention; Hkv = 1 is multi-query): query head h reads key/value head
// h / (H / Hkv) in place, and their gradients sum over the heads that share them. Any view (copied once
// where the kernels cannot read it in place: backend.h, "Attention input layout").
//
// Masks and non-finite values, the same in every kind and on every device (tests/test_nan_rules.cpp):
//  - A key is visible to query i unless the visibility rule (causal, window, packed sequences:
//    backends/attention_visibility.h), key padding or attn_mask hide it.
//  - Visible pairs compute as the dense formulas do, in IEEE arithmetic: s_ij = scale q_i . k_j
//    + bias + position terms (backends/attention_scores.h),
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

// attention() with optional outputs for inspection, none of them differentiable:
//   lse [B, H, Nq]: the logsumexp of each query row's visible scores (over the kept keys for topk;
//     +inf for a row with no visible key), the statistic chunked saves for backward;
//   probs [B, H, Nq, Nk]: the attention probabilities before dropout, dense (so for small N);
//   topk_indices int32 / topk_weights [B, H, Nq, kk]: the keys each query kept (-1 in unused
//     slots) and their probabilities (topk kind only).
struct AttentionWant {
  bool lse = false, probs = false, topk = false;
};
struct AttentionResult {
  Tensor out, lse, probs, topk_indices, topk_weights;
};
AttentionResult attention_outputs(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& opts,
                                  AttentionWant want);

// The keys each batch element may attend, by the rule attention() applies (and the pooling heads
// can share): bool [B, Nk] on `device`, true = valid, contiguous; undefined when neither mask is
// given. key_padding_mask: bool [B, Nk], true = padding. key_lengths: int [B], keys j >= length are
// padding; each length must lie in [0, Nk]. Anything else (both given, wrong shape or dtype, a
// length out of range) is an Error naming `op` (and, for a length, the batch index and the value).
Tensor key_valid_mask(const Tensor& key_padding_mask, const Tensor& key_lengths, int64_t B, int64_t Nk, Device device,
                      const char* op = "attention");

// The default block sizes, measured by `bench_attention --sweep` (docs/attention.md, "Block
// sizes"): chunked forward+backward with 256 x 512 blocks was 22% faster than 256 x 256 at D = 32
// (B = 8, H = 4, N = 1024, the training step of issue 16) and as fast at D = 64 (N = 4096), for
// 1 MiB more per thread; topk was fastest with 64 query rows.
constexpr int64_t kDefaultQChunk = 256;
constexpr int64_t kDefaultKChunk = 512;
constexpr int64_t kDefaultTopkQChunk = 64;

}  // namespace memgrad
