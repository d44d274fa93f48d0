#include "examples/lra/warm_start.h"

#include <filesystem>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "nn/serialization.h"

namespace memgrad::lra {

void warm_start(nn::Module& model, const std::string& path) {
  const std::map<std::string, Tensor> file = load_safetensors(path);
  const std::map<std::string, Tensor> mine = model.state_dict();
  std::map<std::string, Tensor> state;
  for (const auto& [key, t] : file)
    if (key.rfind("model.", 0) == 0) state[key.substr(6)] = t;
  MG_CHECK(!state.empty(), "lra --init-from", "{} holds no model weights (no \"model.*\" tensors)", path);

  const auto table = state.find("pos.table");
  const auto own = mine.find("pos.table");
  if (table != state.end() && own != mine.end()) {
    const Tensor& old = table->second;  // [P_old, D]
    const Tensor& now = own->second;    // [P, D]
    MG_CHECK(old.dim() == 2 && old.size(1) == now.size(1) && old.size(0) <= now.size(0) && old.dtype() == now.dtype(),
             "lra --init-from", "{}: pos.table {} does not fit the model's {} (needs as many or fewer positions of "
             "the same width)", path, str(old.shape()), str(now.shape()));
    if (old.size(0) < now.size(0)) {
      NoGradGuard ng;
      Tensor rest = to(narrow(now, 0, old.size(0), now.size(0) - old.size(0)), Device::cpu());  // [P - P_old, D]
      table->second = cat({old, rest}, 0);                                                       // [P, D]
    }
  }
  try {
    model.load_state_dict(state, /*strict=*/true);
  } catch (const Error& e) {
    fail("lra --init-from", "{} does not fit this model: {}", path, e.what());
  }
}

std::string warm_start_path(const std::string& from, const std::string& kind) {
  namespace fs = std::filesystem;
  MG_CHECK(fs::exists(from), "lra --init-from", "{} does not exist", from);
  if (!fs::is_directory(from)) return from;
  const fs::path file = fs::path(from) / (kind + ".safetensors");
  MG_CHECK(fs::exists(file), "lra --init-from", "{} has no checkpoint for {} ({} is missing)", from, kind,
           file.string());
  return file.string();
}

}  // namespace memgrad::lra
