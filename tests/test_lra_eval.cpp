// lra eval (examples/lra/eval.h): a model trained with vanilla attention, evaluated from its
// checkpoint alone with other kinds (the zero-shot swap), and the errors for checkpoints and
// command lines it cannot use. Built only with the examples (MEMGRAD_HAVE_LRA_PROGRAM).
#ifdef MEMGRAD_HAVE_LRA_PROGRAM
#include <doctest/doctest.h>

#include <omp.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "examples/lra/checkpoint.h"
#include "examples/lra/config_json.h"
#include "examples/lra/eval.h"
#include "examples/lra/eval_options.h"
#include "examples/lra/options.h"
#include "examples/lra/report.h"
#include "examples/lra/trainer.h"
#include "nn/serialization.h"
#include "tests/error_test_util.h"
#include "tests/lra_test_util.h"

using namespace memgrad;
using namespace memgrad::lra;
using lra_test::TempDir;
namespace fs = std::filesystem;

namespace {

// A tiny ListOps run: 1 layer of width 16, sequences of 10-40 tokens, 6 steps (well under a second).
RunConfig tiny_run(const fs::path& out_dir) {
  RunConfig c = make_preset("demo", "listops");
  c.data.n_train = 64, c.data.n_val = 16, c.data.n_test = 48, c.data.min_len = 10, c.data.max_len = 40;
  c.model.encoder.dim = 16, c.model.encoder.heads = 2, c.model.encoder.layers = 1, c.model.encoder.ff_hidden = 32;
  c.model.encoder.attention.top_k = 4;
  c.train.steps = 6, c.train.batch = 8, c.train.eval_every = 0, c.train.eval_batch = 16;
  c.out_dir = out_dir.string();
  return c;
}

struct Threads {
  explicit Threads(int n) : saved(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~Threads() { omp_set_num_threads(saved); }
  int saved;
};

// Trains the tiny model with each kind into `dir` (<kind>.safetensors, results.json), as lra does.
RunReport train_tiny(const fs::path& dir, std::vector<AttentionKind> kinds = {AttentionKind::vanilla}) {
  RunConfig cfg = tiny_run(dir);
  Dataset ds = make_task(cfg.data);
  fit_model_to_data(cfg.model, ds);
  RunReport report;
  report.task = "listops", report.preset = "demo", report.config_json = config_to_json(cfg).dump();
  FILE* quiet = std::tmpfile();
  for (AttentionKind kind : kinds) report.kinds.push_back(train_kind(cfg, ds, kind, quiet));
  std::fclose(quiet);
  write_reports(report, dir.string());
  return report;
}

EvalReport eval_quietly(const EvalRequest& req) {
  FILE* quiet = std::tmpfile();
  EvalReport r = run_eval(req, quiet);
  std::fclose(quiet);
  return r;
}

const EvalRow& row(const EvalReport& r, const std::string& kind, std::optional<int64_t> k = std::nullopt) {
  for (const EvalRow& x : r.rows)
    if (x.kind == kind && x.top_k == k) return x;
  FAIL("no row " << kind);
  return r.rows.front();
}

// A copy of `src` whose tensors and metadata `change` edits.
using Edit = std::function<void(std::map<std::string, Tensor>&, std::map<std::string, std::string>&)>;
std::string rewrite(const std::string& src, const fs::path& dst, const Edit& change) {
  std::map<std::string, std::string> meta;
  std::map<std::string, Tensor> tensors = load_safetensors(src, &meta);
  change(tensors, meta);
  save_safetensors(dst.string(), tensors, meta);
  return dst.string();
}

}  // namespace

TEST_CASE("lra eval: a vanilla-trained model evaluated with chunked and with topk k = all scores as vanilla") {
  Threads one(1);
  TempDir dir;
  train_tiny(dir.path);
  const std::string ckpt = (dir.path / "vanilla.safetensors").string();
  // the trainer's checkpoint is self-describing: kind, and the configuration it was trained with
  const RunCheckpoint c = read_run_checkpoint(ckpt, "test");
  CHECK(c.kind == AttentionKind::vanilla);
  CHECK(c.cfg.model.encoder.dim == 16);
  CHECK(c.cfg.data.n_test == 48);

  EvalRequest req;
  req.from = dir.path.string();
  req.top_k = {{.k = 1}, {.k = 0, .all = true}};
  const EvalReport r = eval_quietly(req);
  REQUIRE(r.sources.size() == 1);
  REQUIRE(r.rows.size() == 4);  // vanilla, chunked, topk k=1, topk k=all
  const EvalRow &vanilla = row(r, "vanilla"), &chunked = row(r, "chunked");
  const int64_t positions = c.cfg.model.positions();
  const EvalRow& all = row(r, "topk", positions);
  CHECK(all.top_k_all);
  CHECK(vanilla.examples == 48);
  // Exactly equal accuracies: chunked and top-k with every key compute vanilla's function (the
  // logits differ by float32 rounding, ~1e-6, checked below), far too little to move an argmax of
  // this model's 48 test examples.
  CHECK(chunked.test_acc == vanilla.test_acc);
  CHECK(all.test_acc == vanilla.test_acc);
  CHECK(r.sources[0].trained_acc == vanilla.test_acc);
  CHECK(r.sources[0].trained == "vanilla");
  // The swap took effect: chunked never holds vanilla's [B, H, N, N] scores.
  CHECK(chunked.peak_bytes < vanilla.peak_bytes);
  CHECK(r.majority_rate > 0);

  // The same model, switched in place: chunked and topk-all logits match vanilla's, topk k=1 does not.
  RunCheckpoint again = read_run_checkpoint(ckpt, "test");
  auto model = make_model(model_config(again.cfg, again.kind));
  load_weights(*model, std::move(again.weights), "test", PositionRows::same);
  Dataset ds = make_task(again.cfg.data);
  Batch b = make_batch(ds, Split::test, {0, 1, 2, 3, 4, 5, 6, 7});
  NoGradGuard ng;
  model->eval();
  const std::vector<float> base = model->forward(b).to_vector<float>();
  auto max_diff = [&](AttentionKind kind, int64_t k) {
    set_inference_options(*model, kind, k, {});
    const std::vector<float> out = model->forward(b).to_vector<float>();
    double d = 0;
    for (size_t i = 0; i < out.size(); ++i) d = std::max(d, std::abs(static_cast<double>(out[i]) - base[i]));
    return d;
  };
  CHECK(max_diff(AttentionKind::chunked, 4) < 1e-4);
  CHECK(max_diff(AttentionKind::topk, positions) < 1e-4);
  CHECK(max_diff(AttentionKind::topk, 1) > 1e-3);
  CHECK(model->enc->layers[0]->attn->options.kind == AttentionKind::topk);
  CHECK(model->config.encoder.attention.top_k == 1);
}

TEST_CASE("lra eval: a results folder of several kinds, each model evaluated as trained scores its test accuracy") {
  Threads one(1);
  TempDir dir;
  const RunReport trained = train_tiny(dir.path, {AttentionKind::topk, AttentionKind::chunked});
  EvalRequest req;
  req.from = dir.path.string();
  req.kinds = {AttentionKind::vanilla, AttentionKind::topk};
  const EvalReport r = eval_quietly(req);
  REQUIRE(r.sources.size() == 2);
  CHECK(r.rows.size() == 4);  // per trained kind: vanilla, topk with the trained k = 4
  for (size_t i = 0; i < 2; ++i) {
    CAPTURE(trained.kinds[i].kind);
    CHECK(r.sources[i].trained == trained.kinds[i].kind);
    // the same checkpoint, data and batches as the trainer's own test pass
    CHECK(r.sources[i].trained_acc == trained.kinds[i].test_acc);
  }
  // the topk-trained model as trained is its row "topk, k = 4"; chunked's reference was evaluated apart
  const EvalRow* topk_row = nullptr;
  for (const EvalRow& x : r.rows)
    if (x.trained == "topk" && x.kind == "topk") topk_row = &x;
  REQUIRE(topk_row);
  CHECK(topk_row->top_k == 4);
  CHECK(topk_row->test_acc == r.sources[0].trained_acc);
  // --trained picks one of them
  req.trained = {AttentionKind::chunked};
  CHECK(eval_quietly(req).sources.size() == 1);
}

TEST_CASE("lra eval: checkpoints it cannot use are clear errors naming the file") {
  Threads one(1);
  TempDir dir;
  train_tiny(dir.path);
  const std::string good = (dir.path / "vanilla.safetensors").string();
  EvalRequest req;
  req.kinds = {AttentionKind::chunked};
  auto eval_file = [&](const std::string& path) {
    EvalRequest q = req;
    q.from = path;
    eval_quietly(q);
  };
  // truncated
  const fs::path truncated = dir.path / "truncated.safetensors";
  fs::copy_file(good, truncated);
  fs::resize_file(truncated, fs::file_size(truncated) / 2);
  check_error([&] { eval_file(truncated.string()); },
              {"lra eval", truncated.string(), "cannot be read as a checkpoint"});
  // foreign: a safetensors file without lra's metadata, and a file that is not safetensors
  const std::string foreign = rewrite(good, dir.path / "foreign.safetensors", [](auto&, auto& meta) { meta.clear(); });
  check_error([&] { eval_file(foreign); }, {foreign, "not a checkpoint written by lra"});
  check_error([&] { eval_file((dir.path / "results.json").string()); },
              {"results.json", "cannot be read as a checkpoint"});
  // an lra checkpoint from before the configuration was stored
  const std::string old = rewrite(good, dir.path / "old.safetensors", [](auto&, auto& meta) { meta.erase("config"); });
  check_error([&] { eval_file(old); }, {old, "no stored run configuration"});
  // NaN weights
  const std::string nan = rewrite(good, dir.path / "nan.safetensors", [](auto& t, auto&) {
    std::vector<float> w = t.at("model.head.fc1.weight").template to_vector<float>();
    w[3] = std::nanf("");
    t["model.head.fc1.weight"] = from_vector(w, t.at("model.head.fc1.weight").shape());
  });
  check_error([&] { eval_file(nan); }, {nan, "'model.head.fc1.weight'", "NaN or infinite"});
  // a configuration whose model does not match the tensors: another ff width, a missing tensor, an extra one
  const std::string wide = rewrite(good, dir.path / "wide.safetensors", [](auto&, auto& meta) {
    nlohmann::json j = nlohmann::json::parse(meta.at("config"));
    j["model"]["ff_hidden"] = 48;
    meta["config"] = j.dump();
  });
  check_error([&] { eval_file(wide); },
              {wide, "'model.enc.0.ff.fc1.bias'", "[32] float32 in the file", "[48] float32 in the model"});
  const std::string missing =
      rewrite(good, dir.path / "missing.safetensors", [](auto& t, auto&) { t.erase("model.pos.table"); });
  check_error([&] { eval_file(missing); }, {missing, "no tensor 'model.pos.table'"});
  const std::string extra =
      rewrite(good, dir.path / "extra.safetensors", [](auto& t, auto&) { t["model.extra"] = zeros({2}); });
  check_error([&] { eval_file(extra); }, {extra, "'model.extra' ([2] float32) is not in the model"});
  const std::string broken = rewrite(good, dir.path / "broken.safetensors", [](auto&, auto& meta) {
    nlohmann::json j = nlohmann::json::parse(meta.at("config"));
    j["model"].erase("heads");
    meta["config"] = j.dump();
  });
  check_error([&] { eval_file(broken); }, {broken, "'model.heads' is missing"});
  // folders: a kind without its checkpoint, a folder without results.json, a path that does not exist
  EvalRequest q = req;
  q.from = dir.path.string();
  q.trained = {AttentionKind::topk};
  check_error([&] { eval_quietly(q); }, {dir.path.string(), "no checkpoint for topk"});
  TempDir empty;
  q.from = empty.path.string();
  q.trained = {};
  check_error([&] { eval_quietly(q); }, {empty.path.string(), "has no results.json"});
  check_error([&] { eval_file((dir.path / "nothing").string()); }, {"nothing", "does not exist"});
}

TEST_CASE("lra eval: the command line, checked before any file is read") {
  auto check_usage = [](const EvalCommandLine& cl, std::vector<std::string> parts) {
    bool usage = false;
    check_error(
        [&] {
          try {
            resolve_eval_command_line(cl);
          } catch (const UsageError&) {
            usage = true;
            throw;
          }
        },
        parts);
    CHECK_MESSAGE(usage, "not a UsageError");
  };
  EvalCommandLine cl;
  cl.from = "results/x";
  const EvalRequest r = resolve_eval_command_line(cl);
  CHECK(r.kinds.size() == 3);
  CHECK(r.top_k.empty());
  CHECK(r.out_dir == "results");  // not a folder here: its parent
  cl.top_k = "1,2,4,all";
  cl.ff_top_k = "0,8";
  cl.numbers = {{"--batch", "7"}, {"--max-eval", "100"}, {"--ff-chunk", "256"}, {"--threads", "1"}};
  const EvalRequest s = resolve_eval_command_line(cl);
  CHECK(s.top_k == std::vector<TopKValue>{{1}, {2}, {4}, {0, true}});
  CHECK(s.ff_top_k == std::vector<TopKValue>{{0}, {8}});
  CHECK(s.batch == 7);
  CHECK(s.max_eval == 100);
  CHECK(s.ff_chunk == 256);
  for (const char* bad : {"0", "-1", "x", "1,,2", "", "1.5", "99999999999999999999"}) {
    cl.top_k = bad;
    check_usage(cl, {"--top-k: '", "is not an integer in [1, 16777216] or 'all'"});
  }
  cl.top_k = "4,all,4";
  check_usage(cl, {"--top-k: '4' is given twice"});
  cl.top_k = "1";
  cl.ff_top_k = "-1";
  check_usage(cl, {"--ff-top-k: '-1' is not an integer in [0, 16777216]"});
  cl.ff_top_k = "all";
  CHECK(resolve_eval_command_line(cl).ff_top_k == std::vector<TopKValue>{{0}});
  cl.ff_top_k = "8,all,0";
  check_usage(cl, {"--ff-top-k: 0 and all both mean the dense layer"});
  cl.ff_top_k.reset();
  cl.attention = "chunked";
  check_usage(cl, {"--top-k is for topk attention"});
  cl.kinds = "topk";
  check_usage(cl, {"--attention and --kinds contradict"});
  cl.attention.reset();
  cl.kinds = "topk,flash";
  check_usage(cl, {"--kinds: 'flash' is not an attention kind"});
  cl.kinds.reset();
  cl.refused = {"--dim"};
  check_usage(cl, {"--dim cannot be given to lra eval"});
  cl.refused.clear();
  cl.numbers = {{"--batch", "0"}};
  check_usage(cl, {"--batch: 0 is out of range"});
  cl.numbers = {{"--steps", "3"}};
  check_usage(cl, {"lra eval takes no --steps"});
  cl.numbers.clear();
  cl.from = "";
  check_usage(cl, {"--from"});
  cl.from = "x";
  cl.out_dir = "";
  check_usage(cl, {"--out-dir: the path is empty"});
}
#endif
