#pragma once
// Pieces shared by the CPU attention kernels: per-head pointers, which pairs of a block take part
// and the terms added to their scores (through the rule headers), finiteness checks and
// per-thread workspaces taken from the framework's allocator (so peak-memory figures include them).
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "backends/attention_mods.h"
#include "backends/attention_visibility.h"
#include "backends/backend.h"
#include "core/tensor.h"

namespace memgrad::cpu {

// Element (b, h, 0, 0) of a [B, H, N, D] view in the attention input layout (backend.h).
template <class T>
T* head(const Tensor& t, int64_t b, int64_t h) {
  return static_cast<T*>(t.raw_data()) + b * t.strides()[0] + h * t.strides()[1];
}
// Elements between rows: the BLAS leading dim (the row stride wherever a second row is addressed).
inline int64_t row_stride(const Tensor& t) { return attention_row_ld(t); }

// The options each CPU kernel implements so far (backends/attention_mods.h); any other is an error
// naming it.
inline constexpr unsigned kCpuChunkedFeatures = attn_all_features;
inline constexpr unsigned kCpuTopkFeatures = attn_all_features;

// How many pairs of a block take part: none (the block is skipped), some (`seen` says which) or all.
enum class Cover { none, some, all };

// Which pairs of the block of segment `sg` (segment-local queries i0 .. i0 + nq - 1, keys j0 ..
// j0 + nk - 1; head h of batch b) take part: the visibility rule `vis` (the segment's) and key
// padding and attn_mask (ScoreMods::allowed, whole-row indices). `seen` [nq, nk] (1 = takes part)
// is written unless the answer is `all` without padding or attn_mask.
template <class T>
Cover block_cover(const ScoreMods<T>& sm, const Visibility& vis, const Segment& sg, int64_t b, int64_t h,
                  int64_t i0, int64_t nq, int64_t j0, int64_t nk, uint8_t* seen) {
  // first_key and last_key never decrease with i: the last row has the highest first key, the
  // first row the lowest last key
  const bool vis_all = vis.first_key(i0 + nq - 1) <= j0 && vis.last_key(i0) >= j0 + nk - 1;
  if (vis_all && !sm.any_pair_mask()) return Cover::all;
  // Without attn_mask, allowed() depends on the key only: computed once into row 0, which is then
  // copied to the rows, last row first (row 0 is read until the end).
  const bool per_key = !sm.mask;
  if (per_key)
    for (int64_t c = 0; c < nk; ++c) seen[c] = sm.allowed(b, h, sg.q0 + i0, sg.k0 + j0 + c);
  int64_t n = 0;
  for (int64_t r = nq - 1; r >= 0; --r) {
    const int64_t lo = std::clamp<int64_t>(vis.first_key(i0 + r) - j0, 0, nk);
    const int64_t hi = std::clamp<int64_t>(vis.last_key(i0 + r) - j0 + 1, lo, nk);
    uint8_t* s = seen + r * nk;
    if (per_key) {
      if (r > 0) std::copy(seen + lo, seen + hi, s + lo);
    } else {
      const int64_t i = sg.q0 + i0 + r;
      for (int64_t c = lo; c < hi; ++c) s[c] = sm.allowed(b, h, i, sg.k0 + j0 + c);
    }
    std::fill(s, s + lo, uint8_t{0});
    std::fill(s + hi, s + nk, uint8_t{0});
    for (int64_t c = lo; c < hi; ++c) n += s[c];
  }
  return n == 0 ? Cover::none : n == nq * nk ? Cover::all : Cover::some;
}

// s [n] += the additive terms (bias, ALiBi, relative table; ScoreMods::term) of segment-local query
// iq against segment-local keys jk .. jk + n - 1 of segment `sg`, head h of batch b.
template <class T>
void add_score_terms_row(T* s, const ScoreMods<T>& sm, const Visibility& vis, const Segment& sg, int64_t b, int64_t h,
                         int64_t iq, int64_t jk, int64_t n) {
  const int64_t i = sg.q0 + iq, diag = iq + vis.offset();  // rel = j_local - diag
  for (int64_t c = 0; c < n; ++c) s[c] += sm.term(b, h, i, sg.k0 + jk + c, jk + c - diag);
}

// S [nq, nk] += the terms of each pair of the block, indices as in block_cover.
template <class T>
void add_score_terms(T* S, const ScoreMods<T>& sm, const Visibility& vis, const Segment& sg, int64_t b, int64_t h,
                     int64_t i0, int64_t nq, int64_t j0, int64_t nk) {
  if (!sm.any_term()) return;
  for (int64_t r = 0; r < nq; ++r) add_score_terms_row(S + r * nk, sm, vis, sg, b, h, i0 + r, j0, nk);
}

// x[e] = value wherever seen[e] is 0, e < n.
template <class T>
void fill_unseen(T* x, const uint8_t* seen, int64_t n, T value) {
  for (int64_t e = 0; e < n; ++e)
    if (!seen[e]) x[e] = value;
}

// Whether every element of the rows x[0, rows) (row stride ld, cols each) is finite.
template <class T>
bool rows_finite(const T* x, int64_t rows, int64_t cols, int64_t ld) {
  int bad = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * ld;
#pragma omp simd reduction(| : bad)
    for (int64_t c = 0; c < cols; ++c) bad |= !(xr[c] - xr[c] == T(0));  // NaN and +-inf give NaN
  }
  return !bad;
}

// One block of at least `elems` elements per thread, from the framework allocator. Each block
// starts on a 64-byte boundary (any type can be placed in it; no false sharing between threads).
inline Tensor thread_workspace(int64_t elems, DType dtype) {
  const int64_t per_line = 64 / static_cast<int64_t>(itemsize(dtype));
  const int64_t padded = (std::max<int64_t>(elems, 1) + per_line - 1) / per_line * per_line;
  memory::CategoryScope category(memory::Category::attention_workspace);  // core/memory_trace.h
  return empty({omp_get_max_threads(), padded}, dtype);
}
template <class T>
T* thread_slot(const Tensor& ws) {
  return ws.data<T>() + omp_get_thread_num() * ws.shape()[1];
}

}  // namespace memgrad::cpu
