// Batched matrix products through cblas_{s,d}gemm, reading strided and transposed views in place.
#include "backends/cpu/blas.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/parallel.h"
#include "backends/gemm_layout.h"

namespace memgrad::cpu {
namespace {

// Element offset of batch index `i` over the leading (batch) dims of t.
int64_t batch_offset(const Tensor& t, int64_t i) { return strided_offset(t.shape(), t.strides(), i, t.dim() - 2); }

}  // namespace

void CpuBackend::matmul(const Tensor& a_in, const Tensor& b_in, Tensor& out, bool accumulate) {
  check_openblas_core();
  const int64_t nd = out.dim();
  const int64_t M = out.shape()[nd - 2], N = out.shape()[nd - 1], K = a_in.shape()[nd - 1];
  if (out.numel() == 0) return;
  if (K == 0) {  // an empty sum
    if (!accumulate) fill(out, 0.0);
    return;
  }
  MatLayout la = gemm_layout(a_in), lb = gemm_layout(b_in);
  Tensor a = la.ok ? a_in : contiguous_copy(a_in);
  Tensor b = lb.ok ? b_in : contiguous_copy(b_in);
  if (!la.ok) la = gemm_layout(a);
  if (!lb.ok) lb = gemm_layout(b);
  const int64_t batch = out.numel() / (M * N);
  dispatch_float(out.dtype(), "matmul", [&]<class T>() {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* pc = out.data<T>();
    const T beta = accumulate ? T(1) : T(0);
    if (batch == 1 || gemm_foldable(a, la, b)) {
      const int64_t R = M * batch;  // rows of the one product
      if (R < N) {  // wide products: OpenBLAS's own threading
        gemm<T>(la.trans, lb.trans, R, N, K, T(1), pa, la.ld, pb, lb.ld, beta, pc, N);
        return;
      }
      // Tall products split by rows of C over the threads, one gemm each (OpenBLAS single-threaded
      // inside the region): a Linear layer's products ([B*L, d] x [d, d'], its weight gradient
      // [d', B*L] x [B*L, d]) ran 10-30% faster so than under OpenBLAS's own threading on 2 cores
      // (docs/benchmarks.md). Each element of C is one gemm's, so the result does not depend on
      // the thread count.
      parallel_for(R, N * K / 16, [&](int64_t r0, int64_t r1) {
        gemm<T>(la.trans, lb.trans, r1 - r0, N, K, T(1), pa + r0 * (la.trans ? 1 : la.ld), la.ld, pb, lb.ld, beta,
                pc + r0 * N, N);
      });
      return;
    }
    // Small products: one gemm per thread (OpenBLAS runs single-threaded inside our region).
    parallel_for(batch, M * N * K / 64, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        gemm<T>(la.trans, lb.trans, M, N, K, T(1), pa + batch_offset(a, i), la.ld, pb + batch_offset(b, i), lb.ld,
                beta, pc + i * M * N, N);
    });
  });
}

}  // namespace memgrad::cpu
