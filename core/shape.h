#pragma once
// Shapes, strides and the arithmetic on them that views and broadcasting need.
#include <cstdint>
#include <string>
#include <vector>

namespace memgrad {

using Shape = std::vector<int64_t>;
using Strides = std::vector<int64_t>;

std::string str(const Shape& s);  // "[2, 3]"
int64_t numel(const Shape& s);
Strides contiguous_strides(const Shape& s);
// Wraps a possibly negative dim into [0, ndim); names `op` and the shape when out of range.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op, const Shape& shape);
// Numpy broadcasting of two shapes; errors name `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Strides that view a tensor of (shape, strides) as `target` (which it broadcasts to): 0 where expanded.
Strides broadcast_strides(const Shape& shape, const Strides& strides, const Shape& target, const char* op);
// Element offset of the row-major element `linear` of the first `ndim` dims of (shape, strides).
int64_t strided_offset(const Shape& shape, const Strides& strides, int64_t linear, int64_t ndim);

}  // namespace memgrad
