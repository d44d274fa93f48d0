// Batched matrix products through cuBLAS strided-batched gemm, reading transposed views and
// broadcast (stride-0) batch dims in place; other layouts get a contiguous copy first.
#include <algorithm>
#include <type_traits>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_check.h"
#include "backends/gemm_layout.h"

namespace memgrad::cuda {
namespace {

// The stride s with batch_offset(i) == i * s over t's batch dims (all but the last two), if one
// exists: batch dims that stack evenly, or all broadcast (s = 0). Size-1 dims do not count.
bool batch_stride(const Tensor& t, int64_t& s) {
  s = 0;
  bool have = false;
  int64_t inner = 1;  // product of the batch sizes after dim d
  for (int64_t d = t.dim() - 3; d >= 0; --d) {
    const int64_t n = t.shape()[d];
    if (n == 1) continue;
    if (!have) s = t.strides()[d], have = true;
    else if (t.strides()[d] != s * inner) return false;
    inner *= n;
  }
  return s >= 0;  // a negative batch stride (a flipped view) gets a copy
}

// A view gemm can read: its layout and batch stride, or a contiguous copy when it has none.
struct Operand {
  Tensor t;
  MatLayout layout;
  int64_t stride;
};

Operand operand(const Tensor& x) {
  Operand o{x, gemm_layout(x), 0};
  if (o.layout.ok && batch_stride(x, o.stride)) return o;
  o.t = contiguous_copy(x);
  o.layout = gemm_layout(o.t);
  batch_stride(o.t, o.stride);  // contiguous: always one stride
  return o;
}

// Row-major C[batch, M, N] = A[batch, M, K] @ B[batch, K, N] (accumulate: C +=) as column-major
// C^T = B^T A^T.
template <class T>
void gemm_batched(const Operand& a, const Operand& b, T* c, int64_t M, int64_t N, int64_t K, int64_t batch,
                  bool accumulate) {
  const T alpha = 1, beta = accumulate ? 1 : 0;
  // a row-major matrix is its transpose in column-major: a non-transposed view needs no op
  const cublasOperation_t op_b = b.layout.trans ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = a.layout.trans ? CUBLAS_OP_T : CUBLAS_OP_N;
  const T* pa = a.t.data<T>();
  const T* pb = b.t.data<T>();
  if constexpr (std::is_same_v<T, float>)
    MG_CUBLAS_CHECK("matmul", cublasSgemmStridedBatched_64(cublas(), op_b, op_a, N, M, K, &alpha, pb, b.layout.ld,
                                                           b.stride, pa, a.layout.ld, a.stride, &beta, c, N, M * N,
                                                           batch));
  else
    MG_CUBLAS_CHECK("matmul", cublasDgemmStridedBatched_64(cublas(), op_b, op_a, N, M, K, &alpha, pb, b.layout.ld,
                                                           b.stride, pa, a.layout.ld, a.stride, &beta, c, N, M * N,
                                                           batch));
}

}  // namespace

void CudaBackend::matmul(const Tensor& a_in, const Tensor& b_in, Tensor& out, bool accumulate) {
  const int64_t nd = out.dim();
  const int64_t M = out.shape()[nd - 2], N = out.shape()[nd - 1], K = a_in.shape()[nd - 1];
  if (out.numel() == 0) return;
  if (K == 0) {  // an empty sum: zeros (all-zero bytes are 0.0 in float32 and float64), or out unchanged
    if (!accumulate) MG_CUDA_CHECK("matmul", cudaMemsetAsync(out.raw_data(), 0, out.nbytes(), 0));
    return;
  }
  const int64_t batch = out.numel() / (M * N);
  dispatch_float(out.dtype(), "matmul", [&]<class T>() {
    Operand a = operand(a_in), b = operand(b_in);  // a [..., M, K], b [..., K, N]
    if (batch > 1 && gemm_foldable(a.t, a.layout, b.t)) {
      // one [batch*M, K] @ [K, N] product: rows of out are contiguous too
      a.stride = 0;
      b.stride = 0;
      gemm_batched<T>(a, b, out.data<T>(), M * batch, N, K, 1, accumulate);
      return;
    }
    gemm_batched<T>(a, b, out.data<T>(), M, N, K, batch, accumulate);
  });
}

}  // namespace memgrad::cuda
