#pragma once
// What attention adds to and masks in each score, and attention dropout: the one statement of
// these rules for the vanilla composition, the CPU kernels and the CUDA kernels (autograd/attention.h
// documents the options). Header-only and usable in device code; the kernels get the raw pointers
// from backend.h's AttentionMods (host side: backends/attention_mods.h).
//
// For query i and key j of head h of batch b (indices of the whole row; rel is the segment-local
// relative position j - (i + offset()), backends/attention_visibility.h), the score is
//     s = scale * q_i . k_j + bias[b, h, i, j] - slope[h] * |rel| + table[h, bucket(rel)]
// each term present when its option is given, and the pair takes part only when the visibility
// rule, key padding and attn_mask[b, h, i, j] all allow it. Dropout then zeroes probability p_ij
// with probability dropout_p and scales the kept ones by 1 / (1 - dropout_p).
#include <cmath>
#include <cstdint>

#include "backends/attention_visibility.h"
#include "core/philox.h"

namespace memgrad {

// The per-pair terms, as device-readable pointers and element strides (stride 0 broadcasts).
template <class T>
struct ScoreMods {
  const bool* key_valid = nullptr;  // [B, Nk] contiguous, true = may attend
  const bool* mask = nullptr;       // [B|1, H|1, Nq, Nk] view, true = may attend
  int64_t mask_s[4] = {0, 0, 0, 0};
  const T* bias = nullptr;  // [B|1, H|1, Nq, Nk] view, added to the score
  int64_t bias_s[4] = {0, 0, 0, 0};
  const T* alibi = nullptr;         // [H] slopes: - slope * |rel|
  const T* rel_table = nullptr;     // [H, rel_buckets] contiguous: + table[h, bucket(rel)]
  const int32_t* rel_bucket = nullptr;  // [2 * rel_max_distance + 1]: the bucket of rel at rel + max
  int64_t rel_buckets = 0, rel_max_distance = 0, Nk = 0;

  MG_VISIBILITY bool any_pair_mask() const { return key_valid || mask; }
  MG_VISIBILITY bool any_term() const { return bias || alibi || rel_table; }
  // Whether key padding and attn_mask let query i see key j (the visibility rule is separate).
  MG_VISIBILITY bool allowed(int64_t b, int64_t h, int64_t i, int64_t j) const {
    if (key_valid && !key_valid[b * Nk + j]) return false;
    return !mask || mask[b * mask_s[0] + h * mask_s[1] + i * mask_s[2] + j * mask_s[3]];
  }
  MG_VISIBILITY int64_t bucket_index(int64_t rel) const {  // relative positions beyond +-max share the end buckets
    const int64_t r = rel < -rel_max_distance ? -rel_max_distance : rel > rel_max_distance ? rel_max_distance : rel;
    return rel_bucket[r + rel_max_distance];
  }
  // The sum of the additive terms for (b, h, i, j) at relative position rel.
  MG_VISIBILITY T term(int64_t b, int64_t h, int64_t i, int64_t j, int64_t rel) const {
    T t = T(0);
    if (bias) t += bias[b * bias_s[0] + h * bias_s[1] + i * bias_s[2] + j * bias_s[3]];
    if (alibi) t -= alibi[h] * static_cast<T>(rel < 0 ? -rel : rel);
    if (rel_table) t += rel_table[h * rel_buckets + bucket_index(rel)];
    return t;
  }
};

// T5's bucketed relative position (Raffel et al. 2020; HF transformers' _relative_position_bucket):
// rel = key - query. Bidirectional: half the buckets for rel > 0. Then |rel| below half of the
// (remaining) buckets has its own bucket, larger distances share log-spaced buckets up to
// max_distance, beyond which all share the last. Unidirectional: rel > 0 counts as 0. Computed on
// the host once per call into a table (AttentionMods::rel_bucket), so every kernel and the vanilla
// composition read the same buckets.
inline int32_t t5_relative_bucket(int64_t rel, int64_t buckets, int64_t max_distance, bool bidirectional) {
  int64_t ret = 0, n = -rel;
  if (bidirectional) {
    buckets /= 2;
    if (n < 0) ret += buckets;
    n = n < 0 ? -n : n;
  } else if (n < 0) {
    n = 0;
  }
  const int64_t max_exact = buckets / 2;
  if (n < max_exact) return static_cast<int32_t>(ret + n);
  // float32 arithmetic as in the reference implementation
  const float large = std::log(static_cast<float>(n) / static_cast<float>(max_exact)) /
                      std::log(static_cast<float>(max_distance) / static_cast<float>(max_exact)) *
                      static_cast<float>(buckets - max_exact);
  int64_t v = max_exact + static_cast<int64_t>(large);
  if (v > buckets - 1) v = buckets - 1;
  return static_cast<int32_t>(ret + v);
}

// ALiBi's default slopes (Press et al. 2022): for H a power of two, 2^(-8 (h + 1) / H); otherwise
// those of the power of two below H, then every other slope of the power of two above.
inline double alibi_default_slope(int64_t h, int64_t H) {
  auto pow2_slopes = [](int64_t n, int64_t idx) { return std::pow(2.0, -8.0 * static_cast<double>(idx + 1) / n); };
  int64_t p = 1;
  while (p * 2 <= H) p *= 2;
  if (h < p) return pow2_slopes(p, h);
  return pow2_slopes(2 * p, 2 * (h - p));
}

// Attention dropout: whether probability (bh, i, j) is kept. One Philox draw per four keys of a
// row, counter (j / 4, i, bh, call), key the seed; word j % 4 compared with threshold, so the keep
// pattern is the same in forward and backward, in every kind and on every device. bh = b * H + h
// (query heads); i, j index the whole row (packed sequences included).
struct DropoutRule {
  uint32_t threshold = 0;  // keep when the bits are below it: (1 - p) * 2^32
  uint32_t k0 = 0, k1 = 0, call = 0;
  double keep_scale = 1;   // 1 / (1 - p); 0 when p = 1
  bool on = false;

  MG_VISIBILITY Philox4 bits4(int64_t bh, int64_t i, int64_t j4) const {  // words for keys 4 j4 .. 4 j4 + 3
    return philox4x32(Philox4{{static_cast<uint32_t>(j4), static_cast<uint32_t>(i), static_cast<uint32_t>(bh), call}},
                      k0, k1);
  }
  MG_VISIBILITY bool keep(int64_t bh, int64_t i, int64_t j) const {
    return !on || bits4(bh, i, j >> 2).w[j & 3] < threshold;
  }
  // keep(bh, i, j) for the keys j0 .. j0 + n - 1 of one row into out[0, n) (1 = kept), one draw per
  // four keys (kernels taking a row of a block at once).
  MG_VISIBILITY void keep_run(int64_t bh, int64_t i, int64_t j0, int64_t n, uint8_t* out) const {
    if (n <= 0) return;
    const int64_t a = (j0 + 3) >> 2, z = (j0 + n) >> 2;  // whole groups of four: a .. z - 1
    for (int64_t j = j0; j < j0 + n && j < 4 * a; ++j) out[j - j0] = keep(bh, i, j);
    for (int64_t j4 = a; j4 < z; ++j4) {
      const Philox4 w = bits4(bh, i, j4);
      for (int e = 0; e < 4; ++e) out[4 * j4 + e - j0] = !on || w.w[e] < threshold;
    }
    for (int64_t j = z > a ? 4 * z : 4 * a; j < j0 + n; ++j) out[j - j0] = keep(bh, i, j);
  }
};

// The rule for dropout probability p in [0, 1] and the generator state (seed, offset) of one call.
inline DropoutRule make_dropout_rule(double p, uint64_t seed, uint64_t offset) {
  DropoutRule r;
  if (!(p > 0)) return r;
  r.on = true;
  const double keep = 1.0 - p;
  const double t = std::floor(keep * 4294967296.0);
  r.threshold = t >= 4294967295.0 ? 4294967295u : static_cast<uint32_t>(t);
  r.keep_scale = keep > 0 ? 1.0 / keep : 0.0;
  r.k0 = static_cast<uint32_t>(seed);
  r.k1 = static_cast<uint32_t>(seed >> 32) ^ static_cast<uint32_t>(offset >> 32);
  r.call = static_cast<uint32_t>(offset);
  return r;
}

}  // namespace memgrad
