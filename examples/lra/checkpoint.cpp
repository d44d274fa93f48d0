// Reading and checking lra's checkpoints (checkpoint.h).
#include "examples/lra/checkpoint.h"

#include <fmt/format.h>

#include <filesystem>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "examples/lra/config_json.h"
#include "nn/serialization.h"

namespace memgrad::lra {

namespace {

// "[120, 16] float64": what a message shows of a tensor.
std::string shape_and_dtype(const Tensor& t) { return fmt::format("{} {}", str(t.shape()), to_string(t.dtype())); }

// Every model tensor is in the file with its shape and dtype (pos.table: as `rows` says), no file
// tensor is unknown to the model, and every value is finite. Throws naming the file and the tensor
// ("model.<name>", the key in the file) with both shapes and dtypes.
void check_fits(const std::map<std::string, Tensor>& state, const std::map<std::string, Tensor>& mine,
                const std::string& path, const char* op, PositionRows rows) {
  for (const auto& [name, own] : mine) {
    const auto it = state.find(name);
    MG_CHECK(it != state.end(), op, "{} does not fit this model: it has no tensor 'model.{}' (the model's is {})", path,
             name, shape_and_dtype(own));
    const Tensor& t = it->second;
    const bool table = name == "pos.table" && rows == PositionRows::may_be_fewer;
    const bool fits = t.dtype() == own.dtype() && t.dim() == own.dim() &&
                      (table ? t.dim() == 2 && t.size(1) == own.size(1) && t.size(0) <= own.size(0)
                             : t.shape() == own.shape());
    MG_CHECK(fits, op, "{} does not fit this model: tensor 'model.{}' is {} in the file, but {} in the model{}", path,
             name, shape_and_dtype(t), shape_and_dtype(own),
             table ? " (the position table may have fewer rows, of the same width and dtype)" : "");
  }
  for (const auto& [name, t] : state)
    MG_CHECK(mine.count(name), op, "{} does not fit this model: its tensor 'model.{}' ({}) is not in the model", path,
             escape_bytes(name), shape_and_dtype(t));
  for (const auto& [name, t] : state)
    MG_CHECK(!is_floating(t.dtype()) || all_finite(t), op,
             "{}: tensor 'model.{}' holds NaN or infinite values; the weights cannot be used", path, name);
}

}  // namespace

std::map<std::string, std::string> checkpoint_metadata(const RunConfig& cfg, AttentionKind kind, int64_t step,
                                                       double val_acc) {
  return {{"kind", to_string(kind)},
          {"task", cfg.data.task},
          {"step", std::to_string(step)},
          {"val_acc", fmt::format("{:.6f}", val_acc)},
          {"seed", std::to_string(cfg.seed)},
          {"config", config_to_json(cfg).dump()}};
}

CheckpointWeights read_checkpoint_weights(const std::string& path, const char* op) {
  CheckpointWeights w;
  w.path = path;
  for (auto& [key, t] : load_safetensors(path, &w.metadata))
    if (key.rfind("model.", 0) == 0) w.tensors[key.substr(6)] = t;
  MG_CHECK(!w.tensors.empty(), op, "{} holds no model weights (no \"model.*\" tensors)", path);
  return w;
}

void load_weights(nn::Module& model, CheckpointWeights w, const char* op, PositionRows rows) {
  const std::map<std::string, Tensor> mine = model.state_dict();
  std::map<std::string, Tensor>& state = w.tensors;
  check_fits(state, mine, w.path, op, rows);

  const auto table = state.find("pos.table");
  const auto own = mine.find("pos.table");
  if (table != state.end() && own != mine.end() && table->second.size(0) < own->second.size(0)) {
    const Tensor& old = table->second;  // [P_old, D]
    const Tensor& now = own->second;    // [P, D]
    NoGradGuard ng;
    Tensor rest = to(narrow(now, 0, old.size(0), now.size(0) - old.size(0)), Device::cpu());  // [P - P_old, D]
    table->second = cat({old, rest}, 0);                                                       // [P, D]
  }
  try {
    model.load_state_dict(state, /*strict=*/true);
  } catch (const Error& e) {
    fail(op, "{} does not fit this model: {}", w.path, e.what());
  }
}

RunCheckpoint read_run_checkpoint(const std::string& path, const char* op) {
  RunCheckpoint c;
  try {
    c.weights = read_checkpoint_weights(path, op);
  } catch (const Error& e) {
    fail(op, "{} cannot be read as a checkpoint written by lra: {}", path, e.what());
  }
  const auto& meta = c.weights.metadata;
  auto entry = [&](const char* key) -> const std::string* {
    const auto it = meta.find(key);
    return it == meta.end() ? nullptr : &it->second;
  };
  MG_CHECK(entry("kind") && entry("task"), op,
           "{} is not a checkpoint written by lra: its metadata has no \"kind\" and \"task\" entries", path);
  const std::string* config = entry("config");
  MG_CHECK(config, op,
           "{} has no stored run configuration (metadata \"config\"): it was written by an lra that did not store "
           "one; retrain it with this lra",
           path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(*config);
  } catch (const nlohmann::json::exception& e) {
    fail(op, "{}: the stored run configuration (metadata \"config\") is not valid JSON: {}", path, e.what());
  }
  c.cfg = config_from_json(j, path);
  c.cfg.out_dir = std::filesystem::path(path).parent_path().string();
  try {
    c.kind = parse_attention_kind(*entry("kind"));
  } catch (const Error&) {
    fail(op, "{}: metadata \"kind\" is '{}', not an attention kind", path, escape_bytes(*entry("kind"), 40));
  }
  MG_CHECK(*entry("task") == c.cfg.data.task, op,
           "{}: metadata \"task\" is '{}' but the stored configuration's is '{}'", path, escape_bytes(*entry("task"), 40), c.cfg.data.task);
  c.step = entry("step") ? *entry("step") : "";
  c.val_acc = entry("val_acc") ? *entry("val_acc") : "";
  return c;
}

std::string checkpoint_file(const std::string& from, const std::string& kind, const char* op) {
  namespace fs = std::filesystem;
  MG_CHECK(fs::exists(from), op, "{} does not exist", from);
  if (!fs::is_directory(from)) return from;
  const fs::path file = fs::path(from) / (kind + ".safetensors");
  MG_CHECK(fs::exists(file), op, "{} has no checkpoint for {} ({} is missing)", from, kind, file.string());
  return file.string();
}

}  // namespace memgrad::lra
