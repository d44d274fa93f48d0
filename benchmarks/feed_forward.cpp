// Time and peak memory of one FeedForward layer (relu, dropout 0, float32), dense against top-k
// (Gupta et al. 2021: each token keeps its top_k units of the first Linear; nn/layers.h), forward
// only (under NoGradGuard) and forward+backward, at several hidden sizes.
//
// Peak overhead = the allocator's peak during the call minus what was live before (the layer, the
// input and the upstream gradient): it includes the output and, forward+backward, the input and
// parameter gradients, for the dense and the top-k layer alike. The top-k rows reuse the dense
// layer's weights (a zero-shot swap: FeedForward::topk is changed between measurements). On a
// shared machine compare the CPU-time ratios (run with OMP_WAIT_POLICY=passive so that idle
// threads do not spin): they move less with other programs' load than the wall-time ones.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "autograd/ops.h"
#include "benchmarks/bench_common.h"
#include "nn/layers.h"

using namespace memgrad;
using json = nlohmann::json;

namespace {

struct Config {
  int64_t tokens = 8192, dim = 512, chunk = 1024;
  int repeats = 5;
  double budget_s = 20;  // stop repeating a measurement once it has taken this long
  Device device = Device::cpu();
};

struct Measure {
  double seconds;      // median wall time
  double cpu_seconds;  // median CPU time of the process (all threads)
  int64_t overhead;
  int samples;
};

// Median time and peak overhead of one call of `ff` (fwd, or fwd+bwd when `backward`).
Measure measure(const Config& c, nn::FeedForward& ff, Tensor& x, const Tensor& w, bool backward) {
  auto clear_grads = [&] {
    ff.zero_grad();  // gradients are released (undefined), so each call allocates its own
    x.set_grad(Tensor());
  };
  auto once = [&] {
    if (!backward) {
      NoGradGuard ng;
      Tensor y = ff.forward(x);
    } else {
      Tensor y = ff.forward(x);
      y.backward(w);
    }
  };
  clear_grads();
  int64_t overhead;
  {
    memory::PeakMeter meter(c.device);
    once();  // measures memory, and warms up the allocator cache and thread pool for the timings
    overhead = meter.overhead();
  }
  synchronize(c.device);
  DeviceTimer timer(c.device);  // GPU: CUDA events around the calls; CPU: the steady clock
  std::vector<double> t, cpu;
  double spent = 0;
  for (int r = 0; r < c.repeats && (r == 0 || spent < c.budget_s); ++r) {
    clear_grads();
    const double c0 = bench::process_cpu_seconds();
    timer.start();
    once();
    t.push_back(timer.stop());
    cpu.push_back(bench::process_cpu_seconds() - c0);
    spent += t.back();
  }
  clear_grads();
  return {bench::median(t), bench::median(cpu), overhead, static_cast<int>(t.size())};
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  std::vector<int64_t> hiddens{4096, 16384};
  std::vector<int64_t> top_ks{32, 64, 256};
  std::string out = "benchmarks/results/feed_forward.json";
  std::string device = "cpu";
  CLI::App app{"Time and peak memory of a dense and a top-k feed-forward layer"};
  app.add_option("--tokens", c.tokens, "tokens (rows of the input)")->capture_default_str();
  app.add_option("--dim", c.dim, "model width (the layer's input and output)")->capture_default_str();
  app.add_option("--hidden", hiddens, "hidden sizes")->capture_default_str();
  app.add_option("--top-k", top_ks, "top_k values of the top-k layer")->capture_default_str();
  app.add_option("--chunk", c.chunk, "tokens per score chunk of the top-k layer")->capture_default_str();
  app.add_option("--repeats", c.repeats, "samples per measurement (median)")->capture_default_str();
  app.add_option("--budget", c.budget_s, "seconds after which a measurement stops repeating")->capture_default_str();
  app.add_option("--device", device, "cpu or cuda (GPU kernels timed to completion; peak from the device allocator)")
      ->capture_default_str();
  app.add_option("--out", out, "JSON output path")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (!bench::parse_device(device, c.device)) return 2;

  json machine = bench::machine();
  std::printf("machine: %s\n", bench::describe(machine).c_str());
  std::printf("FeedForward relu, dropout 0, float32 on %s: tokens=%lld dim=%lld chunk=%lld, median of up to %d samples\n\n",
              c.device.str().c_str(), static_cast<long long>(c.tokens), static_cast<long long>(c.dim),
              static_cast<long long>(c.chunk), c.repeats);
  json results = json::array();
  // The whole document, rewritten (atomically) after every measurement: a run stopped early still
  // leaves what it measured.
  auto save = [&] {
    json doc = {{"benchmark", "feed_forward"},
                {"command", bench::command_line(argc, argv)},
                {"timestamp", bench::utc_timestamp()},
                {"machine", machine},
                {"config",
                 {{"tokens", c.tokens}, {"dim", c.dim}, {"chunk", c.chunk}, {"activation", "relu"}, {"dropout", 0.0},
                  {"dtype", "float32"}, {"device", c.device.str()}, {"repeats", c.repeats},
                  {"timer", c.device.is_cpu() ? "steady_clock" : "cuda_events"}, {"statistic", "median"},
                  {"overhead", "peak during the call minus live before (output and gradients included)"}}},
                {"results", results}};
    bench::write_atomically(out, doc.dump(2) + "\n");
  };

  std::printf("%6s %6s %-8s %10s %8s %9s %8s %12s %9s\n", "hidden", "top_k", "pass", "median s", "x dense", "cpu s",
              "x dense", "overhead", "x dense");
  for (int64_t hidden : hiddens) {
    Generator g(0);
    nn::FeedForward ff(c.dim, hidden, 0.0, nn::Activation::relu, {.gen = &g});
    ff.to(c.device);
    Tensor x = randn({c.tokens, c.dim}, DType::float32, &g, 0, 1, c.device).set_requires_grad();
    Tensor w = randn({c.tokens, c.dim}, DType::float32, &g, 0, 1, c.device);
    for (bool bwd : {false, true}) {
      Measure dense{};
      std::vector<int64_t> ks{0};
      ks.insert(ks.end(), top_ks.begin(), top_ks.end());
      for (int64_t k : ks) {
        ff.topk = {.top_k = k, .chunk = c.chunk};
        Measure m = measure(c, ff, x, w, bwd);
        if (k == 0) dense = m;
        const double t_ratio = m.seconds / dense.seconds, c_ratio = m.cpu_seconds / dense.cpu_seconds,
                     m_ratio = static_cast<double>(m.overhead) / dense.overhead;
        std::printf("%6lld %6s %-8s %10.4f %8.3f %9.4f %8.3f %12s %9.4f\n", static_cast<long long>(hidden),
                    k == 0 ? "dense" : std::to_string(k).c_str(), bwd ? "fwd+bwd" : "fwd", m.seconds, t_ratio,
                    m.cpu_seconds, c_ratio, bench::human_bytes(m.overhead).c_str(), m_ratio);
        std::fflush(stdout);
        results.push_back({{"hidden", hidden}, {"top_k", k}, {"layer", k == 0 ? "dense" : "topk"},
                           {"pass", bwd ? "fwd+bwd" : "fwd"}, {"seconds", m.seconds}, {"cpu_seconds", m.cpu_seconds},
                           {"samples", m.samples}, {"overhead_bytes", m.overhead}, {"time_vs_dense", t_ratio},
                           {"cpu_time_vs_dense", c_ratio}, {"overhead_vs_dense", m_ratio}});
        save();
      }
    }
  }
  save();
  std::printf("\nwrote %s\n", out.c_str());
  return 0;
}
