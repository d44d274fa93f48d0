#pragma once
// Run configurations of the LRA comparison program and its two presets.
//
//   demo  ListOps at short lengths with a small model: all three attention kinds train in a few
//         minutes on two cores and clearly beat the majority class.
//   lra   each task at its Long Range Arena length (ListOps 500-2000 tokens, Text 1000-4000 bytes,
//         Retrieval 4000 per document, Image / Pathfinder 1024 pixels, Path-X 16384) with a model
//         sized to learn it (see presets.cpp for the sizes and the time they take here).
//
// Command-line options override single fields after the preset has been applied.
#include <cstdint>
#include <string>
#include <vector>

#include "examples/lra/dataset.h"
#include "examples/lra/model.h"

namespace memgrad::lra {

struct TrainOptions {
  int64_t steps = 1000;
  int64_t batch = 32;
  double lr = 1e-3;
  double weight_decay = 0.01;
  double warmup_frac = 0.05;  // linear warmup over this fraction of the steps, then cosine decay
  double min_lr_frac = 0.1;   // the cosine ends at lr * min_lr_frac
  double clip = 1.0;          // global gradient-norm clipping (0: off)
  int64_t eval_every = 100;   // steps between validation passes (0: only at the end)
  int64_t patience = 0;       // early stopping after this many evaluations without improvement (0: off)
  int64_t eval_batch = 64;
  int64_t max_eval = 0;       // evaluate at most this many validation examples per pass (0: all)
  // Pad each batch to its longest sequence (true) or every batch to the dataset's max_len (false,
  // as LRA does). With dynamic padding the largest step is the batch holding the longest training
  // example, which every epoch contains: the memory prediction is made for that length.
  bool dynamic_padding = true;
  // Length bucketing with dynamic padding: batches are cut from pools of this many batches sorted
  // by length (BatchSampler::bucket_by), so a step costs about its mean length (0: off).
  int64_t bucket = 0;
  // Packed batches (batch.h, --pack): each step's sequences back to back in one row with
  // cu_seqlens, no padding and no work on it; computes what the padded batch computes.
  bool pack = false;
  // Data-parallel training (--data-parallel, under mpirun): `batch` is the global batch, each rank
  // training on its batch / ranks examples of it (nn::DataParallel averages the gradients); rank 0
  // logs and writes the files. With one process it is plain training.
  bool data_parallel = false;
  // --trace-memory: record one step (the second, once AdamW's state exists; the first of a
  // one-step run) with memory::Trace and write <out_dir>/memory_trace_<kind>.json and .trace.json;
  // the program then draws the kinds side by side in <out_dir>/memory_trace.png.
  bool trace_memory = false;
  // Context-parallel training (--context-parallel, under mpirun): every rank takes the same whole
  // batch and encodes its zigzag share of each sequence's positions (ModelConfig::context_parallel,
  // ring attention), so activations take O(N / P) memory per rank; the gradients are averaged like
  // data parallelism's (trainer.cpp says why the average is exact). Fixed-length tasks only.
  bool context_parallel = false;
};

struct RunConfig {
  std::string preset = "demo";
  TaskConfig data;     // task, lengths, sizes, seed, data_dir
  ModelConfig model;   // vocab, classes and max_len are filled from the dataset
  TrainOptions train;
  uint64_t seed = 0;   // model initialisation, dropout and batch order
  std::string out_dir;  // default results/<task>-<preset>
  // Start each kind from this run's weights: a results folder (<dir>/<kind>.safetensors) or one
  // checkpoint file; empty: a fresh initialisation (examples/lra/warm_start.h).
  std::string init_from;
  // Sequence lengths of the memory/time sweep that `compare` runs after training (empty: none).
  std::vector<int64_t> sweep_lengths;
  int64_t sweep_steps = 3;  // timed steps per (kind, length) after one warm-up step
  Device device = Device::cpu();  // where the model trains and the sweep runs (--device)
  int64_t threads = 0;            // OpenMP threads (--threads); 0: OpenMP's default
};

const std::vector<std::string>& preset_names();

// The preset for a task; throws memgrad::Error naming the valid choices on an unknown name.
RunConfig make_preset(const std::string& preset, const std::string& task);

// Fills the model's vocab, classes, max_len and pair flag from a dataset.
void fit_model_to_data(ModelConfig& m, const Dataset& ds);

}  // namespace memgrad::lra
