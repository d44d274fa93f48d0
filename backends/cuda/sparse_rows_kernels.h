#pragma once
// Launchers of the sparse-row kernels of the top-k feed-forward layer (cuda_sparse_rows.cu; the
// contracts are Backend's in backends/backend.h). Every array is contiguous; idx is int64 [R, k]
// with entries in [0, F). Default stream; the caller checks each launch.
#include <cstdint>

namespace memgrad::cuda {

// s [R, F] += bias [F] (bias may be null), then per row the k largest in ascending column order:
// values [R, k], idx [R, k]. 1 <= k <= F <= INT32_MAX.
template <class T>
void launch_row_topk(T* s, const T* bias, int64_t R, int64_t F, int64_t k, T* values, int64_t* idx);

// out[r, :] = sum_j coef[r, j] table[idx[r, j], :]; table [F, D], coef [R, k], out [R, D].
template <class T>
void launch_gather_rows_sum(const T* table, const int64_t* idx, const T* coef, T* out, int64_t R, int64_t k, int64_t D);

// out[r, j] = table[idx[r, j], :] . x[r, :]; table [F, D], x [R, D], out [R, k].
template <class T>
void launch_gather_rows_dot(const T* table, const int64_t* idx, const T* x, T* out, int64_t R, int64_t k, int64_t D);

// table[idx[r, j], :] += coef[r, j] x[r, :] (atomic); table [F, D], coef [R, k], x [R, D].
template <class T>
void launch_scatter_rows_add(T* table, const int64_t* idx, const T* coef, const T* x, int64_t R, int64_t k, int64_t D);

}  // namespace memgrad::cuda
