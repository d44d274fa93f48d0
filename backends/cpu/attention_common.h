#pragma once
// Pieces shared by the CPU attention kernels: per-head pointers, masking of score blocks, finiteness
// checks and per-thread workspaces taken from the framework's allocator (so peak-memory figures
// include them).
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
inline constexpr unsigned kCpuChunkedFeatures = 0;
inline constexpr unsigned kCpuTopkFeatures = attn_all_features;

// Whether query i may attend key j: valid[j] (null = all) and, when causal, j <= last_key(i).
inline bool visible(int64_t i, int64_t j, const bool* valid, const Visibility& vis) {
  return (!valid || valid[j]) && vis.sees(i, j);
}

// Sets the masked entries of the block S [nq, nk] (row stride ld; queries i0.., keys j0..) to
// `value` (-inf for scores, 0 for probabilities): keys with valid[j] false, and keys after a
// query's last_key.
template <class T>
void mask_block(T* S, int64_t ld, int64_t nq, int64_t nk, int64_t i0, int64_t j0, const bool* valid,
                const Visibility& vis, T value = -std::numeric_limits<T>::infinity()) {
  if (valid)
    for (int64_t c = 0; c < nk; ++c)
      if (!valid[j0 + c])
        for (int64_t r = 0; r < nq; ++r) S[r * ld + c] = value;
  if (vis.causal)
    for (int64_t r = 0; r < nq; ++r) {
      int64_t first_masked = vis.last_key(i0 + r) + 1 - j0;  // column
      for (int64_t c = std::max<int64_t>(first_masked, 0); c < nk; ++c) S[r * ld + c] = value;
    }
}

// Whether the block (queries i0.. i0 + nq - 1, keys j0.. j0 + nk - 1) holds a masked pair.
inline bool block_has_masked(int64_t nq, int64_t nk, int64_t i0, int64_t j0, const bool* valid,
                             const Visibility& vis) {
  if (vis.last_key(i0) < j0 + nk - 1) return true;  // the block's first row has the fewest keys
  if (valid)
    for (int64_t c = 0; c < nk; ++c)
      if (!valid[j0 + c]) return true;
  return false;
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
  return empty({omp_get_max_threads(), padded}, dtype);
}
template <class T>
T* thread_slot(const Tensor& ws) {
  return ws.data<T>() + omp_get_thread_num() * ws.shape()[1];
}

}  // namespace memgrad::cpu
