// GFLOP/s of memgrad::matmul (float32) beside raw cblas_sgemm on the same sizes, in the same run.
//
// Kinds, for each size n (every kind does the same 2·n³ flops):
//   2d       [n, n] @ [n, n]
//   batched  [8, n/2, n/2] @ [8, n/2, n/2]: 8 independent products (cblas: a loop of 8 sgemm calls)
//   shared   [8, n/2, n/2] @ [n/2, n/2]: one right operand for the batch, as a Linear layer on
//            3-d input (cblas: one sgemm of [8·n/2, n/2] @ [n/2, n/2])
// Each measurement: warm-up, then the median of --repeats samples, memgrad and cblas samples
// interleaved so that a change in machine load hits both; a sample repeats the call until it has
// run for at least --min-ms milliseconds. Prints a table and writes JSON (--out), atomically.
#include <CLI/CLI.hpp>
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "benchmarks/bench_common.h"

using namespace memgrad;
using json = nlohmann::json;

namespace {

// Seconds per call of f, averaged over `calls` back-to-back calls.
double time_per_call(const std::function<void()>& f, int calls) {
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < calls; ++i) f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / calls;
}

struct Timing {
  double memgrad_s, cblas_s;
};

// Warm-up, calibration of the calls per sample, then interleaved samples of both.
Timing measure(const std::function<void()>& mg, const std::function<void()>& cb, int repeats, double min_s) {
  mg(), cb(), mg(), cb();  // warm-up: thread pools, allocator cache, page faults
  double one = std::max(time_per_call(mg, 1), 1e-7);
  int calls = std::max(1, static_cast<int>(std::ceil(min_s / one)));
  std::vector<double> a, b;
  for (int r = 0; r < repeats; ++r) {
    a.push_back(time_per_call(mg, calls));
    b.push_back(time_per_call(cb, calls));
  }
  return {bench::median(a), bench::median(b)};
}

// Largest |x - y| over two float buffers.
double max_abs_diff(const float* x, const float* y, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, static_cast<double>(std::fabs(x[i] - y[i])));
  return m;
}

void sgemm(int64_t M, int64_t N, int64_t K, const float* a, const float* b, float* c) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> sizes{256, 512, 1024, 2048};
  int repeats = 7, batch = 8;
  double min_ms = 50;
  std::string out = "benchmarks/results/matmul.json";
  CLI::App app{"GFLOP/s of memgrad::matmul beside cblas_sgemm"};
  app.add_option("--sizes", sizes, "square sizes n")->capture_default_str();
  app.add_option("--repeats", repeats, "timed samples per measurement (median)")->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--min-ms", min_ms, "minimum length of one sample, ms")->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--batch", batch, "batch of the batched kinds")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--out", out, "JSON output path")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  NoGradGuard no_grad;
  const json machine = bench::machine();
  std::printf("machine: %s, %d threads\n", bench::describe(machine).c_str(), openblas_get_num_threads());
  std::printf("median of %d samples (each >= %.0f ms); batched kinds use batch %d of [n/2, n/2]\n\n", repeats,
              min_ms, batch);
  std::printf("%6s  %-8s  %-34s  %12s  %12s  %6s\n", "n", "kind", "shapes", "memgrad GF/s", "cblas GF/s", "ratio");

  Generator gen(0);
  json results = json::array();
  for (int64_t n : sizes) {
    const int64_t h = n / 2;
    for (std::string kind : {"2d", "batched", "shared"}) {
      Shape sa, sb;
      if (kind == "2d") sa = {n, n}, sb = {n, n};
      if (kind == "batched") sa = {batch, h, h}, sb = {batch, h, h};
      if (kind == "shared") sa = {batch, h, h}, sb = {h, h};
      Tensor a = randn(sa, DType::float32, &gen);  // [n, n] or [batch, n/2, n/2]
      Tensor b = randn(sb, DType::float32, &gen);  // [n, n], [batch, n/2, n/2] or [n/2, n/2]
      Tensor c_ref = empty(kind == "2d" ? Shape{n, n} : Shape{batch, h, h});  // cblas's output
      const float* pa = a.data<float>();
      const float* pb = b.data<float>();
      float* pc = c_ref.data<float>();

      std::function<void()> run_cblas;
      double flops;
      if (kind == "2d") {
        run_cblas = [=] { sgemm(n, n, n, pa, pb, pc); };
        flops = 2.0 * n * n * n;
      } else if (kind == "batched") {
        run_cblas = [=] {
          for (int i = 0; i < batch; ++i) sgemm(h, h, h, pa + i * h * h, pb + i * h * h, pc + i * h * h);
        };
        flops = 2.0 * batch * h * h * h;
      } else {
        run_cblas = [=] { sgemm(batch * h, h, h, pa, pb, pc); };
        flops = 2.0 * batch * h * h * h;
      }
      Tensor c;
      auto run_memgrad = [&] { c = matmul(a, b); };

      // Both must compute the same product before their speeds mean anything.
      run_memgrad();
      run_cblas();
      double err = max_abs_diff(c.data<float>(), pc, c.numel());
      if (err > 1e-3 * std::sqrt(static_cast<double>(n))) {
        std::fprintf(stderr, "memgrad::matmul differs from cblas_sgemm by %g at n=%lld %s\n", err,
                     static_cast<long long>(n), kind.c_str());
        return 1;
      }

      Timing t = measure(run_memgrad, run_cblas, repeats, min_ms / 1000);
      c = Tensor();
      double gm = flops / t.memgrad_s / 1e9, gc = flops / t.cblas_s / 1e9;
      std::string shapes = str(sa) + " @ " + str(sb);
      std::printf("%6lld  %-8s  %-34s  %12.1f  %12.1f  %6.3f\n", static_cast<long long>(n), kind.c_str(),
                  shapes.c_str(), gm, gc, gm / gc);
      std::fflush(stdout);
      results.push_back({{"n", n},
                         {"kind", kind},
                         {"a_shape", sa},
                         {"b_shape", sb},
                         {"flops", flops},
                         {"memgrad_ms", t.memgrad_s * 1e3},
                         {"cblas_ms", t.cblas_s * 1e3},
                         {"memgrad_gflops", gm},
                         {"cblas_gflops", gc},
                         {"ratio", gm / gc},
                         {"max_abs_diff", err}});
    }
  }

  json doc = {{"benchmark", "matmul"},
              {"command", bench::command_line(argc, argv)},
              {"dtype", "float32"},
              {"timestamp", bench::utc_timestamp()},
              {"machine", machine},
              {"config", {{"repeats", repeats}, {"min_ms", min_ms}, {"batch", batch}, {"statistic", "median"}}},
              {"results", results}};
  bench::write_atomically(out, doc.dump(2) + "\n");
  std::printf("\nwrote %s\n", out.c_str());
  return 0;
}
