#pragma once
// This machine's raw cblas_sgemm rate, the yardstick the benchmark programs print beside their
// own figures (measured in the same run, so ratios to it compare like with like).
#include <cblas.h>

#include <vector>

#include "autograd/ops.h"
#include "benchmarks/bench_common.h"

namespace memgrad::bench {

// GFLOP/s of one n x n x n cblas_sgemm: the median of 9 calls after a warm-up call.
inline double sgemm_gflops(int64_t n) {
  Generator g(1);
  Tensor a = randn({n, n}, DType::float32, &g), b = randn({n, n}, DType::float32, &g), c = empty({n, n});
  auto run = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data<float>(), n, b.data<float>(), n,
                0.0f, c.data<float>(), n);
  };
  run();
  std::vector<double> t;
  for (int r = 0; r < 9; ++r) t.push_back(seconds(run));
  return 2.0 * n * n * n / median(t) / 1e9;
}

}  // namespace memgrad::bench
