// Fuzzes the reader of the run configuration that every lra checkpoint stores (its "config"
// metadata entry, examples/lra/config_json.h): the input bytes are the entry's text, parsed as
// JSON as read_run_checkpoint does, then rebuilt into a RunConfig by config_from_json (every key
// present with its type, model sizes in their option's range). Only memgrad::Error may come out.
// Seeds: fuzz/corpus/lra_config/ (a stored configuration of each preset).
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "examples/lra/config_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memgrad;
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;  // lra reports a config that is not JSON before it gets here
  try {
    (void)lra::config_from_json(j, "fuzz.safetensors");
  } catch (const Error&) {
  }
  return 0;
}
