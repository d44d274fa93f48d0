// lra: trains transformers with vanilla, chunked and top-k attention on Long Range Arena-style
// tasks and compares their accuracy, speed and peak memory (docs/lra.md).
//
//   lra train    --task listops --attention chunked --preset demo   one task, one attention kind
//   lra compare  --task listops --preset demo                       the same model and seed, each kind
//   lra estimate --task listops --preset lra                        predicted peak memory only
//
// Options after the subcommand override the preset (lra <cmd> --help lists them). Results go to
// --out-dir (default results/<task>-<preset>, train: results/<task>-<preset>-<kind>): results.json,
// results.csv and one checkpoint per kind; examples/lra/plot_results.py draws the JSON.
#include <CLI/CLI.hpp>
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <sstream>

#include "autograd/attention.h"
#include "core/allocator.h"
#include "examples/lra/lra.h"
#include "examples/lra/memory_estimate.h"
#include "examples/lra/presets.h"
#include "examples/lra/progress.h"
#include "examples/lra/report.h"
#include "examples/lra/sweep.h"
#include "examples/lra/trainer.h"

using namespace memgrad;
using namespace memgrad::lra;

namespace {

// Values given on the command line; unset ones keep the preset's.
struct Overrides {
  std::string task = "listops", preset = "demo", attention = "chunked", kinds = "vanilla,chunked,topk";
  std::optional<int64_t> steps, batch, max_len, min_len, dim, layers, heads, ff, top_k, eval_every, patience, n_train,
      n_val, n_test, depth, args, max_eval, threads, bucket;
  std::optional<double> lr, dropout, weight_decay;
  std::optional<uint64_t> seed, data_seed;
  std::optional<std::string> out_dir, data_dir, sweep_lengths, pooling, init_from;
  std::string device = "cpu";
  bool checkpoint_layers = false, fixed_padding = false, no_sweep = false, no_memory_check = false;
};

void add_common(CLI::App* c, Overrides& o) {
  c->add_option("--task", o.task, "listops | text | retrieval | image | pathfinder | pathx")->capture_default_str();
  c->add_option("--preset", o.preset, "demo | lra")->capture_default_str();
  c->add_option("--steps", o.steps, "optimizer steps");
  c->add_option("--batch", o.batch, "sequences per step");
  c->add_option("--lr", o.lr, "peak learning rate (AdamW, warmup + cosine)");
  c->add_option("--weight-decay", o.weight_decay);
  c->add_option("--seed", o.seed, "model initialisation, dropout and batch order");
  c->add_option("--data-seed", o.data_seed, "seed of the generated data");
  c->add_option("--max-len", o.max_len, "longest sequence in tokens (per document for retrieval)");
  c->add_option("--min-len", o.min_len, "shortest generated sequence");
  c->add_option("--listops-depth", o.depth, "ListOps: deepest nesting");
  c->add_option("--listops-args", o.args, "ListOps: most arguments of an operator");
  c->add_option("--n-train", o.n_train, "training examples");
  c->add_option("--n-val", o.n_val, "validation examples");
  c->add_option("--n-test", o.n_test, "test examples");
  c->add_option("--dim", o.dim, "model width");
  c->add_option("--layers", o.layers, "encoder layers");
  c->add_option("--heads", o.heads, "attention heads");
  c->add_option("--ff", o.ff, "feed-forward hidden width");
  c->add_option("--dropout", o.dropout);
  c->add_option("--top-k", o.top_k, "keys per query of topk attention");
  c->add_option("--pooling", o.pooling, "mean | cls: average the outputs, or classify a prepended CLS token")
      ->check(CLI::IsMember({"mean", "cls"}));
  c->add_option("--eval-every", o.eval_every, "steps between validation passes (0: only at the end)");
  c->add_option("--max-eval", o.max_eval, "validation examples per pass (0: all)");
  c->add_option("--patience", o.patience, "early stopping after this many evaluations without gain (0: off)");
  c->add_option("--threads", o.threads, "OpenMP threads (default: all cores; 1 is faster on a busy machine)");
  c->add_option("--out-dir", o.out_dir, "results folder (default results/<task>-<preset>)");
  c->add_option("--device", o.device, "cpu or cuda: where the model trains (the data stays on the host)")
      ->capture_default_str();
  c->add_option("--init-from", o.init_from,
                 "start from an earlier run's weights: its results folder (<dir>/<kind>.safetensors) or a file");
  c->add_option("--data-dir", o.data_dir, "read the official LRA files under this folder instead of generating");
  c->add_flag("--checkpoint-layers", o.checkpoint_layers, "recompute each encoder layer in backward (less memory)");
  c->add_option("--bucket", o.bucket,
                 "length bucketing: sort pools of this many batches by length (0: off; needs dynamic padding)");
  c->add_flag("--fixed-padding", o.fixed_padding, "pad every batch to max-len (LRA's way), not to its longest");
  c->add_flag("--no-memory-check", o.no_memory_check, "start even when the estimate exceeds available memory");
}

RunConfig resolve(const Overrides& o) {
  RunConfig c = make_preset(o.preset, o.task);
  auto set = [](auto& field, const auto& value) {
    if (value) field = *value;
  };
  set(c.train.steps, o.steps), set(c.train.batch, o.batch), set(c.train.lr, o.lr);
  set(c.train.weight_decay, o.weight_decay), set(c.seed, o.seed), set(c.data.seed, o.data_seed);
  if (o.max_len) {
    c.data.max_len = *o.max_len;
    if (!o.min_len && c.data.min_len > c.data.max_len) c.data.min_len = 0;  // the task's default ratio
  }
  set(c.data.min_len, o.min_len), set(c.data.listops_max_depth, o.depth), set(c.data.listops_max_args, o.args);
  set(c.data.n_train, o.n_train), set(c.data.n_val, o.n_val), set(c.data.n_test, o.n_test);
  set(c.model.encoder.dim, o.dim), set(c.model.encoder.layers, o.layers), set(c.model.encoder.heads, o.heads);
  set(c.model.encoder.ff_hidden, o.ff), set(c.model.encoder.dropout, o.dropout);
  set(c.model.encoder.attention.top_k, o.top_k);
  if (o.pooling) c.model.pooling = *o.pooling == "cls" ? nn::Pooling::cls : nn::Pooling::mean;
  set(c.train.eval_every, o.eval_every), set(c.train.patience, o.patience), set(c.train.max_eval, o.max_eval);
  set(c.data.data_dir, o.data_dir), set(c.train.bucket, o.bucket), set(c.init_from, o.init_from);
  if (o.checkpoint_layers) c.model.encoder.checkpoint = true;
  if (o.fixed_padding) c.train.dynamic_padding = false;
  if (o.no_sweep) c.sweep_lengths.clear();
  if (o.sweep_lengths) {
    c.sweep_lengths.clear();
    std::stringstream ss(*o.sweep_lengths);
    for (std::string item; std::getline(ss, item, ',');)
      if (!item.empty()) c.sweep_lengths.push_back(std::stoll(item));
  }
  c.out_dir = o.out_dir ? *o.out_dir : "results/" + o.task + "-" + c.preset;
  c.device = Device::parse(o.device);
  if (c.device.is_cuda()) (void)memory::stats(c.device);  // a clear error now when there is no GPU
  return c;
}

std::vector<AttentionKind> parse_kinds(const std::string& list) {
  std::vector<AttentionKind> kinds;
  std::stringstream ss(list);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) kinds.push_back(parse_attention_kind(item));
  MG_CHECK(!kinds.empty(), "lra", "no attention kind given");
  return kinds;
}

// Prints each kind's predicted peak and refuses (throws) when one exceeds the available memory.
void check_memory(const RunConfig& cfg, const Dataset& ds, const std::vector<AttentionKind>& kinds, bool enforce) {
  // The estimate models the CPU kernels' workspaces; on a GPU it is printed as a guide and not enforced.
  if (!cfg.device.is_cpu()) enforce = false;
  const int64_t available = cfg.device.is_cpu() ? available_memory_bytes() : 0, len = longest_step_len(cfg, ds);
  std::printf("predicted peak memory of one training step (batch %lld x %lld tokens%s; available %s):\n",
              static_cast<long long>(cfg.train.batch), static_cast<long long>(len),
              ds.pair ? " x 2 documents" : "", available > 0 ? format_bytes(available).c_str() : "unknown");
  std::vector<std::string> refused;
  for (AttentionKind k : kinds) {
    const MemoryEstimate e = estimate_step_memory(model_config(cfg, k), cfg.train.batch, len);
    std::printf("  %-8s %11s  (parameters %s, AdamW state %s, saved activations %s; peak at %s)\n",
                to_string(k).c_str(), format_bytes(e.total).c_str(), format_bytes(e.params).c_str(),
                format_bytes(e.optimizer).c_str(), format_bytes(e.saved).c_str(), e.peak_at.c_str());
    if (available > 0 && e.total > available)
      refused.push_back(fmt::format("{} needs an estimated {}", to_string(k), format_bytes(e.total)));
  }
  std::fflush(stdout);
  if (refused.empty()) return;
  const std::string msg = fmt::format(
      "one training step of [{} x {}] tokens would not fit: {}, but only {} is available (MemAvailable in "
      "/proc/meminfo). Lower --batch or --max-len, leave out that kind (--kinds / --attention), or add "
      "--checkpoint-layers.",
      cfg.train.batch, len, fmt::join(refused, "; "), format_bytes(available));
  if (enforce) fail("lra", "refusing to start: {}", msg);
  std::printf("warning (--no-memory-check): %s\n", msg.c_str());
}

int run(const std::string& mode, const Overrides& o, const std::string& command) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.threads) {
    MG_CHECK(*o.threads > 0, "lra", "--threads must be positive, got {}", *o.threads);
    omp_set_num_threads(static_cast<int>(*o.threads));
  }
  RunConfig cfg = resolve(o);
  const std::vector<AttentionKind> kinds = mode == "train" ? parse_kinds(o.attention) : parse_kinds(o.kinds);
  if (mode == "train" && !o.out_dir) cfg.out_dir += "-" + to_string(kinds[0]);

  RunReport report;
  report.command = command, report.mode = mode, report.task = cfg.data.task, report.preset = cfg.preset;
  report.machine = fmt::format("{}, OpenMP threads: {}{}", machine_description(), omp_get_max_threads(),
                               cfg.device.is_cpu() ? "" : ", training on " + cfg.device.str());
  report.started = utc_now();
  std::printf("memgrad lra %s: task %s, preset %s\nmachine: %s\n", mode.c_str(), cfg.data.task.c_str(),
              cfg.preset.c_str(), report.machine.c_str());
  const double load = load_average();
  if (omp_get_max_threads() > 1 && load >= omp_get_num_procs())
    std::printf("note: the machine is busy (load %.1f on %d cores): OpenMP threads wait for each other when one is "
                "descheduled, so steps may run several times slower; --threads 1 avoids that.\n",
                load, omp_get_num_procs());

  Dataset ds = make_task(cfg.data);
  fit_model_to_data(cfg.model, ds);
  auto [majority_class, majority_rate] = majority_baseline(ds);
  report.majority_class = majority_class, report.majority_rate = majority_rate;
  report.batch = cfg.train.batch, report.max_len = ds.max_len;
  std::printf("data: %s (%s), %zu train / %zu val / %zu test examples, up to %lld tokens%s; majority-class rate "
              "(test) %.4f\n",
              ds.task.c_str(), cfg.data.data_dir.empty() ? "generated" : cfg.data.data_dir.c_str(), ds.train.size(),
              ds.val.size(), ds.test.size(), static_cast<long long>(ds.max_len), ds.pair ? " per document" : "",
              majority_rate);
  check_memory(cfg, ds, kinds, !o.no_memory_check);
  if (mode == "estimate") return 0;

  report.config_json = config_to_json(cfg).dump();
  for (AttentionKind k : kinds) report.kinds.push_back(train_kind(cfg, ds, k));
  if (mode == "compare") report.sweep = run_sweep(cfg, kinds);
  report.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  print_table(stdout, report);
  std::printf("peak memory of a training step, predicted before training vs measured (memory::PeakMeter):\n");
  for (const auto& k : report.kinds)
    std::printf("  %-8s predicted %11s  measured %11s  (%+.1f%%)%s\n", k.kind.c_str(),
                format_bytes(static_cast<double>(k.predicted_at_peak_len)).c_str(),
                format_bytes(static_cast<double>(k.peak_bytes)).c_str(),
                100.0 * (static_cast<double>(k.predicted_at_peak_len) / k.peak_bytes - 1),
                k.peak_seq_len == longest_step_len(cfg, ds)
                    ? ""
                    : fmt::format(" at length {}, the longest batch run ({} predicted for {})", k.peak_seq_len,
                                  format_bytes(static_cast<double>(k.predicted_bytes)), longest_step_len(cfg, ds))
                          .c_str());
  auto [json_path, csv_path] = write_reports(report, cfg.out_dir);
  std::printf("wrote %s, %s and %zu checkpoint(s) in %s; total time %s\n", json_path.c_str(), csv_path.c_str(),
              report.kinds.size(), cfg.out_dir.c_str(), ProgressBar::format_duration(report.wall_seconds).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Vanilla, chunked and top-k attention on Long Range Arena-style tasks"};
  app.require_subcommand(1);
  Overrides o;
  CLI::App* train = app.add_subcommand("train", "train one attention kind on one task");
  add_common(train, o);
  train->add_option("--attention", o.attention, "vanilla | chunked | topk")->capture_default_str();
  CLI::App* compare = app.add_subcommand("compare", "train each kind with the same model and seed, compare them");
  add_common(compare, o);
  compare->add_option("--kinds", o.kinds, "comma-separated attention kinds")->capture_default_str();
  compare->add_option("--sweep-lengths", o.sweep_lengths, "comma-separated lengths of the memory/time sweep");
  compare->add_flag("--no-sweep", o.no_sweep, "skip the memory/time sweep over sequence lengths");
  CLI::App* estimate = app.add_subcommand("estimate", "print the predicted peak memory of a step, train nothing");
  add_common(estimate, o);
  estimate->add_option("--kinds", o.kinds, "comma-separated attention kinds")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  const std::string mode = train->parsed() ? "train" : compare->parsed() ? "compare" : "estimate";
  try {
    return run(mode, o, command);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", e.what());
    return std::string(e.what()).find("refusing to start") != std::string::npos ? 3 : 1;
  }
}
