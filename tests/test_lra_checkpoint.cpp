// lra's self-describing checkpoints (examples/lra/checkpoint.h, config_json.h): the run
// configuration survives a JSON round trip, a malformed one is refused naming the file and the
// key, and a checkpoint written by training carries it in its metadata.
// Built only with the examples (MEMGRAD_HAVE_LRA_PROGRAM, set by examples/CMakeLists.txt).
#ifdef MEMGRAD_HAVE_LRA_PROGRAM
#include <doctest/doctest.h>

#include "core/random.h"
#include "examples/lra/checkpoint.h"
#include "examples/lra/config_json.h"
#include "nn/serialization.h"
#include "tests/error_test_util.h"
#include "tests/lra_test_util.h"

using namespace memgrad;
using namespace memgrad::lra;
using lra_test::TempDir;

namespace {

// A configuration with every field away from its default.
RunConfig unusual() {
  RunConfig c = make_preset("lra", "retrieval");
  c.seed = 18446744073709551615ull;
  c.init_from = "results/short";
  c.data.n_train = 123, c.data.min_len = 7, c.data.max_len = 99, c.data.image_side = 5;
  c.data.listops_max_depth = 4, c.data.listops_max_args = 3, c.data.seed = 77, c.data.data_dir = "/data/x";
  c.data.pathfinder_difficulty = "curv_baseline";
  c.model.vocab = 257, c.model.classes = 2, c.model.max_len = 99, c.model.pair = true, c.model.head_hidden = 24;
  c.model.pooling = nn::Pooling::cls;
  auto& e = c.model.encoder;
  e.dim = 48, e.heads = 6, e.layers = 3, e.ff_hidden = 96, e.ff_topk = {.top_k = 12, .chunk = 100};
  e.dropout = 0.25, e.activation = nn::Activation::relu, e.attention.top_k = 9, e.checkpoint = true;
  c.train.steps = 11, c.train.batch = 3, c.train.lr = 0.125, c.train.weight_decay = 0.5, c.train.warmup_frac = 0.2;
  c.train.min_lr_frac = 0.3, c.train.clip = 0, c.train.eval_every = 4, c.train.patience = 2, c.train.eval_batch = 5;
  c.train.max_eval = 6, c.train.dynamic_padding = false, c.train.bucket = 8;
  c.sweep_lengths = {32, 64}, c.sweep_steps = 2;
  return c;
}

}  // namespace

TEST_CASE("lra config: every stored field survives the JSON round trip") {
  std::vector<RunConfig> configs = {unusual()};
  for (const std::string& preset : preset_names())
    for (const std::string& task : task_names()) configs.push_back(make_preset(preset, task));
  for (const RunConfig& c : configs) {
    CAPTURE(c.preset);
    CAPTURE(c.data.task);
    const nlohmann::json j = config_to_json(c);
    const RunConfig back = config_from_json(j, "x.safetensors");
    CHECK(config_to_json(back) == j);
  }
  const RunConfig u = config_from_json(config_to_json(unusual()), "x");
  CHECK(u.seed == 18446744073709551615ull);
  CHECK(u.model.encoder.ff_topk.top_k == 12);
  CHECK(u.model.encoder.ff_topk.chunk == 100);
  CHECK(u.model.encoder.activation == nn::Activation::relu);
  CHECK(u.model.pooling == nn::Pooling::cls);
  CHECK(u.data.pathfinder_difficulty == "curv_baseline");
}

TEST_CASE("lra config: a missing or malformed entry is an error naming the file and the key") {
  const nlohmann::json good = config_to_json(unusual());
  auto check = [&](auto change, std::vector<std::string> parts) {
    nlohmann::json j = good;
    change(j);
    parts.push_back("f.safetensors");
    check_error([&] { config_from_json(j, "f.safetensors"); }, parts);
  };
  check([](nlohmann::json& j) { j["model"].erase("dim"); }, {"'model.dim' is missing"});
  check([](nlohmann::json& j) { j.erase("data"); }, {"'data.task' is missing"});
  check([](nlohmann::json& j) { j["model"]["dim"] = "64"; }, {"'model.dim' is \"64\", not an integer"});
  check([](nlohmann::json& j) { j["model"]["dim"] = 64.5; }, {"'model.dim' is 64.5, not an integer"});
  check([](nlohmann::json& j) { j["model"]["heads"] = 0; }, {"'model.heads' is 0, out of range"});
  check([](nlohmann::json& j) { j["model"]["heads"] = 5; }, {"'model.dim' 48 is not divisible by model.heads 5"});
  check([](nlohmann::json& j) { j["model"]["ff_top_k"] = -1; }, {"'model.ff_top_k' is -1, out of range"});
  check([](nlohmann::json& j) { j["model"]["pooling"] = "max"; }, {"'model.pooling' is \"max\", not one of mean, cls"});
  check([](nlohmann::json& j) { j["model"]["dropout"] = 1.0; }, {"'model.dropout' is 1, out of range"});
  check([](nlohmann::json& j) { j["model"]["pair"] = 1; }, {"'model.pair' is 1, not true or false"});
  check([](nlohmann::json& j) { j["seed"] = -3; }, {"'seed' is -3, not a non-negative integer"});
  check([](nlohmann::json& j) { j["data"]["n_test"] = 1e300; }, {"'data.n_test'", "not an integer"});
  check([](nlohmann::json& j) { j["sweep_lengths"] = {1, "a"}; }, {"'sweep_lengths' holds \"a\""});
  check([](nlohmann::json& j) { j = nlohmann::json::array(); }, {"not a JSON object"});
}

TEST_CASE("lra checkpoint: the metadata stores the configuration; files lra did not write are refused") {
  TempDir dir;
  RunConfig cfg = unusual();
  manual_seed(1);
  ModelConfig m = cfg.model;
  m.pair = false, m.encoder.layers = 1;
  cfg.model = m;
  auto model = make_model(m);
  const std::string path = (dir.path / "topk.safetensors").string();
  save_checkpoint(path, *model, nullptr, checkpoint_metadata(cfg, AttentionKind::topk, 42, 0.5));
  const RunCheckpoint c = read_run_checkpoint(path, "lra eval");
  CHECK(c.kind == AttentionKind::topk);
  CHECK(c.step == "42");
  CHECK(c.val_acc == "0.500000");
  CHECK(config_to_json(c.cfg) == config_to_json(cfg));
  CHECK(c.cfg.out_dir == dir.path.string());
  CHECK(c.weights.tensors.size() == model->state_dict().size());

  // a plain safetensors file, an old lra checkpoint, a broken config, a foreign kind or task
  auto write = [&](const std::map<std::string, std::string>& meta) { save_checkpoint(path, *model, nullptr, meta); };
  write({});
  check_error([&] { read_run_checkpoint(path, "lra eval"); }, {"lra eval", path, "not a checkpoint written by lra"});
  write({{"kind", "vanilla"}, {"task", "retrieval"}, {"step", "3"}});
  check_error([&] { read_run_checkpoint(path, "lra eval"); }, {path, "no stored run configuration"});
  auto meta = checkpoint_metadata(cfg, AttentionKind::topk, 42, 0.5);
  meta["config"] = "{\"preset\": ";
  write(meta);
  check_error([&] { read_run_checkpoint(path, "lra eval"); }, {path, "not valid JSON"});
  meta = checkpoint_metadata(cfg, AttentionKind::topk, 42, 0.5);
  meta["kind"] = "flash";
  write(meta);
  check_error([&] { read_run_checkpoint(path, "lra eval"); }, {path, "'flash', not an attention kind"});
  meta = checkpoint_metadata(cfg, AttentionKind::topk, 42, 0.5);
  meta["task"] = "image";
  write(meta);
  check_error([&] { read_run_checkpoint(path, "lra eval"); }, {path, "'image'", "'retrieval'"});
  // not safetensors at all, truncated, missing
  lra_test::write_file(dir.path / "junk.safetensors", "this is not a checkpoint");
  check_error([&] { read_run_checkpoint((dir.path / "junk.safetensors").string(), "lra eval"); }, {"junk.safetensors"});
  check_error([&] { read_run_checkpoint((dir.path / "none.safetensors").string(), "lra eval"); }, {"none.safetensors"});
}
#endif
