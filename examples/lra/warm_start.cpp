#include "examples/lra/warm_start.h"

#include "examples/lra/checkpoint.h"

namespace memgrad::lra {

namespace {
constexpr const char* kOp = "lra --init-from";
}

void warm_start(nn::Module& model, const std::string& path) {
  load_weights(model, read_checkpoint_weights(path, kOp), kOp, PositionRows::may_be_fewer);
}

std::string warm_start_path(const std::string& from, const std::string& kind) {
  return checkpoint_file(from, kind, kOp);
}

}  // namespace memgrad::lra
