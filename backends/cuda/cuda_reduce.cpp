// Reductions on the GPU: CpuBackend's decomposition (cpu_reduce.cpp) into a contiguous [A, R, B]
// block reduced over R, with its checks; kernels in cuda_reduce.cu.
#include <type_traits>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/reduce_kernels.h"

namespace memgrad::cuda {
namespace {

template <class T>
T* ptr(const Tensor& t) {
  return static_cast<T*>(t.raw_data());
}

struct Block {
  Tensor x;  // contiguous
  int64_t A, R, B;
};

// Makes the reduced dims one contiguous block of x: permutes them together (copying) when they are
// not adjacent or x is not contiguous.
Block as_block(const Tensor& x, const std::vector<int64_t>& dims) {
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
  Block blk{contiguous_copy(src), 1, 1, 1};
  for (int64_t d = 0; d < nd; ++d) {
    if (d < first) blk.A *= shape[d];
    else if (d < first + count) blk.R *= shape[d];
    else blk.B *= shape[d];
  }
  return blk;
}

}  // namespace

void CudaBackend::reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, Tensor& out) {
  Block blk = as_block(x, dims);
  dispatch_numeric(x.dtype(), "reduce", [&]<class T>() {
    if (op != ReduceOp::sum)
      MG_CHECK(blk.R > 0, op == ReduceOp::max ? "max" : "min", "cannot reduce over an empty dim (shape {})",
               str(x.shape()));
    const int64_t A = blk.A, R = blk.R, B = blk.B;
    if (A * B == 0) return;  // nothing to write (R == 0 with outputs left writes sums of 0)
    const ReduceSplit split = B == 1 ? reduce_rows_split(A, R) : reduce_cols_split(A, R, B);
    Tensor work;  // [A, parts, B] partials, in the accumulator type
    if (split.parts > 1)
      work = empty({A * split.parts * B}, std::is_floating_point_v<T> ? DType::float64 : DType::int64, x.device());
    acc_t<T>* w = split.parts > 1 ? ptr<acc_t<T>>(work) : nullptr;
    if (B == 1)
      launch_reduce_rows<T>(op, ptr<T>(blk.x), ptr<T>(out), A, R, split, w);
    else
      launch_reduce_cols<T>(op, ptr<T>(blk.x), ptr<T>(out), A, R, B, split, w);
    check_launch("reduce");
  });
}

void CudaBackend::arg_reduce(ReduceOp op, const Tensor& x, int64_t dim, Tensor& values, Tensor& indices) {
  Block blk = as_block(x, {dim});
  MG_CHECK(blk.R > 0, "max", "cannot reduce over an empty dim (shape {})", str(x.shape()));
  dispatch_numeric(x.dtype(), "arg_reduce", [&]<class T>() {
    if (blk.A * blk.B == 0) return;
    launch_arg_reduce<T>(op, ptr<T>(blk.x), ptr<T>(values), ptr<int64_t>(indices), blk.A, blk.R, blk.B);
    check_launch("arg_reduce");
  });
}

}  // namespace memgrad::cuda
