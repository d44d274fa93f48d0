#pragma once
// lra's checkpoints, <out_dir>/<kind>.safetensors: a memgrad checkpoint (nn/serialization.h) of
// the model ("model.<name>") and its AdamW state ("optim.<name>") at the best validation step,
// whose metadata says what it is:
//
//   kind     the attention kind it was trained with ("vanilla", "chunked", "topk")
//   task     the task ("listops", ...)
//   step     the step of the saved model
//   val_acc  its validation accuracy
//   seed     the run's seed
//   config   the resolved run configuration as JSON (config_json.h, the same as results.json's
//            "config"): the model's shapes and options and the data (task, sizes, lengths, data
//            seed, data folder), so that the file alone rebuilds the model and its test split.
//
// Reading one is shared by --init-from (warm_start.h) and lra eval (eval.h): the tensors are
// checked against the model by name, shape and dtype, and NaN or infinite weights are refused,
// before the model is changed.
#include <map>
#include <string>

#include "autograd/attention.h"
#include "core/tensor.h"
#include "examples/lra/presets.h"
#include "nn/module.h"

namespace memgrad::lra {

// The metadata above, for a checkpoint of `kind` trained under `cfg` (vocab, classes, max_len set).
std::map<std::string, std::string> checkpoint_metadata(const RunConfig& cfg, AttentionKind kind, int64_t step,
                                                       double val_acc);

// The model weights of a checkpoint file: its "model.<name>" tensors by <name>, and its metadata.
struct CheckpointWeights {
  std::string path;
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

// Reads a safetensors file (with load_safetensors' checks: a truncated or foreign file is an
// error naming it); an Error naming `op` and the file when it holds no "model.*" tensor.
CheckpointWeights read_checkpoint_weights(const std::string& path, const char* op);

// How the learned position table ("pos.table") must match: with the same shape as every other
// tensor, or (a warm start from a run at shorter lengths) with as many or fewer rows, which then
// replace the model's first rows while later rows keep their values.
enum class PositionRows { same, may_be_fewer };

// Loads w's tensors into `model`. Every model tensor must be in the file with its shape and dtype
// (the position table as `rows` says), no file tensor may be unknown to the model, and every value
// must be finite. Otherwise an Error naming `op`, the file, the tensor ('model.<name>', the key in
// the file) and both shapes and dtypes, and the model is left unchanged.
void load_weights(nn::Module& model, CheckpointWeights w, const char* op, PositionRows rows);

// A checkpoint lra wrote, and what its metadata says of the run.
struct RunCheckpoint {
  CheckpointWeights weights;
  AttentionKind kind = AttentionKind::chunked;  // the kind it was trained with
  RunConfig cfg;                                // the stored configuration (cfg.out_dir: the file's folder)
  std::string step, val_acc;                    // as stored
};

// Reads a checkpoint file and its stored configuration. Errors naming `op` and the file: the
// file's own (missing, truncated, not safetensors), no "kind"/"task" metadata (not a checkpoint lra
// wrote), no "config" (written by an lra that did not store it), a config that is not JSON or
// lacks a key or has one malformed (config_from_json names the key), a kind that is not one, a
// task that differs from the config's. The weights are not checked against the model here
// (load_weights does that).
RunCheckpoint read_run_checkpoint(const std::string& path, const char* op);

// The checkpoint file for one kind: `from` itself when it is a file, else <from>/<kind>.safetensors
// (the files an lra run writes into its results folder). Errors naming `op`: `from` does not exist,
// or the folder has no checkpoint for that kind.
std::string checkpoint_file(const std::string& from, const std::string& kind, const char* op);

}  // namespace memgrad::lra
