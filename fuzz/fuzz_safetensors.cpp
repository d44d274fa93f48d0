// Fuzzes the safetensors reader: the input bytes are a file given to load_safetensors, and then,
// when it loads, to load_checkpoint of a tiny model with an optimizer (names, shapes and dtypes
// checked against both). Only memgrad::Error may come out. Seeds: fuzz/corpus/safetensors/.
#include "fuzz_util.h"
#include "nn/layers.h"
#include "nn/optim/optimizer.h"
#include "nn/serialization.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memgrad;
  const std::string path = fuzz::write_file("input.safetensors", data, size);
  try {
    std::map<std::string, std::string> meta;
    auto tensors = load_safetensors(path, &meta);
    // A checkpoint of a Linear(2, 3) and Adam after one step holds model.weight, model.bias and the
    // optimizer's per-parameter state: the seeds include one, so mutations reach these checks.
    nn::Linear model(2, 3);
    optim::Adam opt(model.parameters());
    load_checkpoint(path, model, &opt);
  } catch (const memgrad::Error&) {
  }
  return 0;
}
