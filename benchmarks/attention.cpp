// Time and peak memory of the three attention kinds, forward and forward+backward, over sequence
// lengths, beside this machine's raw cblas_sgemm rate (measured in the same run).
//
// Flops counted per head (non-causal): forward 4·N²·D (QKᵀ and PV), forward+backward 12·N²·D;
// chunked's recomputation in backward is not counted, and topk is given the same dense count, so
// its GFLOP/s reads as "dense-equivalent". Peak overhead = the allocator's peak during the call
// minus what was live before, the output and (forward+backward) the three input gradients.
// `--sweep` times chunked forward+backward and topk over block sizes at one length: the defaults
// in autograd/attention.h come from it. `--paper` makes the tables of Rabe & Staats 2021
// (attention_paper.cpp).
#include <CLI/CLI.hpp>
#include <cblas.h>

#include <cmath>
#include <cstdio>
#include <functional>

#include "autograd/attention.h"
#include "autograd/ops.h"
#include "benchmarks/attention_measure.h"
#include "benchmarks/attention_options.h"
#include "benchmarks/attention_paper.h"
#include "benchmarks/bench_common.h"
#include "benchmarks/sgemm_rate.h"

using namespace memgrad;
using json = nlohmann::json;
using bench::Config;
using bench::human_bytes;
using bench::Measure;
using bench::measure;

namespace {

// On a GPU: memgrad's matmul (cuBLAS sgemm, pedantic float32) at n = 4096, timed to completion.
double device_sgemm_gflops(Device dev) {
  const int64_t n = 4096;
  Generator g(1);
  Tensor a = randn({n, n}, DType::float32, &g, 0, 1, dev), b = randn({n, n}, DType::float32, &g, 0, 1, dev);
  auto run = [&] {
    Tensor c = matmul(a, b);
    synchronize(dev);
  };
  run();
  std::vector<double> t;
  for (int r = 0; r < 9; ++r) t.push_back(bench::seconds(run));
  return 2.0 * n * n * n / bench::median(t) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  std::vector<int64_t> sizes{1024, 2048, 4096, 8192, 16384, 32768, 65536};
  std::vector<std::string> kinds{"vanilla", "chunked", "topk"};
  int64_t vanilla_max = 16384;
  bool sweep = false;
  int64_t sweep_n = 4096;
  std::string out = "benchmarks/results/attention.json";
  CLI::App app{"Time and peak memory of vanilla, chunked and topk attention"};
  app.add_option("--sizes", sizes, "sequence lengths N")->capture_default_str();
  app.add_option("--kinds", kinds, "attention kinds")->capture_default_str();
  app.add_option("--vanilla-max", vanilla_max, "largest N for vanilla (its memory is O(N²))")->capture_default_str();
  app.add_option("--batch", c.B)->capture_default_str();
  app.add_option("--heads", c.H)->capture_default_str();
  app.add_option("--head-dim", c.D)->capture_default_str();
  app.add_option("--top-k", c.top_k)->capture_default_str();
  app.add_option("--repeats", c.repeats, "samples per measurement (median)")->capture_default_str();
  app.add_option("--warmup", c.warmup, "untimed calls before timing, after the memory-measuring one")
      ->capture_default_str();
  app.add_option("--budget", c.budget_s, "seconds after which a measurement stops repeating")->capture_default_str();
  app.add_flag("--sweep", sweep, "sweep block sizes instead (chunked fwd+bwd and topk fwd+bwd)");
  app.add_option("--sweep-n", sweep_n, "sequence length of the sweep")->capture_default_str();
  app.add_option("--out", out, "JSON output path")->capture_default_str();
  bool paper = false;
  bench::PaperOptions po;
  app.add_flag("--paper", paper,
               "the memory tables of Rabe & Staats 2021: N = 2^10 .. 2^18 unless --sizes, one head of dim 64 "
               "(--heads, --head-dim), 3 repeats, --out benchmarks/results/attention_paper.json");
  app.add_option("--q-chunk", po.q_chunk, "--paper: chunked query block (default: the library's)");
  app.add_option("--k-chunk", po.k_chunk, "--paper: chunked key block (default: the library's)");
  app.add_option("--single-call", c.single_call_s,
                 "a first call that takes this long (s) is the only sample (--paper default 10)");
  app.add_option("--headroom", po.headroom, "--paper: run vanilla only where this x its predicted peak fits in "
                 "MemAvailable")->capture_default_str();
  bool options_table = false;
  bench::OptionsBench ob;
  app.add_flag("--options", options_table,
               "the cost of attention's options, each a ratio within this run (causal, window, packed, gqa, bias, "
               "alibi, relative, dropout, sgemm; --cases picks), chunked unless --kinds; --out "
               "benchmarks/results/attention_options.json");
  app.add_option("--cases", ob.cases, "--options: the cases to run (default all)");
  app.add_option("--causal-n", ob.causal_n, "--options: N of the causal case")->capture_default_str();
  app.add_option("--window-large-n", ob.window_large_n, "--options: the long N of the window case")
      ->capture_default_str();
  std::string device = "cpu";
  app.add_option("--device", device, "cpu or cuda (GPU kernels timed to completion; peak from the device allocator)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (!bench::parse_device(device, c.device)) return 2;

  if (paper) {
    // the paper's setting where the command line does not say otherwise (attention_paper.h)
    if (!app.count("--sizes")) sizes = bench::paper_default_sizes();
    if (!app.count("--heads")) c.H = 1;
    if (!app.count("--repeats")) c.repeats = 3;
    if (!app.count("--budget")) c.budget_s = 10;
    if (!app.count("--single-call")) c.single_call_s = 10;
    if (!app.count("--out")) out = "benchmarks/results/attention_paper.json";
    po.sizes = sizes, po.kinds = kinds, po.out = out, po.command = bench::command_line(argc, argv);
    try {
      for (const std::string& k : kinds) (void)parse_attention_kind(k);
      MG_CHECK(!po.q_chunk || *po.q_chunk > 0, "bench_attention", "--q-chunk must be positive");
      MG_CHECK(!po.k_chunk || *po.k_chunk > 0, "bench_attention", "--k-chunk must be positive");
      return bench::run_paper(c, po);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 2;
    }
  }
  if (options_table) {
    if (!app.count("--kinds")) kinds = {"chunked"};
    if (!app.count("--out")) out = "benchmarks/results/attention_options.json";
    ob.kinds = kinds, ob.out = out, ob.command = bench::command_line(argc, argv);
    ob.sgemm_gflops = bench::sgemm_gflops(1024);
    std::printf("machine: %s\ncblas_sgemm at 1024: %.1f GFLOP/s\nB=%lld H=%lld D=%lld, float32, forward+backward\n\n",
                bench::describe(bench::machine()).c_str(), ob.sgemm_gflops, static_cast<long long>(c.B),
                static_cast<long long>(c.H), static_cast<long long>(c.D));
    try {
      for (const std::string& k : kinds) (void)parse_attention_kind(k);
      return bench::run_options(c, ob);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 1;
    }
  }
  json machine = bench::machine();
  std::printf("machine: %s\n", bench::describe(machine).c_str());
  const double sgemm = c.device.is_cpu() ? bench::sgemm_gflops(1024) : device_sgemm_gflops(c.device);
  if (c.device.is_cpu()) std::printf("cblas_sgemm at 1024: %.1f GFLOP/s\n", sgemm);
  else std::printf("device: %s; memgrad matmul (cuBLAS float32) at 4096: %.1f GFLOP/s\n", c.device.str().c_str(), sgemm);
  std::printf("B=%lld H=%lld D=%lld top_k=%lld, float32, median of up to %d samples\n\n",
              static_cast<long long>(c.B), static_cast<long long>(c.H), static_cast<long long>(c.D),
              static_cast<long long>(c.top_k), c.repeats);
  json results = json::array();
  // The whole document, rewritten (atomically) after every measurement: a long run that is
  // stopped early still leaves what it measured.
  auto save = [&] {
    json doc = {{"benchmark", sweep ? "attention_sweep" : "attention"},
                {"command", bench::command_line(argc, argv)},
                {"timestamp", bench::utc_timestamp()},
                {"machine", machine},
                {"sgemm_gflops_1024", sgemm},
                {"config",
                 {{"B", c.B}, {"H", c.H}, {"D", c.D}, {"top_k", c.top_k}, {"dtype", "float32"},
                  {"device", c.device.str()}, {"warmup", c.warmup + 1}, {"repeats", c.repeats},
                  {"timer", c.device.is_cpu() ? "steady_clock" : "cuda_events"},
                  {"q_chunk_default", kDefaultQChunk}, {"k_chunk_default", kDefaultKChunk},
                  {"topk_q_chunk_default", kDefaultTopkQChunk}, {"statistic", "median"}}},
                {"results", results}};
    bench::write_atomically(out, doc.dump(2) + "\n");
  };

  if (sweep) {
    std::printf("%-8s %7s %7s %10s %10s %9s %11s\n", "kind", "q_chunk", "k_chunk", "fwd+bwd s", "cpu s", "GFLOP/s",
                "overhead");
    const double flops = 12.0 * sweep_n * sweep_n * c.D * c.B * c.H;
    for (int64_t qc : {16, 32, 64, 128, 256})
      for (int64_t kc : {64, 128, 256, 512, 1024}) {
        Measure m = measure(c, sweep_n, {.kind = AttentionKind::chunked, .q_chunk = qc, .k_chunk = kc}, true);
        std::printf("%-8s %7lld %7lld %10.3f %10.3f %9.1f %11s\n", "chunked", static_cast<long long>(qc),
                    static_cast<long long>(kc), m.seconds, m.cpu_seconds, flops / m.seconds / 1e9,
                    human_bytes(m.overhead).c_str());
        std::fflush(stdout);
        results.push_back({{"kind", "chunked"}, {"q_chunk", qc}, {"k_chunk", kc}, {"n", sweep_n},
                           {"seconds", m.seconds}, {"cpu_seconds", m.cpu_seconds}, {"gflops", flops / m.seconds / 1e9},
                           {"overhead_bytes", m.overhead}});
        save();
      }
    for (int64_t qc : {8, 16, 32, 64, 128, 256}) {
      Measure m = measure(c, sweep_n, {.kind = AttentionKind::topk, .q_chunk = qc, .top_k = c.top_k}, true);
      std::printf("%-8s %7lld %7s %10.3f %10.3f %9.1f %11s\n", "topk", static_cast<long long>(qc), "-", m.seconds,
                  m.cpu_seconds, flops / m.seconds / 1e9, human_bytes(m.overhead).c_str());
      std::fflush(stdout);
      results.push_back({{"kind", "topk"}, {"q_chunk", qc}, {"n", sweep_n}, {"seconds", m.seconds},
                         {"cpu_seconds", m.cpu_seconds}, {"gflops", flops / m.seconds / 1e9},
                         {"overhead_bytes", m.overhead}});
      save();
    }
  } else {
    std::printf("%6s %-8s %-8s %10s %10s %9s %8s %12s\n", "N", "kind", "pass", "median s", "cpu s", "GFLOP/s",
                "% sgemm", "overhead");
    for (int64_t N : sizes)
      for (const std::string& kind : kinds) {
        AttentionKind k = parse_attention_kind(kind);
        if (k == AttentionKind::vanilla && N > vanilla_max) continue;
        for (bool bwd : {false, true}) {
          Measure m = measure(c, N, {.kind = k, .top_k = c.top_k}, bwd);
          const double flops = (bwd ? 12.0 : 4.0) * N * N * c.D * c.B * c.H;
          const double gf = flops / m.seconds / 1e9;
          std::printf("%6lld %-8s %-8s %10.4f %10.4f %9.1f %7.1f%% %12s\n", static_cast<long long>(N), kind.c_str(),
                      bwd ? "fwd+bwd" : "fwd", m.seconds, m.cpu_seconds, gf, 100 * gf / sgemm,
                      human_bytes(m.overhead).c_str());
          std::fflush(stdout);
          results.push_back({{"n", N}, {"kind", kind}, {"pass", bwd ? "fwd+bwd" : "fwd"}, {"seconds", m.seconds},
                             {"cpu_seconds", m.cpu_seconds}, {"samples", m.samples}, {"gflops", gf}, {"fraction_of_sgemm", gf / sgemm},
                             {"overhead_bytes", m.overhead}});
          save();
        }
      }
  }

  save();
  std::printf("\nwrote %s\n", out.c_str());
  return 0;
}
