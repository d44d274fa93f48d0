// One whole training step (forward, loss, backward, AdamW step) of issue 16's transformer
// classifier, in each attention kind over sequence lengths, beside PyTorch's step on the same
// model in the same run (benchmarks/train_step_torch.py, when --torch-python names a Python with
// torch), and beside this machine's cblas_sgemm rate measured in the same run.
//
// The model (as examples/lra/model.cpp's Classifier, built from nn): token embedding (vocab 256)
// + learned positions -> 2 pre-LN TransformerEncoderLayers (d 128, 4 heads of 32, ff 256, GELU,
// dropout 0) -> final LayerNorm -> mean pooling -> ClassificationHead (Linear 128 -> GELU ->
// Linear 10) -> cross_entropy; AdamW (lr 1e-3, weight decay 0.01); batch 8, float32, no padding.
//
// Measures per (L, kind):
//  - seconds: the median wall time of --steps steps after the first (which warms up the
//    allocator cache and the thread pool); cpu_seconds likewise (all threads).
//  - counted FLOPs of the step (step_flops below) and GFLOP/s as a fraction of cblas_sgemm's
//    rate at n = 1024, measured again before each L.
//  - memory of the FIRST step (it also allocates the gradients and AdamW's state):
//    allocator_peak: memgrad's allocator peak during the step (everything live: parameters,
//    activations, gradients, optimizer state); rss_increase: the process's peak resident set during
//    the step minus its resident set before (Linux VmHWM after /proc/self/clear_refs reset it), the
//    one figure PyTorch also has, so the memory ratio compares rss_increase with rss_increase
//    (memgrad's allocator cache and malloc's free memory are given back before each first step);
//    allocator_reserved_increase: the blocks the allocator took from the system during that step
//    (live and cached), which is most of the RSS increase.
//  - with --torch-python: PyTorch's step in a child process that keeps its model
//    (torch_worker.h), started per L before memgrad's rows: it runs its first step (its memory
//    figure) and waits. Each of memgrad's timed steps is followed by one of PyTorch's, 20 ms apart, and
//    time_vs_torch is the median of the pairs' ratios (time_vs_torch_pairs): a drift of the
//    machine's speed slows both sides of a pair alike. PyTorch's row holds the medians of all its
//    steps at that L and its first step's RSS increase.
// `--profile` adds the per-op breakdown of one (L, kind) (backends/profiler.h): kernels by phase
// (forward, backward, optimizer) and backward nodes, with % of the step.
#include <CLI/CLI.hpp>
#include <cblas.h>
#include <malloc.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <thread>

#include "autograd/attention.h"
#include "autograd/ops.h"
#include "backends/profiler.h"
#include "benchmarks/bench_common.h"
#include "benchmarks/sgemm_rate.h"
#include "benchmarks/torch_worker.h"
#include "core/memory_trace.h"
#include "nn/heads.h"
#include "nn/optim/adam.h"
#include "nn/positional.h"
#include "nn/transformer.h"

using namespace memgrad;
using json = nlohmann::json;

namespace {

struct Config {
  int64_t batch = 8, dim = 128, heads = 4, layers = 2, ff = 256, vocab = 256, classes = 10;
  int steps = 5;          // timed steps after the first
  double budget_s = 60;   // stop timing a configuration once its steps took this long (at least 1 step)
  int64_t vanilla_max = 2048;  // vanilla's [B, H, L, L] probabilities: 2 GiB per layer at 4096
  int64_t top_k = 64;
};

// The classifier of the issue (see the header comment). tokens int64 [B, L] -> logits [B, classes].
class Model : public nn::Module {
 public:
  Model(const Config& c, int64_t max_len, AttentionKind kind) {
    nn::TransformerConfig t;
    t.dim = c.dim, t.heads = c.heads, t.layers = c.layers, t.ff_hidden = c.ff, t.dropout = 0.0;
    t.activation = nn::Activation::gelu;
    t.attention.kind = kind, t.attention.top_k = c.top_k;
    emb = register_module("emb", std::make_shared<nn::Embedding>(c.vocab, c.dim));
    pos = register_module("pos", std::make_shared<nn::LearnedPositionalEncoding>(max_len, c.dim));
    enc = register_module("enc", std::make_shared<nn::TransformerEncoder>(t));
    head = register_module("head", std::make_shared<nn::ClassificationHead>(c.dim, c.dim, c.classes));
  }
  Tensor forward(const Tensor& tokens) const {
    // Separate statements: a temporary lives to the end of its full expression, so the embedding
    // output would stay alive through the whole encoder ([B, L, dim] for nothing).
    Tensor x = pos->forward(emb->forward(tokens));  // [B, L, dim]
    Tensor h = enc->forward(x);                     // [B, L, dim], the final LayerNorm's output
    return head->forward(nn::pool(h, nn::Pooling::mean));        // [B, classes]
  }
  std::shared_ptr<nn::Embedding> emb;
  std::shared_ptr<nn::LearnedPositionalEncoding> pos;
  std::shared_ptr<nn::TransformerEncoder> enc;
  std::shared_ptr<nn::ClassificationHead> head;
};

// Counted FLOPs of one step (multiply-adds count 2), T = B·L tokens, d = dim:
//   per layer, linears: qkv 2·T·d·3d + out 2·T·d·d + ff 2·T·d·ff + 2·T·ff·d, forward; ×3 with
//     backward (the input gradient and the weight gradient are one product each);
//   per layer, attention: Q·Kᵀ and P·V, 4·B·H·L²·Dh = 4·B·L²·d forward; ×3 with backward (dV, dP,
//     dQ, dK); chunked's recomputation of P in backward is not counted, and topk gets the same dense
//     count (so its rate reads as dense-equivalent);
//   head: 2·B·(d·d + d·classes), ×3.
// Not counted: embedding, layer norms, GELU, softmax, residual adds, pooling, loss, AdamW (all
// O(T·d) or O(params)).
double step_flops(const Config& c, int64_t L) {
  const double T = static_cast<double>(c.batch * L), d = static_cast<double>(c.dim), f = static_cast<double>(c.ff);
  const double linears = 2 * T * (3 * d * d + d * d + 2 * d * f);
  const double attention = 4.0 * c.batch * static_cast<double>(L) * L * d;
  const double head = 2.0 * c.batch * (d * d + d * c.classes);
  return 3 * (c.layers * (linears + attention) + head);
}

// A field of /proc/self/status in bytes ("VmRSS", "VmHWM"); -1 when unreadable.
int64_t status_bytes(const std::string& key) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ":", 0) == 0) return 1024 * std::stoll(line.substr(key.size() + 1));
  return -1;
}

// Resets VmHWM (the peak resident set) to the current resident set; false when not possible.
bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  f.flush();
  return f.good();
}

// The inputs and the training state of one (L, kind).
struct Run {
  std::unique_ptr<Model> model;
  std::unique_ptr<optim::AdamW> opt;
  Tensor tokens, labels;  // int64 [B, L], int64 [B]

  Run(const Config& c, int64_t L, AttentionKind kind) {
    manual_seed(0);
    model = std::make_unique<Model>(c, L, kind);
    opt = std::make_unique<optim::AdamW>(model->parameters(), optim::AdamWOptions{.lr = 1e-3, .weight_decay = 0.01});
    Generator g(1);
    tokens = randint(0, c.vocab, {c.batch, L}, DType::int64, &g);
    labels = randint(0, c.classes, {c.batch}, DType::int64, &g);
  }

  // One step; the phases name where the profiler attributes kernels (backward names its own).
  double step() {
    opt->zero_grad();
    Tensor loss;
    {
      profiler::Phase p("forward");
      loss = cross_entropy(model->forward(tokens), labels);  // []
    }
    loss.backward();
    {
      profiler::Phase p("optimizer");
      opt->step();
    }
    return loss.item<float>();
  }
};

struct Measure {
  double seconds = 0, cpu_seconds = 0, loss = 0;
  int samples = 0;
  int64_t allocator_peak = 0, allocator_overhead = 0, rss_increase = -1;
  int64_t reserved_increase = 0;  // the allocator's blocks held from the system (cache included), after - before
  std::string peak_at;            // the op (and module) that reached the allocator peak
  // With PyTorch alternating: its step after each of memgrad's, and each pair's ratios.
  std::vector<double> torch_seconds, torch_cpu_seconds, time_ratios, cpu_ratios;
};

// Between one library's step and the other's: the idle OpenMP threads of the side that just
// finished spin for a while before they sleep (libgomp's GOMP_SPINCOUNT), and would take a core
// from the other side's step.
void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(20)); }

// "op @ module (phase)" of the event that reached t's CPU peak, from a stopped trace.
std::string peak_location(const memory::Trace& t) {
  for (const memory::DeviceSummary& d : t.devices()) {
    if (!d.device.is_cpu() || d.peak_event < 0) continue;
    const int32_t op = t.events()[static_cast<size_t>(d.peak_event)].op;
    if (op < 0) return "outside any op";
    const memory::OpSlice& s = t.ops()[static_cast<size_t>(op)];
    return fmt::format("{} @ {} ({})", s.name, s.module.empty() ? "-" : s.module, s.phase);
  }
  return "";
}

// The first step's memory, then up to c.steps timed steps; with `torch`, each followed by one of
// PyTorch's (torch_worker.h), the pairs' ratios recorded.
Measure measure(const Config& c, Run& r, bench::TorchWorker* torch) {
  Measure m;
  // Earlier configurations' freed blocks go back to the system first, so that this step's RSS
  // increase is what a fresh process would see (as PyTorch's, which runs in its own).
  memory::empty_cache();
  malloc_trim(0);
  const bool rss_ok = reset_peak_rss();
  const int64_t rss_before = status_bytes("VmRSS"), reserved_before = memory::stats().reserved;
  {
    memory::PeakMeter meter;
    memory::Trace trace("first step");  // where the peak is (no allocation of its own through memgrad)
    r.step();  // the first step: memory, and the warm-up
    trace.stop();
    m.allocator_peak = meter.peak(), m.allocator_overhead = meter.overhead();
    m.peak_at = peak_location(trace);
  }
  if (rss_ok && rss_before >= 0) m.rss_increase = status_bytes("VmHWM") - rss_before;
  m.reserved_increase = memory::stats().reserved - reserved_before;
  std::vector<double> t, cpu;
  double spent = 0;
  for (int s = 0; s < c.steps && (s == 0 || spent < c.budget_s); ++s) {
    if (torch) settle();
    const double c0 = bench::process_cpu_seconds();
    t.push_back(bench::seconds([&] { m.loss = r.step(); }));
    cpu.push_back(bench::process_cpu_seconds() - c0);
    spent += t.back();
    if (!torch || !torch->ok()) continue;
    settle();
    const json ts = torch->step();
    if (ts.is_null()) {  // the worker died or garbled its reply: this (L, kind) goes on without it
      std::fprintf(stderr, "warning: PyTorch at L=%lld: %s\n", static_cast<long long>(r.tokens.size(1)),
                   torch->error().c_str());
      continue;
    }
    m.torch_seconds.push_back(ts["seconds"].get<double>());
    m.torch_cpu_seconds.push_back(ts["cpu_seconds"].get<double>());
    m.time_ratios.push_back(t.back() / ts["seconds"].get<double>());
    m.cpu_ratios.push_back(cpu.back() / ts["cpu_seconds"].get<double>());
    spent += ts["seconds"].get<double>();
  }
  MG_CHECK(std::isfinite(m.loss), "bench_train_step", "the loss is {}", m.loss);
  m.seconds = bench::median(t), m.cpu_seconds = bench::median(cpu), m.samples = static_cast<int>(t.size());
  return m;
}

// The memory trace's cost (core/memory_trace.h): steps with and without a trace, interleaved so
// that a load that drifts during the run affects both alike; medians, the traced step's event count.
json trace_overhead(const Config& c, int64_t L, AttentionKind kind) {
  Run r(c, L, kind);
  r.step();  // warm-up: AdamW's state, the allocator's cache
  std::vector<double> off, on;
  size_t events = 0;
  for (int s = 0; s < c.steps; ++s) {
    off.push_back(bench::seconds([&] { r.step(); }));
    on.push_back(bench::seconds([&] {
      memory::Trace t(to_string(kind));
      r.step();
      t.stop();
      events = t.events().size();
    }));
  }
  const double a = bench::median(off), b = bench::median(on);
  std::printf("%6lld %-8s %12.4f %12.4f %+9.1f%% %9zu\n", static_cast<long long>(L), to_string(kind).c_str(), a, b,
              100 * (b / a - 1), events);
  return {{"L", L}, {"kind", to_string(kind)}, {"seconds_untraced", a}, {"seconds_traced", b},
          {"overhead", b / a - 1}, {"events", events}, {"samples", off.size()}};
}

// PyTorch's worker at length L (train_step_torch.py --serve, torch_worker.h), after its first
// step; null, with a warning, when it did not start.
std::unique_ptr<bench::TorchWorker> torch_worker(const Config& c, const std::string& python, const std::string& script,
                                                 int64_t L) {
  std::vector<std::string> argv = {python, script, "--serve"};
  for (auto [name, v] : std::vector<std::pair<const char*, int64_t>>{
           {"--size", L}, {"--batch", c.batch}, {"--dim", c.dim}, {"--heads", c.heads}, {"--layers", c.layers},
           {"--ff", c.ff}, {"--vocab", c.vocab}, {"--classes", c.classes}, {"--threads", omp_get_max_threads()}})
    argv.push_back(name), argv.push_back(std::to_string(v));
  auto w = std::make_unique<bench::TorchWorker>(argv);
  if (w->ok()) return w;
  std::fprintf(stderr, "warning: PyTorch at L=%lld: %s\n", static_cast<long long>(L), w->error().c_str());
  return nullptr;
}

// The table: one row per (L, kind), PyTorch's last at each L; ratios are memgrad / PyTorch (time:
// the median of the alternated pairs' ratios; RSS x: RSS increase over RSS increase; peak x:
// memgrad's allocator peak over PyTorch's RSS increase).
void print_header() {
  std::printf("%6s %-8s %9s %9s %10s %9s %7s %11s %11s %8s %8s %8s %8s\n", "L", "kind", "s/step", "cpu s", "tokens/s",
              "GFLOP/s", "%sgemm", "alloc peak", "RSS incr", "x torch", "cpu x", "RSS x", "peak x");
}

void print_row(int64_t L, const std::string& kind, const json& r, const Config& c, double sgemm) {
  auto ratio = [&](const char* key) { return r.contains(key) ? fmt::format("{:.3f}", r[key].get<double>()) : "-"; };
  const double s = r["seconds"].get<double>(), gf = step_flops(c, L) / s / 1e9;
  const std::string peak = r.contains("allocator_peak_bytes") ? bench::human_bytes(r["allocator_peak_bytes"].get<double>()) : "-";
  std::printf("%6lld %-8s %9.4f %9.4f %10.0f %9.1f %6.1f%% %11s %11s %8s %8s %8s %8s\n", static_cast<long long>(L),
              kind.c_str(), s, r["cpu_seconds"].get<double>(), c.batch * L / s, gf, 100 * gf / sgemm, peak.c_str(),
              bench::human_bytes(r["rss_increase_bytes"].get<double>()).c_str(), ratio("time_vs_torch").c_str(),
              ratio("cpu_time_vs_torch").c_str(), ratio("rss_vs_torch").c_str(),
              ratio("allocator_peak_vs_torch_rss").c_str());
  std::fflush(stdout);
}

// PyTorch's row at L, printed: its first step's line (memory) and the medians of all its steps
// that alternated with memgrad's at this L.
json torch_row(const Config& c, int64_t L, json torch, const std::vector<double>& seconds,
               const std::vector<double>& cpu_seconds, double sgemm) {
  const double s = bench::median(seconds), gf = step_flops(c, L) / s / 1e9;
  torch["seconds"] = s, torch["cpu_seconds"] = bench::median(cpu_seconds);
  torch["samples"] = seconds.size();
  torch["size"] = L, torch["tokens_per_second"] = c.batch * L / s, torch["flops"] = step_flops(c, L);
  torch["gflops"] = gf, torch["fraction_of_sgemm"] = gf / sgemm;
  print_row(L, "torch", torch, c, sgemm);
  return torch;
}

// memgrad's step at (L, kind), measured and printed; with `torch`, alternating with PyTorch's
// steps: the ratios are the medians of the pairs' ratios, and PyTorch's steps are appended to
// torch_s / torch_cpu (its row's medians).
json memgrad_row(const Config& c, int64_t L, AttentionKind kind, bench::TorchWorker* torch, double sgemm,
                 std::vector<double>& torch_s, std::vector<double>& torch_cpu) {
  Run r(c, L, kind);
  const Measure m = measure(c, r, torch);
  const double flops = step_flops(c, L), gf = flops / m.seconds / 1e9;
  json row = {{"size", L}, {"kind", to_string(kind)}, {"seconds", m.seconds}, {"cpu_seconds", m.cpu_seconds},
              {"samples", m.samples}, {"tokens_per_second", c.batch * L / m.seconds}, {"flops", flops},
              {"gflops", gf}, {"fraction_of_sgemm", gf / sgemm}, {"allocator_peak_bytes", m.allocator_peak},
              {"allocator_overhead_bytes", m.allocator_overhead}, {"rss_increase_bytes", m.rss_increase},
              {"allocator_reserved_increase_bytes", m.reserved_increase},
              {"allocator_peak_at", m.peak_at},
              {"loss", m.loss}};
  if (!m.time_ratios.empty()) {
    row["time_vs_torch"] = bench::median(m.time_ratios);
    row["cpu_time_vs_torch"] = bench::median(m.cpu_ratios);
    row["time_vs_torch_pairs"] = m.time_ratios;
    row["torch_seconds_paired"] = bench::median(m.torch_seconds);
    torch_s.insert(torch_s.end(), m.torch_seconds.begin(), m.torch_seconds.end());
    torch_cpu.insert(torch_cpu.end(), m.torch_cpu_seconds.begin(), m.torch_cpu_seconds.end());
  }
  if (torch && !torch->first().is_null()) {  // its first step's memory, even if it died later
    const double rss = torch->first()["rss_increase_bytes"].get<double>();
    row["allocator_peak_vs_torch_rss"] = static_cast<double>(m.allocator_peak) / rss;
    row["rss_vs_torch"] = static_cast<double>(m.rss_increase) / rss;
  }
  print_row(L, to_string(kind), row, c, sgemm);
  return row;
}

// The per-op breakdown of one (L, kind): `steps` profiled steps after two plain ones.
json profile(const Config& c, int64_t L, AttentionKind kind, int steps) {
  Run r(c, L, kind);
  r.step(), r.step();
  const double plain = bench::seconds([&] { r.step(); });
  profiler::reset();
  profiler::enable();
  std::vector<double> t;
  for (int s = 0; s < steps; ++s) t.push_back(bench::seconds([&] { r.step(); }));
  profiler::disable();
  const auto e = profiler::entries();
  profiler::reset();
  double step_s = 0;  // the mean, so that the entries (sums over the steps) add up to at most 100%
  for (double x : t) step_s += x / steps;
  std::printf("\nprofile: L=%lld, %s, %d steps (mean %.3f s profiled, %.3f s without the profiler)\n",
              static_cast<long long>(L), to_string(kind).c_str(), steps, step_s, plain);
  std::fputs(profiler::report(e, step_s, steps, 20).c_str(), stdout);
  json entries = json::array();
  for (const auto& x : e)
    entries.push_back({{"source", profiler::to_string(x.source)}, {"phase", x.phase}, {"name", x.name},
                       {"calls_per_step", static_cast<double>(x.calls) / steps}, {"seconds_per_step", x.seconds / steps},
                       {"fraction_of_step", x.seconds / steps / step_s}});
  return {{"size", L}, {"kind", to_string(kind)}, {"steps", steps}, {"step_seconds_profiled", step_s},
          {"step_seconds_plain", plain}, {"entries", entries}};
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  std::vector<int64_t> sizes{256, 1024, 2048, 4096};
  std::vector<std::string> kinds{"chunked", "vanilla", "topk"};
  std::string out = "benchmarks/results/train_step.json";
  std::string torch_python, torch_script = std::string(MEMGRAD_SOURCE_DIR) + "/benchmarks/train_step_torch.py";
  bool do_profile = false, profile_only = false, do_trace = false;
  int64_t profile_size = 1024;
  std::string profile_kind = "chunked";
  int profile_steps = 3;
  CLI::App app{"Time, FLOP rate and memory of one training step of a transformer classifier, beside PyTorch"};
  app.add_option("--sizes", sizes, "sequence lengths L")->capture_default_str();
  app.add_option("--kinds", kinds, "attention kinds")->capture_default_str();
  app.add_option("--batch", c.batch, "batch size")->capture_default_str();
  app.add_option("--steps", c.steps, "timed steps after the first (median)")->capture_default_str();
  app.add_option("--budget", c.budget_s, "seconds after which a configuration stops timing steps")->capture_default_str();
  app.add_option("--vanilla-max", c.vanilla_max, "largest L for vanilla (O(L²) memory)")->capture_default_str();
  app.add_option("--top-k", c.top_k, "keys per query of the topk kind")->capture_default_str();
  app.add_option("--torch-python", torch_python, "a python with torch: also time PyTorch's step in this run");
  app.add_option("--torch-script", torch_script, "the PyTorch model's script")->capture_default_str();
  app.add_flag("--profile", do_profile, "print the per-op breakdown of one (--profile-size, --profile-kind)");
  app.add_flag("--profile-only", profile_only, "only the breakdown (no table)");
  app.add_option("--profile-size", profile_size, "L of the breakdown")->capture_default_str();
  app.add_option("--profile-kind", profile_kind, "attention kind of the breakdown")->capture_default_str();
  app.add_option("--profile-steps", profile_steps, "profiled steps (the breakdown is per step)")->capture_default_str();
  app.add_flag("--trace-overhead", do_trace,
               "instead of the table: each step with and without a memory trace (memory::Trace), interleaved");
  app.add_option("--out", out, "JSON output path")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (c.steps < 1 || profile_steps < 1 || c.batch < 1) {
    std::fprintf(stderr, "error: --steps, --profile-steps and --batch must be positive\n");
    return 2;
  }
  std::vector<AttentionKind> kind_list;
  try {
    for (const auto& k : kinds) kind_list.push_back(parse_attention_kind(k));
    (void)parse_attention_kind(profile_kind);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  do_profile |= profile_only;

  json machine = bench::machine();
  const double sgemm = bench::sgemm_gflops(1024);
  std::printf("machine: %s\ncblas_sgemm at 1024: %.1f GFLOP/s\n", bench::describe(machine).c_str(), sgemm);
  json sgemm_by_size = json::object();
  std::printf("model: %lld layers, d %lld, %lld heads, ff %lld, pre-LN, GELU, mean pooling, AdamW; batch %lld, "
              "float32; median of up to %d steps after the first\n\n",
              static_cast<long long>(c.layers), static_cast<long long>(c.dim), static_cast<long long>(c.heads),
              static_cast<long long>(c.ff), static_cast<long long>(c.batch), c.steps);
  json results = json::array(), torch_results = json::array(), prof = nullptr, traced = json::array();
  auto save = [&] {
    json doc = {{"benchmark", "train_step"},
                {"command", bench::command_line(argc, argv)},
                {"timestamp", bench::utc_timestamp()},
                {"machine", machine},
                {"sgemm_gflops_1024", sgemm},
                {"sgemm_gflops_1024_by_size", sgemm_by_size},
                {"config",
                 {{"batch", c.batch}, {"dim", c.dim}, {"heads", c.heads}, {"layers", c.layers}, {"ff", c.ff},
                  {"vocab", c.vocab}, {"classes", c.classes}, {"top_k", c.top_k}, {"dtype", "float32"},
                  {"optimizer", "AdamW lr 1e-3 wd 0.01"}, {"steps", c.steps}, {"statistic", "median"},
                  {"memory", "first step: allocator peak (all live bytes); rss_increase = VmHWM - VmRSS before"}}},
                {"results", results},
                {"torch", torch_results},
                {"profile", prof},
                {"trace_overhead", traced}};
    bench::write_atomically(out, doc.dump(2) + "\n");
  };

  if (do_trace) {
    std::printf("%6s %-8s %12s %12s %10s %9s\n", "L", "kind", "s untraced", "s traced", "overhead", "events");
    for (int64_t L : sizes)
      for (AttentionKind kind : kind_list)
        if (kind != AttentionKind::vanilla || L <= c.vanilla_max) traced.push_back(trace_overhead(c, L, kind)), save();
  } else if (!profile_only) {
    print_header();
    for (int64_t L : sizes) {
      // The rate again before each length: on a shared machine the load moves during a run.
      const double sgemm = bench::sgemm_gflops(1024);
      sgemm_by_size[std::to_string(L)] = sgemm;
      std::printf("%6lld cblas_sgemm at 1024 now: %.1f GFLOP/s (the %%sgemm of the rows below)\n",
                  static_cast<long long>(L), sgemm);
      // PyTorch's process for this L: its first step now (memory), then a step after each of memgrad's
      auto torch = torch_python.empty() ? nullptr : torch_worker(c, torch_python, torch_script, L);
      std::vector<double> torch_s, torch_cpu;
      for (AttentionKind kind : kind_list) {
        if (kind == AttentionKind::vanilla && L > c.vanilla_max) continue;
        results.push_back(memgrad_row(c, L, kind, torch.get(), sgemm, torch_s, torch_cpu));
        save();
      }
      if (!torch_s.empty()) torch_results.push_back(torch_row(c, L, torch->first(), torch_s, torch_cpu, sgemm)), save();
    }
  }
  if (do_profile) prof = profile(c, profile_size, parse_attention_kind(profile_kind), profile_steps);
  save();
  std::printf("\nwrote %s\n", out.c_str());
  return 0;
}
