// Cross-entropy from logits, fused with log-softmax, with ignore_index and label smoothing.
#include <cmath>
#include <limits>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/parallel.h"
#include "backends/scalar_math.h"

namespace memgrad::cpu {
namespace {

std::vector<int64_t> checked_targets(const Tensor& target, int64_t C, int64_t ignore_index) {
  Tensor t = contiguous_copy(target);
  std::vector<int64_t> out(static_cast<size_t>(t.numel()));
  dispatch_index(t.dtype(), "cross_entropy", [&]<class I>() {
    const I* p = t.data<I>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      int64_t v = p[i];
      MG_CHECK(v == ignore_index || (v >= 0 && v < C), "cross_entropy",
               "target {} at position {} is out of range for {} classes", v, i, C);
      out[i] = v;
    }
  });
  return out;
}

}  // namespace

void CpuBackend::cross_entropy(const Tensor& logits_in, const Tensor& target, int64_t ignore_index,
                               double label_smoothing, Tensor& losses, Tensor& lse) {
  Tensor logits = contiguous_copy(logits_in);
  const int64_t N = logits.shape()[0], C = logits.shape()[1];
  auto tg = checked_targets(target, C, ignore_index);
  dispatch_float(logits.dtype(), "cross_entropy", [&]<class T>() {
    const T* px = logits.data<T>();
    T *pl = losses.data<T>(), *pz = lse.data<T>();
    parallel_for(N, C * 8, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* x = px + r * C;
        T m = -std::numeric_limits<T>::infinity();
        for (int64_t c = 0; c < C; ++c) m = nan_max(m, x[c]);  // NaN propagates (scalar_math.h)
        double s = 0, sum_x = 0;
        for (int64_t c = 0; c < C; ++c) s += std::exp(x[c] - m), sum_x += x[c];
        T z = static_cast<T>(m + std::log(s));
        pz[r] = z;
        if (tg[r] == ignore_index) {
          pl[r] = 0;
          continue;
        }
        // -sum_c q_c log p_c with q = (1 - ls) * onehot + ls / C; without smoothing a -inf logit
        // elsewhere is a zero probability, not 0 * -inf
        double loss = z - (1.0 - label_smoothing) * x[tg[r]];
        if (label_smoothing != 0) loss -= label_smoothing * sum_x / C;
        pl[r] = static_cast<T>(loss);
      }
    });
  });
}

void CpuBackend::cross_entropy_backward(const Tensor& logits_in, const Tensor& target, const Tensor& lse,
                                        const Tensor& scale, int64_t ignore_index, double label_smoothing,
                                        Tensor& grad_logits) {
  Tensor logits = contiguous_copy(logits_in), sc = contiguous_copy(scale);
  const int64_t N = logits.shape()[0], C = logits.shape()[1];
  auto tg = checked_targets(target, C, ignore_index);
  dispatch_float(logits.dtype(), "cross_entropy_backward", [&]<class T>() {
    const T *px = logits.data<T>(), *pz = lse.data<T>(), *ps = sc.data<T>();
    T* pg = grad_logits.data<T>();
    const T off = static_cast<T>(label_smoothing / C), on = static_cast<T>(1.0 - label_smoothing);
    parallel_for(N, C * 8, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        T* g = pg + r * C;
        const T* x = px + r * C;
        if (tg[r] == ignore_index) {
          for (int64_t c = 0; c < C; ++c) g[c] = 0;
          continue;
        }
        for (int64_t c = 0; c < C; ++c) g[c] = ps[r] * (std::exp(x[c] - pz[r]) - off);
        g[tg[r]] -= ps[r] * on;
      }
    });
  });
}

}  // namespace memgrad::cpu
