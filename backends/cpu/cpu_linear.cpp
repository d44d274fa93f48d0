// The elementwise halves of the fused linear (backend.h: linear_epilogue and its backward): one
// vectorised pass over the [R, C] rows each way, GELU from fast_math.h.
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/fast_math.h"
#include "backends/cpu/parallel.h"
#include "backends/scalar_math.h"

namespace memgrad::cpu {
namespace {

// Rows per partial column sum of the backward: fixes the summation order, so grad_bias does not
// depend on the thread count.
constexpr int64_t kRowBlock = 64;

// One row of C: y += b (when kBias), out = act(y). out may be y.
template <class T, bool kBias>
void epilogue_row(Activation act, T* y, const T* b, T* out, int64_t C) {
  if (act == Activation::gelu) {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      T v = y[c];
      if constexpr (kBias) y[c] = v = v + b[c];  // the pre-activation, kept for backward
      out[c] = gelu_value(v);
    }
  } else if (act == Activation::relu) {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) out[c] = relu_value(kBias ? y[c] + b[c] : y[c]);
  } else {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) out[c] = kBias ? y[c] + b[c] : y[c];
  }
}

// One row of C: gp = g * act'(s), s the pre-activation (gelu) or the output (relu); with h,
// also h = act(s) (gelu: from the same Phi(s) as the derivative).
template <class T>
void grad_row(Activation act, const T* s, const T* g, T* gp, T* h, int64_t C) {
  if (act == Activation::gelu && h) {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) gelu_value_grad(s[c], g[c], h[c], gp[c]);
  } else if (act == Activation::gelu) {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) gp[c] = gelu_grad(s[c], g[c]);
  } else {
    if (h) {
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) h[c] = relu_value(s[c]);
    }
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) gp[c] = relu_grad(s[c], g[c]);
  }
}

// Rows and columns of a contiguous [..., C] tensor.
std::pair<int64_t, int64_t> rows_cols(const Tensor& t) {
  const int64_t C = t.dim() == 0 ? 1 : t.shape().back();
  return {C == 0 ? 0 : t.numel() / C, C};
}

}  // namespace

void CpuBackend::linear_epilogue(Activation act, Tensor& y, const Tensor& bias, Tensor& out) {
  dispatch_float(y.dtype(), "linear", [&]<class T>() {
    const std::pair<int64_t, int64_t> rc = rows_cols(y);  // not a structured binding: the lambda below
    const int64_t R = rc.first, C = rc.second;              // captures C (clang 14 refuses bindings there)
    T* py = y.data<T>();
    T* po = out.data<T>();
    const T* pb = bias.defined() ? bias.data<T>() : nullptr;
    parallel_for(R, C * (act == Activation::gelu ? 8 : 1), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        if (pb)
          epilogue_row<T, true>(act, py + r * C, pb, po + r * C, C);
        else
          epilogue_row<T, false>(act, py + r * C, pb, po + r * C, C);
      }
    });
  });
}

void CpuBackend::linear_epilogue_backward(Activation act, const Tensor& saved, const Tensor& grad, Tensor& grad_pre,
                                          Tensor& grad_bias, Tensor& act_out) {
  dispatch_float(grad.dtype(), "linear", [&]<class T>() {
    const std::pair<int64_t, int64_t> rc = rows_cols(grad);  // no structured binding (captured below)
    const int64_t R = rc.first, C = rc.second;
    const T* g = grad.data<T>();
    const T* s = act == Activation::none ? nullptr : saved.data<T>();
    T* gp = act == Activation::none ? nullptr : grad_pre.data<T>();
    T* h = act != Activation::none && act_out.defined() ? act_out.data<T>() : nullptr;
    const int64_t blocks = (R + kRowBlock - 1) / kRowBlock;
    // [blocks, C]: block b's column sums; summed in block order below
    Tensor partial = grad_bias.defined() ? empty({blocks, C}, grad.dtype(), grad.device()) : Tensor();
    T* part = partial.defined() ? partial.data<T>() : nullptr;
    parallel_for(blocks, kRowBlock * C * (act == Activation::gelu ? 8 : 1), [&](int64_t b0, int64_t b1) {
      for (int64_t blk = b0; blk < b1; ++blk) {
        T* acc = part ? part + blk * C : nullptr;
        for (int64_t c = 0; acc && c < C; ++c) acc[c] = T(0);
        for (int64_t r = blk * kRowBlock; r < std::min(R, (blk + 1) * kRowBlock); ++r) {
          const T* src = g + r * C;  // the row of grad_pre: grad itself for none
          if (gp) {
            grad_row(act, s + r * C, src, gp + r * C, h ? h + r * C : nullptr, C);
            src = gp + r * C;
          }
          if (acc) {
#pragma omp simd
            for (int64_t c = 0; c < C; ++c) acc[c] += src[c];
          }
        }
      }
    });
    if (!grad_bias.defined()) return;
    T* db = grad_bias.data<T>();
    parallel_for(C, blocks, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) db[c] = T(0);
      for (int64_t blk = 0; blk < blocks; ++blk) {
        const T* p = part + blk * C;
#pragma omp simd
        for (int64_t c = c0; c < c1; ++c) db[c] += p[c];
      }
    });
  });
}

}  // namespace memgrad::cpu
