#include "backends/reduce_block.h"

#include "backends/backend.h"

namespace memgrad {

ReduceBlock as_reduce_block(const Tensor& x, const std::vector<int64_t>& dims) {
  const int64_t nd = x.dim();
  std::vector<bool> red(nd, false);
  for (int64_t d : dims) red[d] = true;
  const bool adjacent = dims.empty() || dims.back() - dims.front() + 1 == static_cast<int64_t>(dims.size());
  Tensor src = x;
  Shape shape = x.shape();
  int64_t first = dims.empty() ? nd : dims.front(), count = static_cast<int64_t>(dims.size());
  if (!adjacent) {  // move kept dims first, reduced dims last
    Shape ps;
    Strides pst;
    for (int pass = 0; pass < 2; ++pass)
      for (int64_t d = 0; d < nd; ++d)
        if (red[d] == (pass == 1)) ps.push_back(x.shape()[d]), pst.push_back(x.strides()[d]);
    src = alias(x, ps, pst, x.offset());
    shape = ps;
    first = nd - count;
  }
  if (!src.is_contiguous()) {
    Tensor c = empty(src.shape(), src.dtype(), src.device());
    backend_for(src.device()).copy(src, c);
    src = c;
  }
  ReduceBlock blk{src, 1, 1, 1};
  for (int64_t d = 0; d < nd; ++d) {
    if (d < first) blk.A *= shape[d];
    else if (d < first + count) blk.R *= shape[d];
    else blk.B *= shape[d];
  }
  return blk;
}

}  // namespace memgrad
