#include "core/shape.h"

#include <algorithm>

#include "core/error.h"

namespace memgrad {

std::string str(const Shape& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

int64_t numel(const Shape& s, const char* op) {
  int64_t n = 1;
  for (int64_t d : s) {
    MG_CHECK(d >= 0, op, "negative dimension in shape {}", str(s));
    MG_CHECK(!__builtin_mul_overflow(n, d, &n), op, "shape {} has more than 2^63 - 1 elements", str(s));
  }
  return n;
}

int64_t check_shape(const Shape& shape, size_t itemsize, const char* op) {
  const int64_t n = numel(shape, op);
  // the span of the contiguous strides: a 0-size dim still multiplies the strides before it
  int64_t span = static_cast<int64_t>(std::max<size_t>(itemsize, 1));
  for (int64_t d : shape)
    MG_CHECK(!__builtin_mul_overflow(span, std::max<int64_t>(d, 1), &span) && span <= kMaxTensorBytes, op,
             "shape {} with {}-byte elements exceeds memgrad's limit of 2^60 bytes per tensor", str(shape), itemsize);
  return n;
}

Strides contiguous_strides(const Shape& s) {
  Strides st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= std::max<int64_t>(s[i], 1);
  }
  return st;
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op, const Shape& shape) {
  int64_t n = std::max<int64_t>(ndim, 1);  // a 0-d tensor accepts dim 0 and -1
  MG_CHECK(dim >= -n && dim < n, op, "dim {} is out of range for shape {}", dim, str(shape));
  return dim < 0 ? dim + n : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    MG_CHECK(da == db || da == 1 || db == 1, op, "shapes {} and {} cannot be broadcast together", str(a),
             str(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Strides broadcast_strides(const Shape& shape, const Strides& strides, const Shape& target, const char* op) {
  MG_CHECK(shape.size() <= target.size(), op, "shape {} cannot be broadcast to {}", str(shape), str(target));
  size_t lead = target.size() - shape.size();
  Strides out(target.size(), 0);
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t t = target[lead + i];
    MG_CHECK(shape[i] == t || shape[i] == 1, op, "shape {} cannot be broadcast to {}", str(shape), str(target));
    out[lead + i] = (shape[i] == 1 && t != 1) ? 0 : strides[i];
  }
  return out;
}

int64_t strided_offset(const Shape& shape, const Strides& strides, int64_t linear, int64_t ndim) {
  int64_t off = 0;
  for (int64_t d = ndim - 1; d >= 0; --d) {
    off += (linear % shape[d]) * strides[d];
    linear /= shape[d];
  }
  return off;
}

}  // namespace memgrad
