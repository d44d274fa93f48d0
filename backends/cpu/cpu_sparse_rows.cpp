// Sparse-row kernels of the top-k feed-forward layer (contracts in backends/backend.h): the
// per-row top-k of a score block, and the gather / scatter of table rows that topk_linear and
// sparse_linear (autograd/ops/sparse_linear.cpp) compute with instead of [rows, F] products.
// Every tensor is contiguous; indices were produced or checked by the caller.
#include <algorithm>
#include <cstdint>

#include "backends/cpu/attention_common.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/parallel.h"
#include "backends/cpu/row_ops.h"
#include "backends/cpu/topk_select.h"

namespace memgrad::cpu {

void CpuBackend::row_topk(Tensor& s, const Tensor& bias, Tensor& values, Tensor& idx) {
  const int64_t R = s.shape()[0], F = s.shape()[1], k = idx.shape()[1];
  if (R == 0 || k == 0) return;
  dispatch_float(s.dtype(), "row_topk", [&]<class T>() {
    // per thread: selection candidates [F] and the picks [k]
    Tensor ws = thread_workspace(static_cast<int64_t>(F * sizeof(Scored<T>) + k * sizeof(int32_t)), DType::boolean);
    const T* b = bias.defined() ? bias.data<T>() : nullptr;
    T* S = s.data<T>();
    T* V = values.data<T>();
    int64_t* I = idx.data<int64_t>();
    parallel_for(R, 4 * F, [&](int64_t r0, int64_t r1) {
      auto* cand = reinterpret_cast<Scored<T>*>(thread_slot<bool>(ws));
      auto* pick = reinterpret_cast<int32_t*>(cand + F);
      for (int64_t r = r0; r < r1; ++r) {
        T* sr = S + r * F;  // [F]
        if (b)
#pragma omp simd
          for (int64_t f = 0; f < F; ++f) sr[f] += b[f];
        const int64_t m = select_top<T>(sr, nullptr, F, k, cand, pick);  // = k: every column is a candidate
        for (int64_t t = 0; t < m; ++t) {
          I[r * k + t] = pick[t];
          V[r * k + t] = sr[pick[t]];
        }
      }
    });
  });
}

void CpuBackend::gather_rows_sum(const Tensor& table, const Tensor& idx, const Tensor& coef, Tensor& out) {
  const int64_t R = out.shape()[0], D = out.shape()[1], k = idx.shape()[1];
  dispatch_float(out.dtype(), "gather_rows_sum", [&]<class T>() {
    const T* W = table.data<T>();
    const T* C = coef.data<T>();
    const int64_t* I = idx.data<int64_t>();
    T* O = out.data<T>();
    parallel_for(R, (k + 1) * D, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        T* o = O + r * D;  // [D]
        std::fill(o, o + D, T(0));
        for (int64_t j = 0; j < k; ++j) {
          const T c = C[r * k + j];
          const T* w = W + I[r * k + j] * D;
#pragma omp simd
          for (int64_t d = 0; d < D; ++d) o[d] += c * w[d];
        }
      }
    });
  });
}

void CpuBackend::gather_rows_dot(const Tensor& table, const Tensor& idx, const Tensor& x, Tensor& out) {
  const int64_t R = out.shape()[0], k = out.shape()[1], D = table.shape()[1];
  dispatch_float(out.dtype(), "gather_rows_dot", [&]<class T>() {
    const T* W = table.data<T>();
    const T* X = x.data<T>();
    const int64_t* I = idx.data<int64_t>();
    T* O = out.data<T>();
    parallel_for(R, k * D, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t j = 0; j < k; ++j) O[r * k + j] = row_dot(W + I[r * k + j] * D, X + r * D, D);
    });
  });
}

void CpuBackend::scatter_rows_add(Tensor& table, const Tensor& idx, const Tensor& coef, const Tensor& x) {
  const int64_t R = x.shape()[0], D = x.shape()[1], k = idx.shape()[1];
  if (R == 0 || k == 0 || D == 0) return;
  dispatch_float(table.dtype(), "scatter_rows_add", [&]<class T>() {
    T* W = table.data<T>();
    const T* C = coef.data<T>();
    const T* X = x.data<T>();
    const int64_t* I = idx.data<int64_t>();
    // Race-free: each task owns a band of columns of every table row (a multiple of a cache
    // line wide: little false sharing) and walks all (r, j) pairs for it.
    constexpr int64_t kLine = 64 / sizeof(T);
    const int64_t tasks = std::clamp<int64_t>((D + kLine - 1) / kLine, 1, omp_get_max_threads());
    const int64_t width = ((D + tasks - 1) / tasks + kLine - 1) / kLine * kLine;
    const int64_t bands = (D + width - 1) / width;
    parallel_for(bands, R * k * width, [&](int64_t b0, int64_t b1) {
      for (int64_t band = b0; band < b1; ++band) {
        const int64_t c0 = band * width, nc = std::min(width, D - c0);
        for (int64_t r = 0; r < R; ++r) {
          const T* xr = X + r * D + c0;
          for (int64_t j = 0; j < k; ++j) {
            const T c = C[r * k + j];
            T* w = W + I[r * k + j] * D + c0;
#pragma omp simd
            for (int64_t d = 0; d < nc; ++d) w[d] += c * xr[d];
          }
        }
      }
    });
  });
}

}  // namespace memgrad::cpu
