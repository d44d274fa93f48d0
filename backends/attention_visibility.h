#pragma once
// Which keys a query may see: the one statement of the rule for every attention kind and every
// place that applies it (the vanilla composition in autograd/ops/attention.cpp, the CPU kernels,
// the CUDA kernels and their host code). Header-only and usable in device code.
//
// Four things decide it, all here or applied through what is here:
//  - Causal masking, in one of two alignments when Nq != Nk (with Nq == Nk both mean j <= i):
//      bottom_right (the default; FlashAttention's convention, and what memgrad's `causal` has always
//        meant): the last query sees the last key, so query i of Nq sees the keys j <= i + (Nk - Nq).
//        With Nq > Nk the first Nq - Nk queries see no key at all.
//      top_left (PyTorch's `is_causal`, torch.tril): query i sees the keys j <= i. With Nq < Nk the
//        later keys are seen by no query.
//    Either way query i's diagonal is key i + offset().
//  - A sliding window (left, right), FlashAttention's window_size: query i sees the keys
//    i + offset() - left <= j <= i + offset() + right; a negative bound is unbounded. causal is the
//    window's right bound 0; both together take the tighter bound.
//  - Variable-length packing (cu_seqlens, FlashAttention's varlen API): the row holds sequences
//    back to back; a query sees only keys of its own sequence, and the rules above apply inside each
//    sequence with its own lengths (Segment, below).
//  - Key padding (key_valid, per key) and a boolean attn_mask (per pair) are applied on top, where
//    the kernels read them (backends/attention_scores.h).
// So the keys a query may see, before padding and attn_mask, are one interval
// first_key(i) .. last_key(i) of its sequence; both ends never decrease with i. A query that sees no
// key has an all-masked row: output 0 (autograd/attention.h).
#include <cstdint>

#if defined(__CUDACC__)
#define MG_VISIBILITY __host__ __device__ __forceinline__
#else
#define MG_VISIBILITY inline
#endif

namespace memgrad {

enum class CausalAlign : uint8_t { bottom_right, top_left };

struct Visibility {
  int64_t Nq = 0, Nk = 0;  // queries and keys of one (batch, head) row, or of one packed sequence
  bool causal = false;
  CausalAlign align = CausalAlign::bottom_right;
  int64_t window_left = -1, window_right = -1;  // negative: unbounded

  // Query i's diagonal is key i + offset().
  MG_VISIBILITY int64_t offset() const { return align == CausalAlign::top_left ? 0 : Nk - Nq; }
  // Whether any rule narrows the keys below 0 .. Nk - 1 (padding and attn_mask aside).
  MG_VISIBILITY bool limited() const { return causal || window_left >= 0 || window_right >= 0; }

  // The first key query i may see (it sees none when first_key(i) > last_key(i)).
  MG_VISIBILITY int64_t first_key(int64_t i) const {
    const int64_t lo = i + offset() - window_left;
    return window_left >= 0 && lo > 0 ? lo : 0;
  }
  // The last key query i may see; below first_key(i) (possibly negative) when it sees none.
  MG_VISIBILITY int64_t last_key(int64_t i) const {
    const int64_t diag = i + offset();
    int64_t hi = Nk - 1;
    if (causal && diag < hi) hi = diag;
    if (window_right >= 0 && diag + window_right < hi) hi = diag + window_right;
    return hi;
  }
  // How many keys (first_key(i) .. last_key(i)) query i may see, never negative.
  MG_VISIBILITY int64_t keys_seen(int64_t i) const {
    const int64_t n = last_key(i) - first_key(i) + 1;
    return n > 0 ? n : 0;
  }
  // The first query that may see key j: the smallest i with last_key(i) >= j (0 when unbounded).
  MG_VISIBILITY int64_t first_query(int64_t j) const {
    int64_t lo = 0;
    if (causal && j - offset() > lo) lo = j - offset();
    if (window_right >= 0 && j - offset() - window_right > lo) lo = j - offset() - window_right;
    return lo;
  }
  // The last query that may see key j: the largest i with first_key(i) <= j (possibly >= Nq, or
  // below first_query(j) when no query sees it).
  MG_VISIBILITY int64_t last_query(int64_t j) const {
    return window_left >= 0 && j - offset() + window_left < Nq - 1 ? j - offset() + window_left : Nq - 1;
  }
  // Whether query i may see key j (before padding and attn_mask).
  MG_VISIBILITY bool sees(int64_t i, int64_t j) const { return j >= first_key(i) && j <= last_key(i); }
};

// One sequence of a (batch, head) row: queries q0 .. q0 + nq - 1 against keys k0 .. k0 + nk - 1.
// Without packing each row is one segment {0, Nq, 0, Nk}; with cu_seqlens_q / cu_seqlens_k
// (int64 [S + 1], nondecreasing, from 0 to Nq and Nk) sequence s is the s-th segment. Indices
// inside a segment are local: the Visibility of a segment is built from its nq and nk.
struct Segment {
  int64_t q0 = 0, nq = 0, k0 = 0, nk = 0;
};

MG_VISIBILITY Segment packed_segment(const int64_t* cu_q, const int64_t* cu_k, int64_t s) {
  return Segment{cu_q[s], cu_q[s + 1] - cu_q[s], cu_k[s], cu_k[s + 1] - cu_k[s]};
}

}  // namespace memgrad
