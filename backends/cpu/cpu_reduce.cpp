// Reductions on the CPU. Every case becomes one shape: a contiguous [A, R, B] block reduced over R.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "backends/reduce_block.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/parallel.h"
#include "backends/scalar_math.h"

namespace memgrad::cpu {
namespace {

// Accumulator type: double for floats (accuracy), int64 for integers.
template <class T>
using acc_t = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

using Block = ReduceBlock;  // backends/reduce_block.h

template <class T, class Acc, class Step>
void reduce_block(const Block& blk, Tensor& out, Acc init, Step step) {
  const T* x = blk.x.data<T>();
  T* o = out.data<T>();
  const int64_t A = blk.A, R = blk.R, B = blk.B;
  if (B == 1) {
    parallel_for(A, R, [&](int64_t a0, int64_t a1) {
      for (int64_t a = a0; a < a1; ++a) {
        Acc acc = init;
        const T* row = x + a * R;
        for (int64_t r = 0; r < R; ++r) acc = step(acc, row[r]);
        o[a] = static_cast<T>(acc);
      }
    });
    return;
  }
  constexpr int64_t kCols = 256;  // columns per task, accumulated in a local buffer
  const int64_t col_tasks = (B + kCols - 1) / kCols;
  parallel_for(A * col_tasks, R * kCols, [&](int64_t t0, int64_t t1) {
    Acc acc[kCols];
    for (int64_t t = t0; t < t1; ++t) {
      int64_t a = t / col_tasks, c0 = (t % col_tasks) * kCols, nc = std::min(kCols, B - c0);
      std::fill(acc, acc + nc, init);
      for (int64_t r = 0; r < R; ++r) {
        const T* row = x + (a * R + r) * B + c0;
        for (int64_t c = 0; c < nc; ++c) acc[c] = step(acc[c], row[c]);
      }
      for (int64_t c = 0; c < nc; ++c) o[a * B + c0 + c] = static_cast<T>(acc[c]);
    }
  });
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, Tensor& out) {
  Block blk = as_reduce_block(x, dims);
  dispatch_numeric(x.dtype(), "reduce", [&]<class T>() {
    using Acc = acc_t<T>;
    if (op == ReduceOp::sum)  // integers wrap (int64 accumulator, then modulo T)
      return reduce_block<T>(blk, out, Acc(0), [](Acc a, T v) { return wrap_add(a, static_cast<Acc>(v)); });
    MG_CHECK(blk.R > 0, op == ReduceOp::max ? "max" : "min", "cannot reduce over an empty dim (shape {})",
             str(x.shape()));
    if (op == ReduceOp::max)
      return reduce_block<T>(blk, out, max_identity<T>(),
                             [](T a, T v) { return nan_max(a, v); });  // NaN propagates (scalar_math.h)
    return reduce_block<T>(blk, out, min_identity<T>(), [](T a, T v) { return nan_min(a, v); });
  });
}

void CpuBackend::arg_reduce(ReduceOp op, const Tensor& x, int64_t dim, Tensor& values, Tensor& indices) {
  Block blk = as_reduce_block(x, {dim});
  MG_CHECK(blk.R > 0, "max", "cannot reduce over an empty dim (shape {})", str(x.shape()));
  dispatch_numeric(x.dtype(), "arg_reduce", [&]<class T>() {
    const T* p = blk.x.data<T>();
    T* v = values.data<T>();
    int64_t* ix = indices.data<int64_t>();
    const int64_t R = blk.R, B = blk.B;
    bool is_max = op == ReduceOp::max;
    parallel_for(blk.A * B, R, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        int64_t a = i / B, b = i % B, best = 0;
        const T* col = p + a * R * B + b;
        T bv = col[0];
        for (int64_t r = 1; r < R && bv == bv; ++r) {  // stops at the first NaN
          T c = col[r * B];
          if ((is_max ? c > bv : c < bv) || c != c) bv = c, best = r;
        }
        v[i] = bv;
        ix[i] = best;
      }
    });
  });
}

}  // namespace memgrad::cpu
