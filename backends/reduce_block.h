#pragma once
// The shape every backend reduces: x as a contiguous [A, R, B] block reduced over R (the middle).
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace memgrad {

struct ReduceBlock {
  Tensor x;  // contiguous, on x's device
  int64_t A, R, B;
};

// Makes the reduced `dims` (sorted, unique) one contiguous block of x: permutes them together
// (copying, with x's backend) when they are not adjacent or x is not contiguous.
ReduceBlock as_reduce_block(const Tensor& x, const std::vector<int64_t>& dims);

}  // namespace memgrad
