#pragma once
// Host-side helpers shared by the attention kernels of every backend: the device-readable view of
// the per-pair inputs (backends/attention_scores.h's ScoreMods), the segments of packed sequences,
// and the check that names an option a kernel path does not implement.
#include <string>
#include <vector>

#include "backends/attention_scores.h"
#include "backends/attention_visibility.h"
#include "backends/backend.h"
#include "core/error.h"

namespace memgrad {

// Pointers into m's tensors (valid on their device) and element strides.
template <class T>
ScoreMods<T> score_mods(const AttentionMods& m, int64_t Nk) {
  ScoreMods<T> s;
  s.Nk = Nk;
  if (m.key_valid.defined()) s.key_valid = m.key_valid.data<bool>();
  if (m.mask.defined()) {
    s.mask = static_cast<const bool*>(m.mask.raw_data());
    for (int d = 0; d < 4; ++d) s.mask_s[d] = m.mask.shape()[d] == 1 ? 0 : m.mask.strides()[d];
  }
  if (m.bias.defined()) {
    s.bias = static_cast<const T*>(m.bias.raw_data());
    for (int d = 0; d < 4; ++d) s.bias_s[d] = m.bias.shape()[d] == 1 ? 0 : m.bias.strides()[d];
  }
  if (m.alibi_slopes.defined()) s.alibi = m.alibi_slopes.data<T>();
  if (m.rel_table.defined()) {
    s.rel_table = m.rel_table.data<T>();
    s.rel_buckets = m.rel_table.shape()[1];
    s.rel_bucket = m.rel_bucket.data<int32_t>();
    s.rel_max_distance = m.rel_max_distance;
  }
  return s;
}

// The sequences of a row: one segment {0, Nq, 0, Nk} without packing, else those of cu_seqlens.
inline std::vector<Segment> attention_segments(const AttentionMods& m, int64_t Nq, int64_t Nk) {
  if (!m.cu_seqlens_q.defined()) return {Segment{0, Nq, 0, Nk}};
  const int64_t* cq = m.cu_seqlens_q.data<int64_t>();
  const int64_t* ck = m.cu_seqlens_k.data<int64_t>();
  std::vector<Segment> out;
  for (int64_t s = 0; s + 1 < m.cu_seqlens_q.numel(); ++s) out.push_back(packed_segment(cq, ck, s));
  return out;
}

// The options of attention, for the check below.
enum AttentionFeature : unsigned {
  attn_window = 1u << 0,
  attn_mask = 1u << 1,
  attn_bias = 1u << 2,
  attn_alibi = 1u << 3,
  attn_relative = 1u << 4,
  attn_gqa = 1u << 5,
  attn_varlen = 1u << 6,
  attn_dropout = 1u << 7,
  attn_all_features = (1u << 8) - 1,
};

// The options a call uses (H query heads, Hkv key/value heads).
inline unsigned attention_features(const AttentionMods& m, const AttentionParams& p, int64_t H, int64_t Hkv) {
  unsigned f = 0;
  if (p.window_left >= 0 || p.window_right >= 0) f |= attn_window;
  if (m.mask.defined()) f |= attn_mask;
  if (m.bias.defined()) f |= attn_bias;
  if (m.alibi_slopes.defined()) f |= attn_alibi;
  if (m.rel_table.defined()) f |= attn_relative;
  if (H != Hkv) f |= attn_gqa;
  if (m.cu_seqlens_q.defined()) f |= attn_varlen;
  if (p.dropout.on) f |= attn_dropout;
  return f;
}

// The name of the first option in `used` outside `supported`, or "" when all are.
inline std::string first_unsupported(unsigned used, unsigned supported) {
  static const char* names[] = {"a sliding window", "attn_mask", "bias", "ALiBi", "relative position bias",
                                "grouped-query heads", "packed sequences", "dropout"};
  for (int b = 0; b < 8; ++b)
    if ((used & ~supported) & (1u << b)) return names[b];
  return "";
}

// Errors naming the first option of this call that a kernel path (`where`, e.g. "the CPU kernels")
// does not implement.
inline void check_attention_supported(const AttentionMods& m, const AttentionParams& p, const Tensor& q,
                                      const Tensor& k, unsigned supported, const char* where, const char* op) {
  const std::string missing = first_unsupported(attention_features(m, p, q.shape()[1], k.shape()[1]), supported);
  MG_CHECK(missing.empty(), op, "{} is not implemented by {} yet (the vanilla kind has it)", missing, where);
}

}  // namespace memgrad
