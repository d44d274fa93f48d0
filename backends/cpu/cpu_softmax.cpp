// Row-wise softmax and log-softmax over the last dim, and their backward.
#include <cmath>
#include <limits>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/parallel.h"
#include "backends/cpu/row_ops.h"

namespace memgrad::cpu {

void CpuBackend::softmax(const Tensor& x_in, Tensor& out, bool log) {
  Tensor x = contiguous_copy(x_in);
  const int64_t C = x.dim() == 0 ? 1 : x.shape().back();
  const int64_t rows = C == 0 ? 0 : x.numel() / C;
  dispatch_float(x.dtype(), "softmax", [&]<class T>() {
    const T* px = x.data<T>();
    T* po = out.data<T>();
    parallel_for(rows, C * 8, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* xr = px + r * C;
        T* orow = po + r * C;
        T m = row_max(xr, C);  // NaN when the row holds one: the whole row becomes NaN
        if (m == -std::numeric_limits<T>::infinity()) m = 0;  // a fully masked row: keep it finite
        T sum = exp_sub_sum(xr, m, orow, C);
        if (log) {
          T log_sum = std::log(sum);  // (x - m) - log(sum): exact x - m, no rounding at the scale of m
          for (int64_t c = 0; c < C; ++c) orow[c] = (xr[c] - m) - log_sum;
        } else {
          // a row of -inf (every entry masked) has sum 0: its probabilities are 0, not NaN; a row
          // with NaN or +inf has sum NaN, and every probability NaN (scalar_math.h)
          T inv = sum == T(0) ? T(0) : T(1) / sum;
          for (int64_t c = 0; c < C; ++c) orow[c] *= inv;
        }
      }
    });
  });
}

void CpuBackend::softmax_backward(const Tensor& y_in, const Tensor& g_in, Tensor& out, bool log) {
  Tensor y = contiguous_copy(y_in), g = contiguous_copy(g_in);
  const int64_t C = y.dim() == 0 ? 1 : y.shape().back();
  const int64_t rows = C == 0 ? 0 : y.numel() / C;
  dispatch_float(y.dtype(), "softmax_backward", [&]<class T>() {
    const T* py = y.data<T>();
    const T* pg = g.data<T>();
    T* po = out.data<T>();
    parallel_for(rows, C * 4, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* yr = py + r * C;
        const T* gr = pg + r * C;
        T* orow = po + r * C;
        if (log) {  // dx = g - softmax * sum(g)
          T s = row_sum(gr, C);
          for (int64_t c = 0; c < C; ++c) orow[c] = gr[c] - fast_exp(yr[c]) * s;
        } else {  // dx = y * (g - sum(g * y))
          T s = row_dot(gr, yr, C);
          for (int64_t c = 0; c < C; ++c) orow[c] = yr[c] * (gr[c] - s);
        }
      }
    });
  });
}

}  // namespace memgrad::cpu
