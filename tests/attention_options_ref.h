#pragma once
// A loop reference for attention with every option (tests of autograd/attention.h): each rule
// stated again here, plainly, from the option's definition, as an oracle independent of
// backends/attention_visibility.h. Two things come from the product headers because they are
// definitions, not rules: T5's bucket formula (t5_relative_bucket) and the Philox keep pattern of
// dropout (DropoutRule).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "backends/attention_scores.h"

namespace memgrad::attnref {

using Vec = std::vector<double>;

struct Options {
  int64_t B = 1, H = 1, Hkv = 1, Nq = 1, Nk = 1, D = 1, Dv = 1;
  double scale = 1;
  bool causal = false, top_left = false;
  int64_t window_left = -1, window_right = -1;
  std::function<bool(int64_t b, int64_t h, int64_t i, int64_t j)> allowed;  // key padding and attn_mask; null = all
  std::function<double(int64_t b, int64_t h, int64_t i, int64_t j)> bias;   // null = none
  Vec alibi;                                                                // [H] or empty
  Vec table;                                                                // [H, buckets] or empty
  int64_t buckets = 0, max_distance = 0;
  std::vector<int64_t> cu_q, cu_k;  // packed sequences, or empty
  DropoutRule dropout;
  int64_t top_k = 0;  // 0: all
};

// out [B, H, Nq, Dv] row-major for q [B, H, Nq, D], k [B, Hkv, Nk, D], v [B, Hkv, Nk, Dv].
inline Vec attention(const Vec& q, const Vec& k, const Vec& v, const Options& o) {
  Vec out;
  const int64_t G = o.H / o.Hkv;
  for (int64_t b = 0; b < o.B; ++b)
    for (int64_t h = 0; h < o.H; ++h)
      for (int64_t i = 0; i < o.Nq; ++i) {
        // the sequence of query i and its local index; the keys of that sequence
        int64_t q0 = 0, nq = o.Nq, k0 = 0, nk = o.Nk;
        for (size_t s = 0; s + 1 < o.cu_q.size(); ++s)
          if (i >= o.cu_q[s] && i < o.cu_q[s + 1]) q0 = o.cu_q[s], nq = o.cu_q[s + 1] - q0, k0 = o.cu_k[s], nk = o.cu_k[s + 1] - k0;
        const int64_t il = i - q0, diag = il + (o.top_left ? 0 : nk - nq);
        std::vector<std::pair<double, int64_t>> seen;  // (score, key)
        for (int64_t jl = 0; jl < nk; ++jl) {
          const int64_t j = k0 + jl, rel = jl - diag;
          if (o.causal && rel > 0) continue;
          if (o.window_left >= 0 && rel < -o.window_left) continue;
          if (o.window_right >= 0 && rel > o.window_right) continue;
          if (o.allowed && !o.allowed(b, h, i, j)) continue;
          double s = 0;
          for (int64_t d = 0; d < o.D; ++d)
            s += q[((b * o.H + h) * o.Nq + i) * o.D + d] * k[((b * o.Hkv + h / G) * o.Nk + j) * o.D + d];
          s *= o.scale;
          if (o.bias) s += o.bias(b, h, i, j);
          if (!o.alibi.empty()) s -= o.alibi[h] * static_cast<double>(std::llabs(rel));
          if (!o.table.empty()) {
            const int64_t r = std::clamp<int64_t>(rel, -o.max_distance, o.max_distance);
            s += o.table[h * o.buckets + t5_relative_bucket(r, o.buckets, o.max_distance, !o.causal)];
          }
          seen.push_back({s, j});
        }
        if (o.top_k > 0 && static_cast<int64_t>(seen.size()) > o.top_k) {
          std::stable_sort(seen.begin(), seen.end(), [](auto& x, auto& y) { return x.first > y.first; });
          seen.resize(o.top_k);
        }
        double m = -INFINITY, z = 0;
        for (auto& [s, j] : seen) m = std::max(m, s);
        for (auto& [s, j] : seen) z += m == -INFINITY ? 0 : std::exp(s - m);
        for (int64_t e = 0; e < o.Dv; ++e) {
          double acc = 0;
          for (auto& [s, j] : seen) {
            const double p = z == 0 ? 0 : std::exp(s - m) / z;
            const double keep = o.dropout.keep(b * o.H + h, i, j) ? o.dropout.keep_scale : 0.0;
            acc += p * (o.dropout.on ? keep : 1.0) * v[((b * o.Hkv + h / G) * o.Nk + j) * o.Dv + e];
          }
          out.push_back(acc);
        }
      }
  return out;
}

}  // namespace memgrad::attnref
