// lra eval: checkpoints evaluated with other attention kinds and top-k settings (eval.h).
#include "examples/lra/eval.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/allocator.h"
#include "core/error.h"
#include "examples/lra/checkpoint.h"
#include "examples/lra/config_json.h"
#include "examples/lra/memory_estimate.h"
#include "examples/lra/model.h"
#include "examples/lra/trainer.h"

namespace memgrad::lra {

namespace {

constexpr const char* kOp = "lra eval";
using Clock = std::chrono::steady_clock;

// The kinds a results folder's results.json lists under "kinds".
std::vector<std::string> kinds_in_results(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "results.json").string();
  MG_CHECK(std::filesystem::exists(path), kOp,
           "{} has no results.json (not an lra results folder, or its run did not finish): name the trained kinds "
           "with --trained, or give a checkpoint file",
           dir);
  nlohmann::json j;
  try {
    std::ifstream in(path);
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail(kOp, "{} is not valid JSON: {}", path, e.what());
  }
  std::vector<std::string> kinds;
  if (j.is_object() && j.contains("kinds") && j["kinds"].is_array())
    for (const auto& k : j["kinds"])
      if (k.is_object() && k.contains("kind") && k["kind"].is_string()) kinds.push_back(k["kind"].get<std::string>());
  MG_CHECK(!kinds.empty(), kOp, "{} lists no trained kinds (no \"kinds\" entries with a \"kind\"): not lra's results",
           path);
  return kinds;
}

// The data of the last checkpoint, kept for the next one when its stored task is the same (the
// kinds of one `compare` folder share it).
struct DataCache {
  std::string key;  // the TaskConfig as JSON
  Dataset ds;
};

// The test data of a checkpoint: its stored task regenerated (or read from --data-dir / the stored
// data folder), checked against the model's vocabulary, classes, pairing and length.
const Dataset& test_data(const RunCheckpoint& c, const EvalRequest& req, DataCache& cache) {
  TaskConfig t = c.cfg.data;
  if (req.data_dir) t.data_dir = *req.data_dir;
  const std::string& path = c.weights.path;
  const std::string source = t.data_dir.empty() ? "generated from the stored task and data seed" : t.data_dir;
  RunConfig keyed;
  keyed.data = t;
  const std::string key = config_to_json(keyed)["data"].dump();
  if (key != cache.key) {
    cache.key.clear();
    try {
      cache.ds = make_task(t);
    } catch (const Error& e) {
      fail(kOp, "{}: the test data ({}) cannot be made: {}", path, source, e.what());
    }
    cache.key = key;
  }
  const Dataset& ds = cache.ds;
  const ModelConfig& m = c.cfg.model;
  MG_CHECK(ds.vocab_size == m.vocab && ds.num_classes == m.classes && ds.pair == m.pair && ds.max_len <= m.max_len,
           kOp,
           "{}: the model takes a vocabulary of {}, {} classes, {} and sequences up to {} tokens, but the data ({}) "
           "has {}, {}, {} and up to {}",
           path, m.vocab, m.classes, m.pair ? "pairs" : "single sequences", m.max_len, source, ds.vocab_size,
           ds.num_classes, ds.pair ? "pairs" : "single sequences", ds.max_len);
  MG_CHECK(!ds.test.empty(), kOp, "{}: the test split ({}) is empty", path, source);
  return ds;
}

// One setting of the loaded model.
struct Setting {
  AttentionKind kind;
  TopKValue top_k;     // topk only
  int64_t ff_top_k;    // 0: dense
};

std::vector<Setting> settings(const EvalRequest& req, const ModelConfig& m) {
  const std::vector<TopKValue> ks = req.top_k.empty() ? std::vector<TopKValue>{{m.encoder.attention.top_k}} : req.top_k;
  std::vector<int64_t> ffs;
  for (const TopKValue& v : req.ff_top_k) ffs.push_back(v.k);  // 0: dense ("all" resolved to 0)
  if (ffs.empty()) ffs.push_back(m.encoder.ff_topk.top_k);
  std::vector<Setting> out;
  for (AttentionKind kind : req.kinds)
    for (const TopKValue& k : kind == AttentionKind::topk ? ks : std::vector<TopKValue>{{0}})
      for (int64_t ff : ffs) out.push_back({kind, k, ff});
  return out;
}

// The model evaluated on the test split with one setting, under a PeakMeter.
EvalRow evaluate_setting(SequenceModel& model, const Dataset& ds, const Setting& s, const EvalRequest& req,
                         const RunCheckpoint& c, int64_t outside) {
  const ModelConfig& m = c.cfg.model;
  const int64_t k = s.top_k.all ? m.positions() : s.top_k.k;  // "all": no query has more keys
  const nn::FeedForwardTopK ff{.top_k = s.ff_top_k, .chunk = req.ff_chunk.value_or(m.encoder.ff_topk.chunk)};
  set_inference_options(model, s.kind, s.kind == AttentionKind::topk ? k : m.encoder.attention.top_k, ff);
  const int64_t batch = req.batch > 0 ? req.batch : c.cfg.train.eval_batch;
  memory::empty_cache(req.device);  // every setting starts from the same (empty) allocator cache
  EvalRow r;
  r.trained = to_string(c.kind), r.kind = to_string(s.kind), r.ff_top_k = s.ff_top_k;
  if (s.kind == AttentionKind::topk) r.top_k = k, r.top_k_all = s.top_k.all;
  const auto t0 = Clock::now();
  {
    memory::PeakMeter meter(req.device);
    r.test_acc = evaluate(model, ds, Split::test, batch, req.max_eval, req.device);
    r.peak_bytes = meter.peak() - outside;
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const auto n = static_cast<int64_t>(ds.test.size());
  r.examples = req.max_eval > 0 ? std::min(n, req.max_eval) : n;
  return r;
}

// "topk k=8, ff top-k 16" / "chunked, ff dense": a row as a log line names it.
std::string setting_name(const EvalRow& r) {
  std::string s = r.kind;
  if (r.top_k) s += r.top_k_all ? fmt::format(" k=all({})", *r.top_k) : fmt::format(" k={}", *r.top_k);
  s += r.ff_top_k > 0 ? fmt::format(", ff top-k {}", r.ff_top_k) : ", ff dense";
  return s;
}

bool same_setting(const EvalRow& r, const EvalSource& src) {
  return r.kind == src.trained && r.ff_top_k == src.trained_ff_top_k &&
         (r.kind != "topk" || (r.top_k && *r.top_k == src.trained_top_k));
}

// Evaluates one checkpoint with every setting; appends its source and rows to `report`.
void eval_checkpoint(const std::string& path, const EvalRequest& req, EvalReport& report, DataCache& cache,
                     FILE* log) {
  RunCheckpoint c = read_run_checkpoint(path, kOp);
  if (!req.trained.empty())
    MG_CHECK(std::find(req.trained.begin(), req.trained.end(), c.kind) != req.trained.end(), kOp,
             "{} was trained with {}, not with the kind --trained names", path, to_string(c.kind));
  const Dataset& ds = test_data(c, req, cache);
  memory::empty_cache(req.device);
  const int64_t outside = memory::stats(req.device).current;  // tensors held elsewhere: not part of the evaluation
  std::unique_ptr<SequenceModel> model = make_model(model_config(c.cfg, c.kind));
  load_weights(*model, std::move(c.weights), kOp, PositionRows::same);
  model->to(req.device);

  EvalSource src;
  src.checkpoint = path, src.trained = to_string(c.kind), src.step = c.step, src.val_acc = c.val_acc;
  src.config_json = config_to_json(c.cfg).dump();
  src.trained_top_k = c.cfg.model.encoder.attention.top_k, src.trained_ff_top_k = c.cfg.model.encoder.ff_topk.top_k;
  src.ff_hidden = c.cfg.model.encoder.ff_hidden, src.positions = c.cfg.model.positions();
  const auto [majority_class, majority_rate] = majority_baseline(ds);
  report.task = ds.task, report.preset = c.cfg.preset, report.majority_rate = majority_rate;
  report.majority_class = majority_class, report.test_examples = static_cast<int64_t>(ds.test.size());
  report.batch = req.batch > 0 ? req.batch : c.cfg.train.eval_batch;
  std::fprintf(log, "\n== %s: trained with %s (step %s, val acc %s): %s\n", path.c_str(), src.trained.c_str(),
               c.step.c_str(), c.val_acc.c_str(), describe(*model).c_str());

  const size_t first = report.rows.size();
  for (const Setting& s : settings(req, c.cfg.model)) {
    EvalRow r = evaluate_setting(*model, ds, s, req, c, outside);
    std::fprintf(log, "  %-36s test acc %.4f  (%lld examples, %.2f s, peak %s)\n", setting_name(r).c_str(),
                 r.test_acc, static_cast<long long>(r.examples), r.seconds,
                 format_bytes(static_cast<double>(r.peak_bytes)).c_str());
    std::fflush(log);
    report.rows.push_back(std::move(r));
  }
  // The reference: the trained setting, evaluated here unless a row already is it.
  const auto it = std::find_if(report.rows.begin() + static_cast<std::ptrdiff_t>(first), report.rows.end(),
                               [&](const EvalRow& r) { return same_setting(r, src); });
  if (it != report.rows.end()) {
    src.trained_acc = it->test_acc;
  } else {
    const Setting trained{c.kind, {src.trained_top_k}, src.trained_ff_top_k};
    src.trained_acc = evaluate_setting(*model, ds, trained, req, c, outside).test_acc;
  }
  std::fprintf(log, "  as trained (%s): test acc %.4f; majority-class rate %.4f\n", src.trained.c_str(),
               src.trained_acc, majority_rate);
  report.sources.push_back(std::move(src));
}

}  // namespace

std::vector<std::string> eval_checkpoints(const EvalRequest& req) {
  namespace fs = std::filesystem;
  MG_CHECK(fs::exists(req.from), kOp, "{} does not exist", req.from);
  if (!fs::is_directory(req.from)) return {req.from};
  std::vector<std::string> kinds;
  for (AttentionKind k : req.trained) kinds.push_back(to_string(k));
  if (kinds.empty()) kinds = kinds_in_results(req.from);
  std::vector<std::string> files;
  for (const std::string& k : kinds) files.push_back(checkpoint_file(req.from, k, kOp));
  return files;
}

EvalReport run_eval(const EvalRequest& req, FILE* log) {
  EvalReport report;
  report.from = req.from;
  DataCache cache;
  for (const std::string& path : eval_checkpoints(req)) eval_checkpoint(path, req, report, cache, log);
  return report;
}

}  // namespace memgrad::lra
