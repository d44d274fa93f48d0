// lra: trains transformers with vanilla, chunked and top-k attention on Long Range Arena-style
// tasks and compares their accuracy, speed and peak memory (docs/lra.md).
//
//   lra train    --task listops --attention chunked --preset demo   one task, one attention kind
//   lra compare  --task listops --preset demo                       the same model and seed, each kind
//   lra estimate --task listops --preset lra                        predicted peak memory only
//   lra eval     --from results/listops-demo-vanilla --top-k 1,8,all   a trained model with other kinds
//
// Options after the subcommand override the preset (lra <cmd> --help lists them). Results go to
// --out-dir (default results/<task>-<preset>, train: results/<task>-<preset>-<kind>): results.json,
// results.csv and one checkpoint per kind (eval: eval.json beside the checkpoints);
// examples/lra/plot_results.py draws the JSON.
#include <CLI/CLI.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "autograd/attention.h"
#include "core/allocator.h"
#include "dist/dist.h"
#include "examples/lra/config_json.h"
#include "examples/lra/eval_options.h"
#include "examples/lra/eval_report.h"
#include "examples/lra/lra.h"
#include "examples/lra/memory_estimate.h"
#include "examples/lra/memory_trace_files.h"
#include "examples/lra/options.h"
#include "examples/lra/presets.h"
#include "examples/lra/progress.h"
#include "examples/lra/report.h"
#include "examples/lra/sweep.h"
#include "examples/lra/trainer.h"

using namespace memgrad;
using namespace memgrad::lra;

namespace {

// The options of every subcommand. The numeric ones are taken as text and checked by
// resolve_command_line (examples/lra/options.h): CLI11 would read "010" as octal and clamp
// "99999999999999999999" to INT64_MAX.
void add_common(CLI::App* c, CommandLine& o) {
  c->add_option("--task", o.task, "listops | text | retrieval | image | pathfinder | pathx")->capture_default_str();
  c->add_option("--preset", o.preset, "demo | lra")->capture_default_str();
  for (const NumericOption& n : numeric_options()) {
    const std::string name = n.name;
    c->add_option_function<std::string>(
         name, [&o, name](const std::string& v) { o.numbers.emplace_back(name, v); },
         fmt::format("{} {}", n.help, n.range()))
        ->type_name(n.kind == NumericOption::real ? "FLOAT" : "INT");
  }
  c->add_option("--pooling", o.pooling, "mean | cls: average the outputs, or classify a prepended CLS token");
  c->add_option("--position", o.position,
                "learned | sinusoidal: a table added to the embeddings; alibi | relative: a bias inside attention "
                "(ALiBi slopes, or a learned T5 relative table per layer) instead (default learned)");
  c->add_option("--window", o.window,
                "sliding-window attention: LEFT,RIGHT keys on each side of a query, or one number for both");
  c->add_flag("--pack", o.pack,
              "packed batches: each step's sequences back to back in one row (cu_seqlens), no padding");
  c->add_flag("--data-parallel", o.data_parallel,
              "data-parallel training over mpirun's ranks: --batch is the global batch, split evenly among them "
              "(it must divide); rank 0 logs and writes the files");
  c->add_flag("--trace-memory", o.trace_memory,
              "record one training step per kind with the memory trace: <out-dir>/memory_trace_<kind>.json (for "
              "scripts/plot_memory.py), .trace.json (Perfetto), and the kinds side by side in memory_trace.png");
  c->add_flag("--context-parallel", o.context_parallel,
              "context-parallel training over mpirun's ranks (ring attention): every rank takes the whole batch and "
              "encodes its share of each sequence's positions; chunked attention and fixed-length tasks (image, "
              "pathfinder, pathx) only; rank 0 logs and writes the files");
  c->add_option("--out-dir", o.out_dir, "results folder (default results/<task>-<preset>)");
  c->add_option("--device", o.device, "cpu or cuda: where the model trains (the data stays on the host)")
      ->capture_default_str();
  c->add_option("--init-from", o.init_from,
                 "start from an earlier run's weights: its results folder (<dir>/<kind>.safetensors) or a file");
  c->add_option("--data-dir", o.data_dir, "read the official LRA files under this folder instead of generating");
  c->add_flag("--checkpoint-layers", o.checkpoint_layers, "recompute each encoder layer in backward (less memory)");
  c->add_flag("--fixed-padding", o.fixed_padding, "pad every batch to max-len (LRA's way), not to its longest");
  c->add_flag("--no-memory-check", o.no_memory_check, "start even when the estimate exceeds available memory");
}

// Prints each kind's predicted peak and refuses (throws) when one exceeds the available memory.
void check_memory(const RunConfig& cfg, const Dataset& ds, const std::vector<AttentionKind>& kinds, bool enforce) {
  // The estimate models the CPU kernels' workspaces; on a GPU it is printed as a guide and not enforced.
  if (!cfg.device.is_cpu()) enforce = false;
  const int64_t available = cfg.device.is_cpu() ? available_memory_bytes() : 0, len = longest_step_len(cfg, ds);
  const std::string shape = cfg.train.pack ? fmt::format("{} sequences packed into {} tokens", cfg.train.batch, len)
                                           : fmt::format("batch {} x {} tokens", cfg.train.batch, len);
  std::printf("predicted peak memory of one training step (%s%s; available %s):\n", shape.c_str(),
              ds.pair ? " x 2 documents" : "", available > 0 ? format_bytes(available).c_str() : "unknown");
  std::vector<std::string> refused;
  for (AttentionKind k : kinds) {
    const MemoryEstimate e = estimate_train_step(model_config(cfg, k), cfg.train, len);
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
  if (enforce) throw MemoryRefusal(fmt::format("[lra] refusing to start: {}", msg));
  std::printf("warning (--no-memory-check): %s\n", msg.c_str());
}

// Refuses (throws MemoryRefusal) when the generated data alone would not fit in memory.
void check_data_memory(const RunConfig& cfg, bool enforce) {
  const int64_t bytes = estimate_generated_data_bytes(cfg.data), available = available_memory_bytes();
  if (available <= 0 || bytes <= available) return;
  const std::string msg = fmt::format(
      "the generated {} data ({} + {} + {} examples of up to {} tokens) would need about {}, but only {} is "
      "available. Lower --n-train, --n-val, --n-test or --max-len.",
      cfg.data.task, generated_split_size(cfg.data, Split::train), generated_split_size(cfg.data, Split::val),
      generated_split_size(cfg.data, Split::test), task_lengths(cfg.data).second, format_bytes(bytes),
      format_bytes(available));
  if (enforce) throw MemoryRefusal(fmt::format("[lra] refusing to start: {}", msg));
  std::printf("warning (--no-memory-check): %s\n", msg.c_str());
}

// The results folder, made now: a path that cannot be a folder fails before hours of training.
void make_out_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir))
    fail("lra", "--out-dir {}: cannot create the results folder ({})", dir,
         ec ? ec.message() : "a file of that name exists");
}

// The data of a run, generated or read, with the model fitted to it and its facts in `report`.
Dataset prepare_data(RunConfig& cfg, RunReport& report, bool enforce_memory) {
  check_data_memory(cfg, enforce_memory);
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
  return ds;
}

// Each kind's peak memory of a training step, predicted before training and measured.
void print_peaks(const RunReport& report, const RunConfig& cfg, const Dataset& ds) {
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
}

// --trace-memory: the kinds' traced steps side by side (examples/lra/memory_trace_files.h).
void draw_memory_traces(const RunReport& report, const std::string& out_dir) {
  std::vector<std::string> files, titles;
  for (const KindResult& k : report.kinds) {
    if (k.memory_trace.empty()) continue;
    files.push_back(k.memory_trace);
    titles.push_back(k.kind);
    std::printf("memory trace of one %s step: %s (Perfetto: %s)\n", k.kind.c_str(), k.memory_trace.c_str(),
                (k.memory_trace.substr(0, k.memory_trace.size() - 5) + ".trace.json").c_str());
  }
  if (files.empty()) return;
  const std::string png = plot_step_traces(files, titles, out_dir, stdout);
  if (!png.empty()) std::printf("memory timelines side by side: %s\n", png.c_str());
}

// lra train / compare / estimate.
int run(const CommandLine& cl, const std::string& command) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string& mode = cl.mode;
  auto [cfg, kinds] = resolve_command_line(cl);
  if (cfg.threads > 0) omp_set_num_threads(static_cast<int>(cfg.threads));
  if (cfg.device.is_cuda()) (void)memory::stats(cfg.device);  // a clear error now when there is no GPU
  const bool lead = !distributed(cfg.train) || dist::rank() == 0;  // who logs and writes files
  if (!lead && !std::freopen("/dev/null", "w", stdout)) fail("lra", "rank {}: cannot silence stdout", dist::rank());

  RunReport report;
  report.command = command, report.mode = mode, report.task = cfg.data.task, report.preset = cfg.preset;
  report.machine = run_machine(cfg.device, "training");
  report.started = utc_now();
  std::printf("memgrad lra %s: task %s, preset %s\nmachine: %s\n", mode.c_str(), cfg.data.task.c_str(),
              cfg.preset.c_str(), report.machine.c_str());
  note_if_busy(stdout);

  Dataset ds = prepare_data(cfg, report, !cl.no_memory_check);
  check_memory(cfg, ds, kinds, !cl.no_memory_check);
  if (mode == "estimate") return kExitOk;
  make_out_dir(cfg.out_dir);

  report.config_json = config_to_json(cfg).dump();
  for (AttentionKind k : kinds) report.kinds.push_back(train_kind(cfg, ds, k));
  if (mode == "compare" && lead) report.sweep = run_sweep(cfg, kinds);  // one process: its timings alone
  report.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (distributed(cfg.train)) dist::barrier();
  if (!lead) return kExitOk;

  print_table(stdout, report);
  print_peaks(report, cfg, ds);
  if (cfg.train.trace_memory) draw_memory_traces(report, cfg.out_dir);
  auto [json_path, csv_path] = write_reports(report, cfg.out_dir);
  std::printf("wrote %s, %s and %zu checkpoint(s) in %s; total time %s\n", json_path.c_str(), csv_path.c_str(),
              report.kinds.size(), cfg.out_dir.c_str(), ProgressBar::format_duration(report.wall_seconds).c_str());
  return kExitOk;
}

// lra eval (examples/lra/eval.h).
int run_eval_command(const EvalCommandLine& cl, const std::string& command) {
  const auto t0 = std::chrono::steady_clock::now();
  const EvalRequest req = resolve_eval_command_line(cl);
  if (req.threads > 0) omp_set_num_threads(static_cast<int>(req.threads));
  if (req.device.is_cuda()) (void)memory::stats(req.device);  // a clear error now when there is no GPU
  const std::string machine = run_machine(req.device, "evaluating"), started = utc_now();
  std::printf("memgrad lra eval: %s\nmachine: %s\n", req.from.c_str(), machine.c_str());
  note_if_busy(stdout);

  EvalReport report = run_eval(req);
  report.command = command, report.machine = machine, report.started = started;
  report.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  print_eval_table(stdout, report);
  const std::string path = write_eval_json(report, req.out_dir);
  std::printf("wrote %s; total time %s (examples/lra/plot_results.py %s draws it)\n", path.c_str(),
              ProgressBar::format_duration(report.wall_seconds).c_str(), path.c_str());
  return kExitOk;
}

// The options of `lra eval`. The train/compare options that would change the model or its data are
// registered hidden and refused with a message naming them (resolve_eval_command_line).
void add_eval(CLI::App* c, EvalCommandLine& o) {
  c->add_option("--from", o.from, "a results folder (results.json, <kind>.safetensors) or one checkpoint file")
      ->required();
  c->add_option("--attention", o.attention, "evaluate with this one attention kind");
  c->add_option("--kinds", o.kinds, "evaluate with these kinds, comma-separated (default: vanilla,chunked,topk)");
  c->add_option("--trained", o.trained, "a results folder's trained kinds to load (default: all in results.json)");
  // The k lists, comma-separated ("1,2,all") or as separate words ("1 2 all"), joined into one list.
  auto k_list = [c](const char* name, std::optional<std::string>& dest, const char* help) {
    c->add_option_function<std::vector<std::string>>(
         name, [&dest](const std::vector<std::string>& v) { dest = fmt::format("{}", fmt::join(v, ",")); }, help)
        ->type_name("LIST");
  };
  k_list("--top-k", o.top_k,
         "topk attention's keys per query: integers and/or all (= vanilla), comma- or space-separated (default: the "
         "trained value)");
  k_list("--ff-top-k", o.ff_top_k,
         "feed-forward top-k: integers (0: dense) and/or all (dense), comma- or space-separated (default: the "
         "trained value)");
  const auto& taken = eval_numeric_options();
  for (const NumericOption& n : numeric_options()) {
    const std::string name = n.name;
    if (name == "--top-k" || name == "--ff-top-k") continue;
    const bool takes = std::find(taken.begin(), taken.end(), name) != taken.end();
    CLI::Option* opt = c->add_option_function<std::string>(
        name, [&o, name, takes](const std::string& v) {
          if (takes) o.numbers.emplace_back(name, v);
          else o.refused.push_back(name);
        },
        fmt::format("{} {}",
                    name == "--batch"      ? "sequences per evaluation batch (default: the stored one)"
                    : name == "--max-eval" ? "test examples scored (0: all)"
                                           : n.help,
                    n.range()));
    opt->type_name("INT");
    if (!takes) opt->group("");  // hidden: refused with a clear message
  }
  for (const char* name : {"--task", "--preset", "--pooling", "--init-from", "--sweep-lengths", "--position", "--window"})
    c->add_option_function<std::string>(name, [&o, name](const std::string&) { o.refused.push_back(name); })
        ->group("");
  for (const char* name :
       {"--checkpoint-layers", "--fixed-padding", "--no-sweep", "--no-memory-check", "--pack", "--data-parallel",
        "--context-parallel"})
    c->add_flag_callback(name, [&o, name] { o.refused.push_back(name); })->group("");
  c->add_option("--out-dir", o.out_dir, "where eval.json goes (default: the --from folder, or the file's folder)");
  c->add_option("--data-dir", o.data_dir, "read the official LRA files under this folder (default: as trained)");
  c->add_option("--device", o.device, "cpu or cuda")->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Vanilla, chunked and top-k attention on Long Range Arena-style tasks"};
  app.require_subcommand(1);
  app.footer(
      "Exit status: 0 done, 1 error while running (data, files, checkpoints, training), 2 bad command line (unknown "
      "option, malformed or out-of-range value, contradicting options), 3 refused: the predicted memory exceeds what "
      "is available (see --no-memory-check).");
  CommandLine o;
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
  EvalCommandLine e;
  CLI::App* eval = app.add_subcommand(
      "eval", "evaluate a trained model on its test split with other attention kinds and top-k settings");
  add_eval(eval, e);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int status = app.exit(e);  // prints the help (status 0) or the error
    return status == 0 ? kExitOk : kExitUsage;
  }

  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  o.mode = train->parsed() ? "train" : compare->parsed() ? "compare" : "estimate";
  try {
    return eval->parsed() ? run_eval_command(e, command) : run(o, command);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", e.what());
    if (dynamic_cast<const UsageError*>(&e)) {
      std::fprintf(stderr, "Run with --help for the options and their ranges.\n");
      return kExitUsage;
    }
    return dynamic_cast<const MemoryRefusal*>(&e) ? kExitMemory : kExitError;
  }
}
