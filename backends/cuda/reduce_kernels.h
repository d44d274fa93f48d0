#pragma once
// Launchers of the reduction kernels (cuda_reduce.cu). As on the CPU, every reduction is over the
// middle dim of a contiguous [A, R, B] block, accumulated in double for floats and in int64 for
// integers (acc_t). Plain C++: the host half is cuda_reduce.cpp.
#include <cstdint>
#include <type_traits>

#include "backends/op_kinds.h"

namespace memgrad::cuda {

template <class T>
using acc_t = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

// How a reduced length R is cut into `parts` segments of `chunk` (every segment non-empty) so that
// few outputs with long rows still spread over the GPU: a first pass writes one partial per
// segment into an acc_t workspace [A, parts, B], a second reduces the partials.
struct ReduceSplit {
  int64_t parts = 1;
  int64_t chunk = 0;  // == R when parts == 1
};

// `units`: how many independent work units (rows, or column tiles) one pass would have.
inline ReduceSplit reduce_split(int64_t units, int64_t R, int64_t target_units, int64_t min_chunk) {
  ReduceSplit s{1, R};
  if (units <= 0 || units >= target_units || R < 2 * min_chunk) return s;
  int64_t parts = (target_units + units - 1) / units;
  if (parts > R / min_chunk) parts = R / min_chunk;
  if (parts <= 1) return s;
  s.chunk = (R + parts - 1) / parts;
  s.parts = (R + s.chunk - 1) / s.chunk;
  return s;
}

// Rows (B == 1): x [A, R] -> out [A].
inline ReduceSplit reduce_rows_split(int64_t A, int64_t R) { return reduce_split(A, R, 1024, 4096); }
// Columns (B > 1): x [A, R, B] -> out [A, B]. A block of 256 threads takes a tile of `tx` adjacent
// columns (the least power of two >= B, at most 32) and splits R over 256 / tx threads.
inline int reduce_cols_tx(int64_t B) {
  int tx = 1;
  while (tx < 32 && tx < B) tx *= 2;
  return tx;
}
inline ReduceSplit reduce_cols_split(int64_t A, int64_t R, int64_t B) {
  const int64_t tx = reduce_cols_tx(B);
  return reduce_split((A * B + tx - 1) / tx, R, 512, 1024);
}

// out[a] = op over x[a, :]. With split.parts > 1, `work` (acc_t<T>, A * parts elements) takes the
// partials and a second kernel reduces them.
template <class T>
void launch_reduce_rows(ReduceOp op, const T* x, T* out, int64_t A, int64_t R, ReduceSplit split, acc_t<T>* work);
// out[a, b] = op over x[a, :, b]; `work` as above with A * parts * B elements.
template <class T>
void launch_reduce_cols(ReduceOp op, const T* x, T* out, int64_t A, int64_t R, int64_t B, ReduceSplit split,
                        acc_t<T>* work);

// values[a, b], indices[a, b] = the extreme of x[a, :, b] and its first index (the first NaN if
// any); R > 0.
template <class T>
void launch_arg_reduce(ReduceOp op, const T* x, T* values, int64_t* indices, int64_t A, int64_t R, int64_t B);

}  // namespace memgrad::cuda
