#include "examples/lra/warm_start.h"

#include <filesystem>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "nn/serialization.h"

namespace memgrad::lra {

namespace {

constexpr const char* kOp = "lra --init-from";

// "[120, 16] float64": what a message shows of a tensor.
std::string shape_and_dtype(const Tensor& t) { return fmt::format("{} {}", str(t.shape()), to_string(t.dtype())); }

// Every model tensor is in the file with its shape and dtype (pos.table: as many or fewer rows),
// no file tensor is unknown to the model, and every value is finite. Throws naming the file and
// the tensor ("model.<name>", the key in the file) with both shapes and dtypes.
void check_fits(const std::map<std::string, Tensor>& state, const std::map<std::string, Tensor>& mine,
                const std::string& path) {
  for (const auto& [name, own] : mine) {
    const auto it = state.find(name);
    MG_CHECK(it != state.end(), kOp, "{} does not fit this model: it has no tensor 'model.{}' (the model's is {})",
             path, name, shape_and_dtype(own));
    const Tensor& t = it->second;
    const bool table = name == "pos.table";  // a shorter run's table fills the first rows
    const bool fits = t.dtype() == own.dtype() && t.dim() == own.dim() &&
                      (table ? t.dim() == 2 && t.size(1) == own.size(1) && t.size(0) <= own.size(0)
                             : t.shape() == own.shape());
    MG_CHECK(fits, kOp, "{} does not fit this model: tensor 'model.{}' is {} in the file, but {} in the model{}", path, name,
             shape_and_dtype(t), shape_and_dtype(own),
             table ? " (the position table may have fewer rows, of the same width and dtype)" : "");
  }
  for (const auto& [name, t] : state)
    MG_CHECK(mine.count(name), kOp, "{} does not fit this model: its tensor 'model.{}' ({}) is not in the model", path,
             name, shape_and_dtype(t));
  for (const auto& [name, t] : state)
    MG_CHECK(!is_floating(t.dtype()) || all_finite(t), kOp,
             "{}: tensor 'model.{}' holds NaN or infinite values; the weights cannot be used", path, name);
}

}  // namespace

void warm_start(nn::Module& model, const std::string& path) {
  const std::map<std::string, Tensor> file = load_safetensors(path);
  const std::map<std::string, Tensor> mine = model.state_dict();
  std::map<std::string, Tensor> state;
  for (const auto& [key, t] : file)
    if (key.rfind("model.", 0) == 0) state[key.substr(6)] = t;
  MG_CHECK(!state.empty(), kOp, "{} holds no model weights (no \"model.*\" tensors)", path);
  check_fits(state, mine, path);

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
    fail(kOp, "{} does not fit this model: {}", path, e.what());
  }
}

std::string warm_start_path(const std::string& from, const std::string& kind) {
  namespace fs = std::filesystem;
  MG_CHECK(fs::exists(from), kOp, "{} does not exist", from);
  if (!fs::is_directory(from)) return from;
  const fs::path file = fs::path(from) / (kind + ".safetensors");
  MG_CHECK(fs::exists(file), kOp, "{} has no checkpoint for {} ({} is missing)", from, kind, file.string());
  return file.string();
}

}  // namespace memgrad::lra
