#pragma once
// The op table's view kinds: a tensor's values laid out in memory in each of the ways a view can
// be (tests/op_table.h), in a buffer of poison so reads outside the view show.
#include <vector>

#include "op_table.h"

namespace memgrad::optable {

enum class Layout {
  contiguous,
  transposed,
  transposed_offset,
  padded,
  sliced,
  stride0_outer,
  stride0_inner,
  stride0_all
};
constexpr Layout kViewKinds[] = {Layout::transposed,    Layout::transposed_offset, Layout::padded,     Layout::sliced,
                                 Layout::stride0_outer, Layout::stride0_inner,     Layout::stride0_all};

const char* layout_name(Layout k);
// Whether layout k exists for shape s (transposes need 2 dims, stride 0 a dim of size > 1, ...).
bool applies(Layout k, const Shape& s);
// The values a layout of x can hold: stride-0 layouts repeat element 0 along their dims.
Tensor layout_values(const Tensor& x, Layout k);
// A fresh tensor on `dev` with x's values (x contiguous, on the CPU) in layout k, inside a buffer
// whose other elements are poison (NaN, or an out-of-range integer).
Tensor lay_out(const Tensor& x, Layout k, Device dev);
// A contiguous CPU tensor of dtype `dt` holding `v` (row-major).
Tensor from_values(const Vec& v, const Shape& shape, DType dt);

}  // namespace memgrad::optable
