#pragma once
// lra eval: a trained model evaluated on its test split with other attention kinds and top-k
// settings, without retraining (the zero-shot swap of Gupta et al. 2021, "Memory-efficient
// Transformers via Top-k Attention": a model trained with vanilla attention evaluated with top-k
// attention and top-k feed-forward layers).
//
// The model and the data come from the checkpoint alone (checkpoint.h: its weights and its stored
// run configuration): the model is rebuilt from the configuration, the weights loaded with the
// checks of load_weights (names, shapes, dtypes, finite values), and the test split regenerated
// from the stored task and data seed, or read from --data-dir. Each setting is then applied by
// changing options of the loaded model (set_inference_options, model.h), never by building another.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "autograd/attention.h"
#include "core/device.h"

namespace memgrad::lra {

// One value of --top-k / --ff-top-k: a number, or "all" (attention: as many keys as the longest
// sequence the model takes, i.e. vanilla's result; feed-forward: the dense layer).
struct TopKValue {
  int64_t k = 0;
  bool all = false;
  bool operator==(const TopKValue&) const = default;
};

// What `lra eval` is asked to do (resolve_eval_command_line, eval_options.h, checks the options).
struct EvalRequest {
  std::string from;                     // a results folder or one checkpoint file
  std::vector<AttentionKind> trained;   // a folder's trained kinds to load (empty: every kind of its results.json)
  std::vector<AttentionKind> kinds = {AttentionKind::vanilla, AttentionKind::chunked, AttentionKind::topk};
  std::vector<TopKValue> top_k;         // topk attention's keys per query (empty: the trained value)
  std::vector<TopKValue> ff_top_k;      // feed-forward top-k, 0 = dense, "all" resolved to 0 (empty: the trained value)
  std::optional<int64_t> ff_chunk;      // tokens per chunk of the top-k feed-forward (unset: the trained value)
  int64_t batch = 0;                    // sequences per evaluation batch (0: the stored eval batch)
  int64_t max_eval = 0;                 // test examples scored (0: all)
  int64_t threads = 0;                  // OpenMP threads (0: OpenMP's default)
  Device device = Device::cpu();
  std::optional<std::string> data_dir;  // read the official files here instead of the stored data source
  std::string out_dir;                  // where eval.json goes (resolved: the folder, or the file's folder)
};

// One evaluated setting of one checkpoint.
struct EvalRow {
  std::string trained;            // the kind the model was trained with
  std::string kind;               // the attention kind it is evaluated with
  std::optional<int64_t> top_k;   // topk attention's k (unset for the other kinds)
  bool top_k_all = false;         // k given as "all" (k is then the longest sequence)
  int64_t ff_top_k = 0;           // 0: dense feed-forward
  double test_acc = 0;
  int64_t examples = 0;
  double seconds = 0;
  int64_t peak_bytes = 0;  // memory::PeakMeter over the evaluation: the model's weights + activations and transients
};

// One checkpoint evaluated: where it came from and how it was trained.
struct EvalSource {
  std::string checkpoint, trained, step, val_acc;
  std::string config_json;      // the stored run configuration
  int64_t trained_top_k = 0;    // its attention top_k (used when trained = topk)
  int64_t trained_ff_top_k = 0;
  int64_t ff_hidden = 0;
  int64_t positions = 0;        // the longest sequence the encoder takes (top-k "all")
  double trained_acc = 0;       // test accuracy with the trained setting: the reference of the rows
};

struct EvalReport {
  std::string command, machine, started, from;
  double wall_seconds = 0;
  std::string task, preset;
  int64_t test_examples = 0, batch = 0;
  double majority_rate = 0;
  int64_t majority_class = 0;
  std::vector<EvalSource> sources;
  std::vector<EvalRow> rows;
};

// The checkpoint files `req.from` names: itself when it is a file; in a folder
// <from>/<kind>.safetensors for each of req.trained, or else for each kind its results.json lists.
// Errors (memgrad::Error naming the path): a missing path, a folder without results.json when no
// kind is named, a results.json that is not lra's, a kind without its checkpoint.
std::vector<std::string> eval_checkpoints(const EvalRequest& req);

// Evaluates every checkpoint of `req` with every setting (kinds x top_k for topk x ff_top_k), one
// line per row on `log`. Fills everything but command, machine, started and wall_seconds.
EvalReport run_eval(const EvalRequest& req, FILE* log = stdout);

}  // namespace memgrad::lra
