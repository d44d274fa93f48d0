#pragma once
// Walks K tensors of one shape (each with its own strides) row by row: the inner loop runs over
// the last dim with a fixed stride per operand, so contiguous and broadcast cases vectorize.
#include <algorithm>
#include <array>
#include <cstdint>

#include "backends/cpu/parallel.h"
#include "core/shape.h"

namespace memgrad::cpu {

template <size_t K>
struct StridedLoop {
  Shape shape;                  // coalesced, at least one dim
  std::array<Strides, K> strides;
};

// Drops size-1 dims and merges dims that are contiguous for every operand.
template <size_t K>
StridedLoop<K> make_loop(const Shape& shape, const std::array<const Strides*, K>& strides) {
  StridedLoop<K> L;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !L.shape.empty();
    for (size_t k = 0; k < K && merge; ++k) merge = L.strides[k].back() == (*strides[k])[d] * shape[d];
    if (merge) {
      L.shape.back() *= shape[d];
      for (size_t k = 0; k < K; ++k) L.strides[k].back() = (*strides[k])[d];
    } else {
      L.shape.push_back(shape[d]);
      for (size_t k = 0; k < K; ++k) L.strides[k].push_back((*strides[k])[d]);
    }
  }
  if (L.shape.empty()) {
    L.shape.push_back(1);
    for (size_t k = 0; k < K; ++k) L.strides[k].push_back(0);
  }
  return L;
}

// Element offsets of row r (over the outer dims, in order) for each operand; its multi-index
// over the outer dims into *idx when given (idx sized to L.shape).
template <size_t K>
std::array<int64_t, K> row_offsets(const StridedLoop<K>& L, int64_t r, Shape* idx = nullptr) {
  std::array<int64_t, K> off{};
  for (int64_t d = static_cast<int64_t>(L.shape.size()) - 2; d >= 0; --d) {
    const int64_t i = r % L.shape[d];
    r /= L.shape[d];
    if (idx) (*idx)[static_cast<size_t>(d)] = i;
    for (size_t k = 0; k < K; ++k) off[k] += i * L.strides[k][d];
  }
  return off;
}

// Calls row(offsets, n, inner_strides) for every row, or for pieces of rows; offsets are in
// elements. Elementwise work only: a row may come in several pieces. Fewer rows than threads (a
// contiguous tensor coalesces into one row) are cut into pieces of whole 64-element runs, so that
// a large contiguous add, copy or fill runs on every thread, not on one.
template <size_t K, class F>
void for_each_row(const StridedLoop<K>& L, int64_t cost_per_element, F&& row) {
  const int64_t nd = static_cast<int64_t>(L.shape.size());
  const int64_t inner = L.shape.back();
  const int64_t rows = numel(L.shape) / std::max<int64_t>(inner, 1);
  if (inner == 0 || rows == 0) return;
  std::array<int64_t, K> inner_strides;
  for (size_t k = 0; k < K; ++k) inner_strides[k] = L.strides[k].back();
  const int64_t max_threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t pieces = rows >= max_threads ? 1 : std::clamp<int64_t>(inner / 64, 1, (max_threads + rows - 1) / rows);
  if (pieces > 1) {
    const int64_t len = ((inner + pieces - 1) / pieces + 63) / 64 * 64;  // elements per piece
    parallel_for(rows * pieces, len * cost_per_element, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t c0 = (i % pieces) * len;
        if (c0 >= inner) continue;
        std::array<int64_t, K> off = row_offsets(L, i / pieces);
        for (size_t k = 0; k < K; ++k) off[k] += c0 * inner_strides[k];
        row(off, std::min(len, inner - c0), inner_strides);
      }
    });
    return;
  }
  parallel_for(rows, inner * cost_per_element, [&](int64_t r0, int64_t r1) {
    Shape idx(static_cast<size_t>(nd), 0);  // multi-index of row r0 over the outer dims
    std::array<int64_t, K> off = row_offsets(L, r0, &idx);
    for (int64_t r = r0; r < r1; ++r) {
      row(off, inner, inner_strides);
      for (int64_t d = nd - 2; d >= 0; --d) {  // advance the outer multi-index by one
        for (size_t k = 0; k < K; ++k) off[k] += L.strides[k][d];
        if (++idx[d] < L.shape[d]) break;
        for (size_t k = 0; k < K; ++k) off[k] -= L.strides[k][d] * L.shape[d];
        idx[d] = 0;
      }
    }
  });
}

}  // namespace memgrad::cpu
