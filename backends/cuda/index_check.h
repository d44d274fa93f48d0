#pragma once
// Index checks on the device for the index and loss kernels: a small kernel finds the first bad
// entry and one read-back reports it, before any kernel uses the indices. Host code only.
#include <cstdint>

#include "core/tensor.h"

namespace memgrad::cuda {

// The position of the first entry of idx (contiguous, int32 or int64; other dtypes fail naming
// `op`) outside [0, size), an entry equal to `ignore` allowed when has_ignore, or -1 when all are
// fine; the bad entry goes to `value`. Synchronises the device when idx is not empty.
int64_t first_bad_index(const char* op, const Tensor& idx, int64_t size, bool has_ignore, int64_t ignore,
                        int64_t& value);

}  // namespace memgrad::cuda
