#pragma once
// The index ops' shared pieces (index_select, index_add, gather, scatter_add), host code that both
// backends include (backends/cpu/cpu_index.cpp, backends/cuda/cuda_index.cpp): the split of a
// shape around the indexed dim, and the error for an index out of range, so that a bad index reads
// the same on either device.
#include <cstdint>

#include "core/error.h"
#include "core/shape.h"

namespace memgrad {

// Sizes of the dims before `dim` (A), at it (S) and after it (B): the op runs over [A, S, B].
struct DimSplit {
  int64_t A = 1, S = 1, B = 1;
};
inline DimSplit split_at(const Shape& s, int64_t dim) {
  DimSplit r;
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) (d < dim ? r.A : d == dim ? r.S : r.B) *= s[d];
  return r;
}

[[noreturn]] inline void index_out_of_range(const char* op, int64_t index, int64_t dim, int64_t size) {
  fail(op, "index {} is out of range for dim {} of size {}", index, dim, size);
}

}  // namespace memgrad
