// Fused layer norm over the last dim: one pass for statistics and output, one for the backward.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/parallel.h"

namespace memgrad::cpu {

namespace {

// Rows of t [..., C] read in place: the element offset of row r (its leading dims' multi-index
// dotted with their strides). For a gradient that arrives broadcast (mean pooling's backward hands
// on an expand view, stride 0 along the tokens), a contiguous copy would be a [..., C] tensor.
struct RowReader {
  const Tensor& t;
  int64_t offset(int64_t r) const {
    int64_t off = 0;
    for (int64_t d = t.dim() - 2; d >= 0; --d) {
      const int64_t n = t.shape()[d];
      off += (r % n) * t.strides()[d];
      r /= n;
    }
    return off;
  }
};

// In-place rows need unit stride along C (any stride when C <= 1) and non-negative strides.
bool rows_readable(const Tensor& t) {
  if (t.dim() == 0) return false;
  if (t.shape().back() > 1 && t.strides().back() != 1) return false;
  for (int64_t d = 0; d < t.dim(); ++d)
    if (t.strides()[d] < 0) return false;
  return true;
}

// One row of the backward, the weight's presence a template argument (no test per element, so
// that every loop vectorises): bw [C] += g * xhat and bb [C] += g when bw is given; dx (when
// given; it may be g itself, each element read before it is written) = rstd * (dy - mean(dy) -
// xhat * mean(dy * xhat)), dy = g * w.
template <class T, bool kW>
void backward_row(const T* xr, const T* gr, const T* pw, T m, T rs, int64_t C, T* bw, T* bb, T* dxr) {
  if (bw) {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const T xhat = (xr[c] - m) * rs;
      bw[c] += gr[c] * xhat;
      bb[c] += gr[c];
    }
  }
  if (!dxr) return;
  double sum_dy = 0, sum_dy_xhat = 0;
#pragma omp simd reduction(+ : sum_dy, sum_dy_xhat)  // vectorised sums, as in forward
  for (int64_t c = 0; c < C; ++c) {
    const T xhat = (xr[c] - m) * rs;
    const T dy = kW ? gr[c] * pw[c] : gr[c];
    sum_dy += dy;
    sum_dy_xhat += dy * xhat;
  }
  const T mdy = static_cast<T>(sum_dy / C), mdyx = static_cast<T>(sum_dy_xhat / C);
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) {
    const T xhat = (xr[c] - m) * rs;
    const T dy = kW ? gr[c] * pw[c] : gr[c];
    dxr[c] = rs * (dy - mdy - xhat * mdyx);
  }
}

// One row of the forward: out = (x - mean) * rstd (* w) (+ b), presence of w and b template arguments.
template <class T, bool kW, bool kB>
void forward_row(const T* xr, const T* pw, const T* pb, T m, T rs, int64_t C, T* orow) {
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) {
    T v = (xr[c] - m) * rs;
    if constexpr (kW) v *= pw[c];
    if constexpr (kB) v += pb[c];
    orow[c] = v;
  }
}

}  // namespace

void CpuBackend::layer_norm(const Tensor& x_in, const Tensor& weight, const Tensor& bias, double eps, Tensor& out,
                            Tensor& mean, Tensor& rstd) {
  Tensor x = contiguous_copy(x_in);
  Tensor w = weight.defined() ? contiguous_copy(weight) : weight;
  Tensor b = bias.defined() ? contiguous_copy(bias) : bias;
  const int64_t C = x.shape().back(), R = x.numel() / std::max<int64_t>(C, 1);
  dispatch_float(x.dtype(), "layer_norm", [&]<class T>() {
    const T* px = x.data<T>();
    const T* pw = w.defined() ? w.data<T>() : nullptr;
    const T* pb = b.defined() ? b.data<T>() : nullptr;
    T *po = out.data<T>(), *pm = mean.data<T>(), *ps = rstd.data<T>();
    parallel_for(R, C * 4, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* xr = px + r * C;
        // Sums in double, vectorised (omp simd reductions: several partial sums in a fixed order; a
        // serial sum is a chain of dependent adds that ran this kernel at latency, not throughput)
        double s = 0, ss = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t c = 0; c < C; ++c) s += xr[c];
        double mu = s / C;
#pragma omp simd reduction(+ : ss)
        for (int64_t c = 0; c < C; ++c) ss += (xr[c] - mu) * (xr[c] - mu);
        T m = static_cast<T>(mu), rs = static_cast<T>(1.0 / std::sqrt(ss / C + eps));
        pm[r] = m;
        ps[r] = rs;
        T* orow = po + r * C;
        if (pw && pb) forward_row<T, true, true>(xr, pw, pb, m, rs, C, orow);
        else if (pw) forward_row<T, true, false>(xr, pw, pb, m, rs, C, orow);
        else if (pb) forward_row<T, false, true>(xr, pw, pb, m, rs, C, orow);
        else forward_row<T, false, false>(xr, pw, pb, m, rs, C, orow);
      }
    });
  });
}

void CpuBackend::layer_norm_backward(const Tensor& grad_in, const Tensor& x_in, const Tensor& weight,
                                     const Tensor& mean, const Tensor& rstd, Tensor& grad_x, Tensor& grad_weight,
                                     Tensor& grad_bias) {
  Tensor x = contiguous_copy(x_in);
  const Tensor g = rows_readable(grad_in) ? grad_in : contiguous_copy(grad_in);  // rows read in place
  const RowReader grow{g};
  Tensor w = weight.defined() ? contiguous_copy(weight) : weight;
  const int64_t C = x.shape().back(), R = x.numel() / std::max<int64_t>(C, 1);
  dispatch_float(x.dtype(), "layer_norm_backward", [&]<class T>() {
    const T *px = x.data<T>(), *pg = static_cast<const T*>(g.raw_data()), *pm = mean.data<T>(), *ps = rstd.data<T>();
    const T* pw = w.defined() ? w.data<T>() : nullptr;
    T* pdx = grad_x.defined() ? grad_x.data<T>() : nullptr;
    const bool want_wb = grad_weight.defined() || grad_bias.defined();
    int threads = omp_get_max_threads();
    // per-thread partial sums of grad_weight and grad_bias in double, added up after the loop; each
    // thread sums kBlockRows rows at a time in T (vector-wide: a double accumulator per element
    // halves the vector width) and adds each block's sums into its partials
    constexpr int64_t kBlockRows = 32;
    std::vector<double> partial(want_wb ? static_cast<size_t>(threads) * 2 * C : 0, 0.0);
    parallel_for(R, C * 6, [&](int64_t r0, int64_t r1) {
      double* pw_acc = want_wb ? partial.data() + static_cast<size_t>(omp_get_thread_num()) * 2 * C : nullptr;
      std::vector<T> block_wb(want_wb ? static_cast<size_t>(2 * C) : 0);  // [2, C]: sum g * xhat, sum g
      T *bw = block_wb.data(), *bb = bw + C;
      for (int64_t rb = r0; rb < r1; rb += kBlockRows) {
        const int64_t rb_end = std::min(r1, rb + kBlockRows);
        if (pw_acc) std::fill(block_wb.begin(), block_wb.end(), T(0));
        for (int64_t r = rb; r < rb_end; ++r) {
          T* dxr = pdx ? pdx + r * C : nullptr;  // may be gr itself (backend.h): element c is read, then written
          if (pw)
            backward_row<T, true>(px + r * C, pg + grow.offset(r), pw, pm[r], ps[r], C, pw_acc ? bw : nullptr, bb, dxr);
          else
            backward_row<T, false>(px + r * C, pg + grow.offset(r), pw, pm[r], ps[r], C, pw_acc ? bw : nullptr, bb, dxr);
        }
        if (pw_acc)
          for (int64_t c = 0; c < C; ++c) pw_acc[c] += bw[c], pw_acc[C + c] += bb[c];
      }
    });
    if (!want_wb) return;
    for (int64_t c = 0; c < C; ++c) {
      double sw = 0, sb = 0;
      for (int t = 0; t < threads; ++t) sw += partial[t * 2 * C + c], sb += partial[t * 2 * C + C + c];
      if (grad_weight.defined()) grad_weight.data<T>()[c] = static_cast<T>(sw);
      if (grad_bias.defined()) grad_bias.data<T>()[c] = static_cast<T>(sb);
    }
  });
}

}  // namespace memgrad::cpu
