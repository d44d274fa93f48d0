#pragma once
// The top-k selection of a row of scores shared by top-k attention (cpu_attention_topk.cpp) and
// the top-k feed-forward layer's row_topk (cpu_sparse_rows.cpp): one ordering rule for both.
// Order: higher score first, NaN above +inf (as torch.topk), equal scores to the lower column.
#include <algorithm>
#include <cstdint>
#include <limits>

namespace memgrad::cpu {

template <class T>
struct Scored {
  T s;
  int32_t j;
};
// Higher score first, NaN above everything (as torch.topk); on equal scores the earlier key.
template <class T>
bool ranks_before(const Scored<T>& a, const Scored<T>& b) {
  const bool an = a.s != a.s, bn = b.s != b.s;
  if (an != bn) return an;
  if (!an && a.s != b.s) return a.s > b.s;
  return a.j < b.j;
}

// The largest of x[0, n) with NaN counted as +inf (the selection order); -inf for n = 0.
template <class T>
T select_max(const T* x, int64_t n) {
  T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t i = 0; i < n; ++i) {
    const T v = x[i] != x[i] ? std::numeric_limits<T>::infinity() : x[i];
    m = v > m ? v : m;
  }
  return m;
}

// Selects the `sel` largest scores of s[0, n) among the keys visible to the query (vb: valid
// keys, null = all; the caller has set masked scores to -inf, and a visible key may score -inf
// too). Split the row into sel groups: the smallest group maximum is a lower bound on the sel-th
// largest score (sel distinct elements reach it), so one vectorised pass of maxima and one
// filtering pass leave a few candidates for nth_element. Writes the chosen keys in ascending order
// to idx; returns their count (fewer than sel when fewer keys are visible). cand holds n entries.
template <class T>
int64_t select_top(const T* s, const bool* vb, int64_t n, int64_t sel, Scored<T>* cand, int32_t* idx) {
  const int64_t groups = std::min(sel, n);
  T tau = std::numeric_limits<T>::infinity();
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t b = g * n / groups, e = (g + 1) * n / groups;
    tau = std::min(tau, select_max(s + b, e - b));
  }
  int64_t m = 0;
  for (int64_t j = 0; j < n; ++j) {  // branch-free append
    cand[m] = {s[j], static_cast<int32_t>(j)};
    m += (s[j] >= tau || s[j] != s[j]) & (!vb || vb[j]);
  }
  if (m > sel) std::nth_element(cand, cand + (sel - 1), cand + m, ranks_before<T>), m = sel;
  for (int64_t t = 0; t < m; ++t) idx[t] = cand[t].j;
  std::sort(idx, idx + m);
  return m;
}

}  // namespace memgrad::cpu
