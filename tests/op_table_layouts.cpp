// The op table's view kinds (op_table_layouts.h).
#include "op_table_layouts.h"

#include <algorithm>
#include <cmath>

namespace memgrad::optable {

Tensor from_values(const Vec& v, const Shape& shape, DType dt) {
  Tensor t = empty(shape, dt);
  dispatch_all(dt, "from_values", [&]<class T>() {
    T* p = t.data<T>();
    for (size_t i = 0; i < v.size(); ++i) p[i] = static_cast<T>(v[i]);
  });
  return t;
}

const char* layout_name(Layout k) {
  switch (k) {
    case Layout::contiguous: return "contiguous";
    case Layout::transposed: return "transposed (every dim reversed in memory)";
    case Layout::transposed_offset: return "last two dims transposed, padded rows, offset 3";
    case Layout::padded: return "padded rows (a narrow of the last dim: offset 2, unit steps)";
    case Layout::sliced: return "sliced (offset 1, step 2, padded rows)";
    case Layout::stride0_outer: return "stride 0 in the first dim of size > 1 (expanded)";
    case Layout::stride0_inner: return "stride 0 in the last dim of size > 1 (expanded)";
    case Layout::stride0_all: return "stride 0 in every dim (one value broadcast)";
  }
  return "?";
}

namespace {

// The dims a stride-0 layout repeats; empty when it does not apply.
std::vector<int64_t> zero_dims(const Shape& s, Layout k) {
  std::vector<int64_t> big;
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d)
    if (s[d] > 1) big.push_back(d);
  if (big.empty()) return {};
  if (k == Layout::stride0_outer) return {big.front()};
  if (k == Layout::stride0_inner) return {big.back()};
  if (k == Layout::stride0_all) return big;
  return {};
}

}  // namespace

bool applies(Layout k, const Shape& s) {
  switch (k) {
    case Layout::contiguous: return true;
    case Layout::transposed:
    case Layout::transposed_offset: return s.size() >= 2;
    case Layout::padded:
    case Layout::sliced: return !s.empty();
    default: return !zero_dims(s, k).empty();
  }
}

Tensor layout_values(const Tensor& x, Layout k) {
  std::vector<int64_t> zd = zero_dims(x.shape(), k);
  if (zd.empty()) return x;
  Vec v = optest::vals(x), out(v.size());
  for (int64_t i = 0; i < x.numel(); ++i) {
    auto idx = optest::unravel(i, x.shape());
    for (int64_t d : zd) idx[d] = 0;
    int64_t lin = 0;
    for (size_t d = 0; d < idx.size(); ++d) lin = lin * x.shape()[d] + idx[d];
    out[i] = v[lin];
  }
  return from_values(out, x.shape(), x.dtype());
}

namespace {

// Strides and offset of a layout for shape s.
std::pair<Strides, int64_t> layout_strides(const Shape& s, Layout k) {
  const int64_t n = static_cast<int64_t>(s.size());
  std::vector<int64_t> order;  // innermost first
  int64_t step = 1, pad = 0, offset = 0;
  for (int64_t d = n - 1; d >= 0; --d) order.push_back(d);
  switch (k) {
    case Layout::transposed:
      for (int64_t d = 0; d < n; ++d) order[d] = d;
      break;
    case Layout::transposed_offset:
      std::swap(order[0], order[1]);
      pad = 2, offset = 3;
      break;
    case Layout::padded: pad = 3, offset = 2; break;  // only the rows: as narrow(x, -1, ...) of a wider x
    case Layout::sliced: step = 2, pad = 1, offset = 1; break;
    default: offset = k == Layout::contiguous ? 0 : 2;
  }
  Strides st(n);
  int64_t acc = step;
  for (size_t i = 0; i < order.size(); ++i) {
    const int64_t d = order[i];
    st[d] = acc;
    acc = acc * std::max<int64_t>(s[d], 1) + (k != Layout::padded || i == 0 ? pad : 0);
  }
  for (int64_t d : zero_dims(s, k)) st[d] = 0;
  return {st, offset};
}

}  // namespace

Tensor lay_out(const Tensor& x, Layout k, Device dev) {
  auto [st, offset] = layout_strides(x.shape(), k);
  int64_t last = offset;
  for (size_t d = 0; d < st.size(); ++d) last += (x.shape()[d] - 1) * st[d];
  Tensor base = empty({std::max(last, offset) + 3}, x.dtype());
  dispatch_all(x.dtype(), "lay_out", [&]<class T>() {
    T* p = base.data<T>();
    T poison = is_floating(x.dtype()) ? static_cast<T>(NAN) : static_cast<T>(x.dtype() == DType::boolean ? 1 : 1000003);
    for (int64_t i = 0; i < base.numel(); ++i) p[i] = poison;
    std::vector<T> v = x.to_vector<T>();
    for (int64_t i = 0; i < x.numel(); ++i) p[offset + strided_offset(x.shape(), st, i, x.dim())] = v[i];
  });
  return alias(to(base, dev), x.shape(), st, offset);
}

}  // namespace memgrad::optable
