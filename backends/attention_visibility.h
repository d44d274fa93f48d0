#pragma once
// Which keys a query may see: the one statement of the rule for every attention kind and every
// place that applies it (the vanilla composition in autograd/ops/attention.cpp, the CPU kernels,
// the CUDA kernels and their host code). Header-only and usable in device code.
//
// Causal attention has two alignments when Nq != Nk (with Nq == Nk both mean j <= i):
//   bottom_right (the default; FlashAttention's convention, and what memgrad's `causal` has always
//     meant): the last query sees the last key, so query i of Nq sees the keys j <= i + (Nk - Nq).
//     With Nq > Nk the first Nq - Nk queries see no key at all.
//   top_left (PyTorch's `is_causal`, torch.tril): query i sees the keys j <= i. With Nq < Nk the
//     later keys are seen by no query.
// A query that sees no key has an all-masked row: output 0 (autograd/attention.h). Key padding
// (key_valid) is a per-key rule applied on top, where the kernels read the mask. Either way the
// keys a query sees are a prefix 0 .. last_key(i), and last_key never decreases with i.
#include <cstdint>

#if defined(__CUDACC__)
#define MG_VISIBILITY __host__ __device__ __forceinline__
#else
#define MG_VISIBILITY inline
#endif

namespace memgrad {

enum class CausalAlign : uint8_t { bottom_right, top_left };

struct Visibility {
  int64_t Nq = 0, Nk = 0;  // queries and keys of one (batch, head) row
  bool causal = false;
  CausalAlign align = CausalAlign::bottom_right;

  // Query i's diagonal is key i + offset().
  MG_VISIBILITY int64_t offset() const { return align == CausalAlign::top_left ? 0 : Nk - Nq; }

  // The last key query i may see; negative when it sees none.
  MG_VISIBILITY int64_t last_key(int64_t i) const {
    const int64_t last = Nk - 1, diag = i + offset();
    return causal && diag < last ? diag : last;
  }
  // How many keys (0, 1, .., last_key(i)) query i may see: a prefix of the keys, never negative.
  MG_VISIBILITY int64_t keys_seen(int64_t i) const {
    const int64_t n = last_key(i) + 1;
    return n > 0 ? n : 0;
  }
  // The first query that may see key j (queries first_query(j) .. Nq - 1 see it).
  MG_VISIBILITY int64_t first_query(int64_t j) const {
    const int64_t first = j - offset();
    return causal && first > 0 ? first : 0;
  }
  // Whether query i may see key j (before key padding).
  MG_VISIBILITY bool sees(int64_t i, int64_t j) const { return j <= last_key(i); }
};

}  // namespace memgrad
