#pragma once
// Training and evaluation loops of the LRA comparison program.
//
// train_kind: seeds the default generator with cfg.seed and builds the model (so every attention
// kind starts from the same weights and sees the same batches and dropout masks), then runs
// AdamW with linear warmup + cosine decay and gradient clipping. Each step runs under a
// memory::PeakMeter: the largest peak over the steps is the measured peak memory of a training
// step (parameters, optimizer state, batch, activations and transients, as the allocator saw
// them). Every eval_every steps the validation split is scored; the best model so far is saved
// as a checkpoint (model + optimizer + the run configuration, checkpoint.h) and, with
// patience > 0, training stops after that many evaluations without improvement. The test split is
// scored once, at the end, with the best checkpoint loaded back.
#include <cstdio>
#include <string>
#include <utility>

#include "examples/lra/dataset.h"
#include "examples/lra/memory_estimate.h"
#include "examples/lra/model.h"
#include "examples/lra/presets.h"
#include "examples/lra/results.h"

namespace memgrad::lra {

// cfg.model with the attention kind set (vocab, classes, max_len must already fit the data).
ModelConfig model_config(const RunConfig& cfg, AttentionKind kind);

// The checkpoint file of one kind: <out_dir>/<kind>.safetensors.
std::string checkpoint_path(const RunConfig& cfg, AttentionKind kind);

// memgrad's CPU allocator keeps freed blocks cached by size class and returns them to the system
// only on memory::empty_cache() (or when an allocation fails, which on Linux comes after the OOM
// killer). With dynamic padding every batch length brings new size classes, and a 4-layer vanilla
// run at ListOps' lengths grew the cache to 24 GB and was killed. The trainer therefore empties
// the cache between steps when the held bytes exceed this limit: twice the predicted peak (at
// least 256 MiB), lowered so that limit + peak stays within 90% of the memory available at start.
int64_t cache_limit(int64_t predicted_peak, Device d = Device::cpu());
// Empties the allocator's cache when its held bytes (live + cached) exceed `limit`; true if it did.
bool trim_cache(int64_t limit, Device d = Device::cpu());

// The examples one process trains on per step: the batch, or with --data-parallel its share
// batch / ranks (resolve_command_line checks that it divides).
int64_t rank_batch(const TrainOptions& t);
// Whether the run spans mpirun's ranks (--data-parallel or --context-parallel): rank 0 then logs
// and writes the files, the others wait for it at barriers.
bool distributed(const TrainOptions& t);

// The padded length of the largest training step: the longest training example (either document
// for pair tasks) with dynamic padding, else the dataset's max_len. Packed batches (--pack): the
// most tokens one step's row can hold, rank_batch's worth of the longest training examples.
int64_t longest_step_len(const RunConfig& cfg, const Dataset& ds);
// The memory estimate of one training step of `len` as longest_step_len counts it (padded: batch
// rows of len tokens; packed: one row of len tokens holding the sequences), for rank_batch(t) examples.
MemoryEstimate estimate_train_step(const ModelConfig& m, const TrainOptions& t, int64_t len);

KindResult train_kind(const RunConfig& cfg, const Dataset& ds, AttentionKind kind, FILE* log = stdout);

// Accuracy of the model (switched to eval mode for the call, no gradients) on a split, in batches
// padded to their longest sequence. max_examples > 0 scores only the first that many.
double evaluate(SequenceModel& model, const Dataset& ds, Split split, int64_t batch, int64_t max_examples = 0,
                Device device = Device::cpu());

// The most frequent label of the training split and how often it occurs in the test split: the
// accuracy of always answering it.
std::pair<int64_t, double> majority_baseline(const Dataset& ds);

}  // namespace memgrad::lra
