#pragma once
// The resolved run configuration as JSON, and back: results.json's "config" and the "config"
// metadata entry of every checkpoint lra writes (examples/lra/checkpoint.h), so that a checkpoint
// file alone rebuilds its model and regenerates its data split (lra eval).
#include <string>

#include <nlohmann/json.hpp>

#include "examples/lra/presets.h"

namespace memgrad::lra {

nlohmann::json config_to_json(const RunConfig& cfg);

// The inverse of config_to_json for every field it writes (device, threads and out_dir are not
// stored: they belong to the command that runs, not to the trained model). Every key must be
// present with a value of its type; model sizes must lie in the range of the option that sets
// them (--dim, --heads, ..., options.h) and dim be divisible by heads. Anything else is an Error
// naming `source` (the file the JSON came from) and the key ("model.dim").
RunConfig config_from_json(const nlohmann::json& j, const std::string& source);

}  // namespace memgrad::lra
