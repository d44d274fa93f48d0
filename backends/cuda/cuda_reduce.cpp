// Reductions on the GPU: the [A, R, B] decomposition of backends/reduce_block.h (shared with the
// CPU) reduced over R, with its checks; kernels in cuda_reduce.cu.
#include <type_traits>

#include "backends/reduce_block.h"
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/reduce_kernels.h"

namespace memgrad::cuda {
namespace {

template <class T>
T* ptr(const Tensor& t) {
  return static_cast<T*>(t.raw_data());
}

using Block = ReduceBlock;  // backends/reduce_block.h

}  // namespace

void CudaBackend::reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, Tensor& out) {
  Block blk = as_reduce_block(x, dims);
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
  Block blk = as_reduce_block(x, {dim});
  MG_CHECK(blk.R > 0, "max", "cannot reduce over an empty dim (shape {})", str(x.shape()));
  dispatch_numeric(x.dtype(), "arg_reduce", [&]<class T>() {
    if (blk.A * blk.B == 0) return;
    launch_arg_reduce<T>(op, ptr<T>(blk.x), ptr<T>(values), ptr<int64_t>(indices), blk.A, blk.R, blk.B);
    check_launch("arg_reduce");
  });
}

}  // namespace memgrad::cuda
