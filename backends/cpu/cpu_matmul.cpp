// Batched matrix products through cblas_{s,d}gemm, reading strided and transposed views in place.
#include "backends/cpu/blas.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/parallel.h"

namespace memgrad::cpu {
namespace {

// How gemm can read the last two dims [rows, cols] of a view.
struct MatLayout {
  bool ok;     // false: needs a contiguous copy
  bool trans;  // stored column-major
  int64_t ld;
};

MatLayout layout_of(const Tensor& t) {
  int64_t nd = t.dim(), rows = t.shape()[nd - 2], cols = t.shape()[nd - 1];
  int64_t rs = t.strides()[nd - 2], cs = t.strides()[nd - 1];
  if (cols == 1) cs = 1;                        // a single column: its stride is irrelevant
  if (rows == 1) rs = std::max<int64_t>(cols, 1);  // a single row likewise
  if (cs == 1 && rs >= std::max<int64_t>(cols, 1)) return {true, false, rs};
  if (rs == 1 && cs >= std::max<int64_t>(rows, 1)) return {true, true, cs};
  return {false, false, 0};
}

// Element offset of batch index `i` over the leading (batch) dims of t.
int64_t batch_offset(const Tensor& t, int64_t i) { return strided_offset(t.shape(), t.strides(), i, t.dim() - 2); }

// True when the batch dims of `a` stack its rows evenly (row stride `ld`), so [batch, M, K] is one
// [batch*M, K] matrix, and `b` is the same matrix for every batch (all batch strides 0).
bool foldable(const Tensor& a, const MatLayout& la, const Tensor& b) {
  if (la.trans) return false;
  int64_t nd = a.dim();
  int64_t expect = a.shape()[nd - 2] * la.ld;
  for (int64_t d = nd - 3; d >= 0; --d) {
    if (a.shape()[d] == 1) continue;
    if (a.strides()[d] != expect) return false;
    expect *= a.shape()[d];
  }
  for (int64_t d = 0; d < b.dim() - 2; ++d)
    if (b.shape()[d] != 1 && b.strides()[d] != 0) return false;
  return true;
}

}  // namespace

void CpuBackend::matmul(const Tensor& a_in, const Tensor& b_in, Tensor& out) {
  check_openblas_core();
  const int64_t nd = out.dim();
  const int64_t M = out.shape()[nd - 2], N = out.shape()[nd - 1], K = a_in.shape()[nd - 1];
  if (out.numel() == 0) return;
  if (K == 0) return fill(out, 0.0);
  MatLayout la = layout_of(a_in), lb = layout_of(b_in);
  Tensor a = la.ok ? a_in : contiguous_copy(a_in);
  Tensor b = lb.ok ? b_in : contiguous_copy(b_in);
  if (!la.ok) la = layout_of(a);
  if (!lb.ok) lb = layout_of(b);
  const int64_t batch = out.numel() / (M * N);
  dispatch_float(out.dtype(), "matmul", [&]<class T>() {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* pc = out.data<T>();
    if (batch == 1 || foldable(a, la, b)) {
      const int64_t R = M * batch;  // rows of the one product
      if (R < N) {  // wide products: OpenBLAS's own threading
        gemm<T>(la.trans, lb.trans, R, N, K, T(1), pa, la.ld, pb, lb.ld, T(0), pc, N);
        return;
      }
      // Tall products split by rows of C over the threads, one gemm each (OpenBLAS single-threaded
      // inside the region): a Linear layer's products ([B*L, d] x [d, d'], its weight gradient
      // [d', B*L] x [B*L, d]) ran 10-30% faster so than under OpenBLAS's own threading on 2 cores
      // (docs/benchmarks.md). Each element of C is one gemm's, so the result does not depend on
      // the thread count.
      parallel_for(R, N * K / 16, [&](int64_t r0, int64_t r1) {
        gemm<T>(la.trans, lb.trans, r1 - r0, N, K, T(1), pa + r0 * (la.trans ? 1 : la.ld), la.ld, pb, lb.ld, T(0),
                pc + r0 * N, N);
      });
      return;
    }
    // Small products: one gemm per thread (OpenBLAS runs single-threaded inside our region).
    parallel_for(batch, M * N * K / 64, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        gemm<T>(la.trans, lb.trans, M, N, K, T(1), pa + batch_offset(a, i), la.ld, pb + batch_offset(b, i), lb.ld,
                T(0), pc + i * M * N, N);
    });
  });
}

}  // namespace memgrad::cpu
