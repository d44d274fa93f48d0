// Runs CudaBackend's sparse-row kernels of the top-k feed-forward layer (backends/cuda/
// cuda_sparse_rows.*, kernels emulated on the host) against CpuBackend on random inputs: row_topk
// with and without a bias, k = 1, k = F, F below / above one block of threads, ties, -0 / +0, NaN
// and +-inf (NaN first, ties to the lower column); gather_rows_sum / gather_rows_dot /
// scatter_rows_add with repeated indices, D below / above a warp. Grids are capped at 3 blocks
// (every kernel is grid-stride), so the loops over rows wrap. Built and run by tests/cuda_emu/run.sh.
#include <cmath>
#include <cstdio>
#include <random>
#include <string>

#include "backends/cpu/cpu_backend.h"
#include "backends/cuda/cuda_backend.h"
#include "fake_cuda.h"

using namespace memgrad;

namespace {
cpu::CpuBackend CPU;
Backend& GPU = cuda::emu_backend();
std::mt19937_64 rng(11);
int failures = 0, checks = 0;

// Random values in T; `mode` 0: uniform, 1: small integers (ties), 2: specials mixed in.
Tensor rnd(const Shape& s, DType t, int mode = 0) {
  Tensor x = empty(s, t);
  dispatch_float(t, "rnd", [&]<class T>() {
    T* p = x.data<T>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      double v = std::uniform_real_distribution<double>(-3, 3)(rng);
      if (mode == 1) v = std::floor(v);
      p[i] = static_cast<T>(v);
      if (mode == 2) {
        const int c = static_cast<int>(rng() % 12);
        if (c == 0) p[i] = NAN;
        if (c == 1) p[i] = INFINITY;
        if (c == 2) p[i] = -INFINITY;
        if (c == 3) p[i] = T(-0.0);
        if (c == 4) p[i] = T(0.0);
      }
    }
  });
  return x;
}

Tensor rnd_idx(const Shape& s, int64_t F) {
  Tensor x = empty(s, DType::int64);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<int64_t>()[i] = static_cast<int64_t>(rng() % F);
  return x;
}

Tensor clone_of(const Tensor& t) {
  Tensor c = empty(t.shape(), t.dtype());
  CPU.copy(t, c);
  return c;
}

void check(const Tensor& g, const Tensor& c, const std::string& what, double rtol) {
  ++checks;
  dispatch_all(c.dtype(), "check", [&]<class T>() {
    auto a = g.to_vector<T>(), b = c.to_vector<T>();
    for (size_t i = 0; i < a.size(); ++i) {
      bool ok;
      if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(a[i]) || std::isnan(b[i])) ok = std::isnan(a[i]) && std::isnan(b[i]);
        else if (std::isinf(a[i]) || std::isinf(b[i])) ok = a[i] == b[i];
        else ok = std::fabs(double(a[i]) - double(b[i])) <= rtol * (std::fabs(double(b[i])) + 1);
      } else {
        ok = a[i] == b[i];
      }
      if (!ok) {
        printf("FAIL %s: [%zu] gpu %.17g cpu %.17g\n", what.c_str(), i, double(a[i]), double(b[i]));
        ++failures;
        return;
      }
    }
  });
}

void test_row_topk() {
  for (DType t : {DType::float32, DType::float64})
    for (int64_t F : {1, 5, 37, 256, 700})
      for (int64_t k : {int64_t{1}, int64_t{3}, F / 2, F})
        for (int mode : {0, 1, 2})
          for (bool bias : {false, true}) {
            if (k < 1 || k > F) continue;
            const int64_t R = 7;
            Tensor s = rnd({R, F}, t, mode), b = bias ? rnd({F}, t, mode == 2 ? 0 : mode) : Tensor();
            Tensor sg = clone_of(s), sc = clone_of(s);
            Tensor vg = empty({R, k}, t), vc = empty({R, k}, t);
            Tensor ig = empty({R, k}, DType::int64), ic = empty({R, k}, DType::int64);
            GPU.row_topk(sg, b, vg, ig);
            CPU.row_topk(sc, b, vc, ic);
            const std::string what = "row_topk " + to_string(t) + " F " + std::to_string(F) + " k " + std::to_string(k) +
                                     " mode " + std::to_string(mode) + (bias ? " bias" : "");
            check(ig, ic, what + " indices", 0);
            check(vg, vc, what + " values", 0);
            check(sg, sc, what + " scores + bias", 0);
          }
}

void test_gather_scatter() {
  for (DType t : {DType::float32, DType::float64})
    for (int64_t D : {1, 7, 33, 130})
      for (int64_t k : {0, 1, 4}) {
        const int64_t R = 9, F = 6;  // F < R * k: indices repeat
        const double tol = t == DType::float32 ? 1e-5 : 1e-12;
        Tensor table = rnd({F, D}, t), idx = rnd_idx({R, k}, F), coef = rnd({R, k}, t), x = rnd({R, D}, t);
        const std::string what = to_string(t) + " D " + std::to_string(D) + " k " + std::to_string(k);
        Tensor og = empty({R, D}, t), oc = empty({R, D}, t);
        GPU.gather_rows_sum(table, idx, coef, og);
        CPU.gather_rows_sum(table, idx, coef, oc);
        check(og, oc, "gather_rows_sum " + what, tol);
        Tensor dg = empty({R, k}, t), dc = empty({R, k}, t);
        GPU.gather_rows_dot(table, idx, x, dg);
        CPU.gather_rows_dot(table, idx, x, dc);
        check(dg, dc, "gather_rows_dot " + what, tol);
        Tensor tg = clone_of(table), tc = clone_of(table);
        GPU.scatter_rows_add(tg, idx, coef, x);
        CPU.scatter_rows_add(tc, idx, coef, x);
        check(tg, tc, "scatter_rows_add " + what, tol);
      }
}

}  // namespace

int main() {
  emu::cap_grid(3);  // every kernel here is grid-stride: 3 blocks make their loops wrap
  test_row_topk();
  test_gather_scatter();
  printf("%d checks, %d failures; %ld kernel launches at %zu launch sites, %ld blocks\n", checks, failures,
         (long)emu::launches(), emu::site_launches().size(), (long)emu::blocks_run());
  return failures ? 1 : 0;
}
