#pragma once
// Memory and time of one training step against sequence length, per attention kind: the data of
// the "memory / time vs length" figures. Each point builds the run's model (with a position table
// long enough), trains on random full-length tokens for one warm-up step and cfg.sweep_steps timed
// steps, and records the largest memory::PeakMeter peak beside the analytic estimate. Points whose
// estimate exceeds the available memory are skipped with a note, not run.
#include <cstdio>
#include <vector>

#include <memory>

#include "core/memory_trace.h"
#include "examples/lra/presets.h"
#include "examples/lra/results.h"

namespace memgrad::lra {

std::vector<SweepPoint> run_sweep(const RunConfig& cfg, const std::vector<AttentionKind>& kinds, FILE* log = stdout);

// One point (exposed for tests): `steps` timed steps after one warm-up step. packed: the batch's
// sequences packed into one row (batch.h), predicted by estimate_packed_step_memory.
SweepPoint measure_step(const ModelConfig& model, int64_t batch, int64_t seq_len, int64_t steps, uint64_t seed,
                        Device dev = Device::cpu(), bool packed = false);

// One warm-up step, then one step recorded by a memory trace labelled with the attention kind
// (core/memory_trace.h): phases forward, backward and optimizer; the batch as user tensors.
std::unique_ptr<memory::Trace> trace_step(const ModelConfig& model, int64_t batch, int64_t seq_len, uint64_t seed,
                                          Device dev = Device::cpu());

}  // namespace memgrad::lra
