// Sparse-row kernels of the top-k feed-forward layer on the GPU (kernels in cuda_sparse_rows.cu;
// the contracts in backends/backend.h): dtype dispatch and launch checks.
#include <cstdint>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/sparse_rows_kernels.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/tensor.h"

namespace memgrad::cuda {

void CudaBackend::row_topk(Tensor& s, const Tensor& bias, Tensor& values, Tensor& idx) {
  const int64_t R = s.shape()[0], F = s.shape()[1], k = idx.shape()[1];
  MG_CHECK(F <= INT32_MAX, "row_topk", "{} columns exceed the kernel's int32 column numbers", F);
  dispatch_float(s.dtype(), "row_topk", [&]<class T>() {
    launch_row_topk<T>(s.data<T>(), bias.defined() ? bias.data<T>() : nullptr, R, F, k, values.data<T>(),
                       idx.data<int64_t>());
    check_launch("row_topk");
  });
}

void CudaBackend::gather_rows_sum(const Tensor& table, const Tensor& idx, const Tensor& coef, Tensor& out) {
  const int64_t R = out.shape()[0], D = out.shape()[1], k = idx.shape()[1];
  dispatch_float(out.dtype(), "gather_rows_sum", [&]<class T>() {
    launch_gather_rows_sum<T>(table.data<T>(), idx.data<int64_t>(), coef.data<T>(), out.data<T>(), R, k, D);
    check_launch("gather_rows_sum");
  });
}

void CudaBackend::gather_rows_dot(const Tensor& table, const Tensor& idx, const Tensor& x, Tensor& out) {
  const int64_t R = out.shape()[0], k = out.shape()[1], D = table.shape()[1];
  dispatch_float(out.dtype(), "gather_rows_dot", [&]<class T>() {
    launch_gather_rows_dot<T>(table.data<T>(), idx.data<int64_t>(), x.data<T>(), out.data<T>(), R, k, D);
    check_launch("gather_rows_dot");
  });
}

void CudaBackend::scatter_rows_add(Tensor& table, const Tensor& idx, const Tensor& coef, const Tensor& x) {
  const int64_t R = x.shape()[0], D = x.shape()[1], k = idx.shape()[1];
  dispatch_float(table.dtype(), "scatter_rows_add", [&]<class T>() {
    launch_scatter_rows_add<T>(table.data<T>(), idx.data<int64_t>(), coef.data<T>(), x.data<T>(), R, k, D);
    check_launch("scatter_rows_add");
  });
}

}  // namespace memgrad::cuda
