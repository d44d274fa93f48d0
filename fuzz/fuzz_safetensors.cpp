// Fuzzes the safetensors reader: the input bytes are a file given to load_safetensors. When it
// loads, the tensors and metadata must survive save_safetensors + load_safetensors unchanged (the
// writer takes whatever the reader returns; a difference aborts, a finding), and the file goes to
// load_checkpoint of a tiny model with an optimizer (names, shapes and dtypes checked against
// both). Only memgrad::Error may come out. Seeds: fuzz/corpus/safetensors/.
#include <cstdlib>
#include <cstring>

#include "fuzz_util.h"
#include "nn/layers.h"
#include "nn/optim/optimizer.h"
#include "nn/serialization.h"

namespace {

using namespace memgrad;

bool same(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (auto i = a.begin(), j = b.begin(); i != a.end(); ++i, ++j) {
    const Tensor &x = i->second, &y = j->second;
    if (i->first != j->first || x.dtype() != y.dtype() || x.shape() != y.shape() || x.nbytes() != y.nbytes() ||
        (x.nbytes() > 0 && std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()) != 0))
      return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_file("input.safetensors", data, size);
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> meta;
  try {
    tensors = load_safetensors(path, &meta);
  } catch (const memgrad::Error&) {
    return 0;
  }
  const std::string copy = (fuzz::scratch_dir() / "copy.safetensors").string();
  save_safetensors(copy, tensors, meta);  // must not throw: a file the reader takes, the writer writes
  std::map<std::string, std::string> meta2;
  if (!same(load_safetensors(copy, &meta2), tensors) || meta2 != meta) std::abort();
  try {
    // A checkpoint of a Linear(2, 3) and Adam after one step holds model.weight, model.bias and the
    // optimizer's per-parameter state: the seeds include one, so mutations reach these checks.
    nn::Linear model(2, 3);
    optim::Adam opt(model.parameters());
    load_checkpoint(path, model, &opt);
  } catch (const memgrad::Error&) {
  }
  return 0;
}
