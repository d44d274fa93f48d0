#pragma once
// Shapes, strides and the arithmetic on them that views and broadcasting need.
#include <cstdint>
#include <string>
#include <vector>

namespace memgrad {

using Shape = std::vector<int64_t>;
using Strides = std::vector<int64_t>;

std::string str(const Shape& s);  // "[2, 3]"
// The element count. Throws (naming `op`) on a negative dim or a count beyond int64: shape
// products are checked, never wrapped (a wrapped count once made a 2^32 x 2^32 sum return 0).
int64_t numel(const Shape& s, const char* op = "shape");
// The largest tensor memgrad creates: 2^60 bytes (1 EiB). Sizes above it are refused with an error
// before anything is allocated, so byte counts never overflow (int64 stats, size_t arithmetic).
constexpr int64_t kMaxTensorBytes = int64_t{1} << 60;
// Checks that a tensor of `shape` with `itemsize`-byte elements can exist: no negative dim, and the
// bytes its contiguous layout spans (every dim counted as at least 1, as its strides are) at most
// kMaxTensorBytes. Returns the element count. Errors name `op`, the shape and the size.
int64_t check_shape(const Shape& shape, size_t itemsize, const char* op);
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
