#pragma once
// The analytic peak memory of one training step (forward, backward, gradient clipping, AdamW
// step), computed from the model's shapes alone, before anything is allocated. It follows what
// memgrad's autograd keeps alive (DESIGN.md: every node frees its saved tensors once it has run):
//
//   static       parameters + AdamW's two moment buffers (live across steps) + the batch
//                (grouped-query heads narrow the k/v projections; the relative bias adds a
//                [heads, buckets] table per layer; alibi and relative drop the position table)
//   saved        what the forward leaves for backward, per layer: LayerNorm inputs and
//                statistics, the qkv projection (q, k, v are views of it), the merged heads, the
//                feed-forward activations (top-k feed-forward: the k kept values, activations and
//                int64 indices per token), dropout masks when dropout > 0; and per attention kind
//                  vanilla  the [B, H, N, N] probabilities
//                  chunked  the output O and one logsumexp per query row
//                  topk     the top-k indices (int32) and probabilities, [B, H, N, k] each
//                with checkpointed layers only each layer's input is kept, and one layer is
//                recomputed at a time in backward.
//   transient    the largest short-lived set on top of what is live at that moment, taken as the
//                largest of a few candidates: the end of the forward (everything saved and
//                the encoder output that pooling reads), the vanilla scores (two [B, H, N, N] buffers in the
//                forward, three in its backward), the gradients entering backward, the
//                feed-forward's hidden gradient (top-k: [tokens, k] plus two [chunk, ff]
//                workspaces, also counted in its forward), the chunked/topk backward's dQ, dK, dV
//                and per-thread blocks, and the optimizer step (gradients + clipping's float64 copy).
//
// With model.context_parallel the activations are those of the largest zigzag share of the
// positions over memgrad::dist's ranks, plus ring attention's blocks in flight (not yet calibrated).
//
// Calibrated against memory::PeakMeter around real steps (tests/test_lra_estimate.cpp): the
// estimate is within a few percent of the measured peak for the shipped presets. Each candidate
// belongs to a phase (forward, backward, optimizer); the per-phase peaks are checked against a
// memory trace of a real step (core/memory_trace.h), phase by phase. The top-k
// feed-forward terms are written from the layer's contract (nn/layers.h), generously (two chunk
// workspaces where the contract names one): they are meant to overestimate until measured.
#include <cstdint>
#include <string>

#include "examples/lra/dataset.h"
#include "examples/lra/model.h"

namespace memgrad::lra {

struct MemoryEstimate {
  int64_t params = 0;     // parameter bytes
  int64_t optimizer = 0;  // AdamW state (exp_avg, exp_avg_sq)
  int64_t batch = 0;      // the batch tensors
  int64_t saved = 0;      // activations saved for backward at the end of the forward
  int64_t total = 0;      // the predicted peak of a step: bytes live at once
  std::string peak_at;    // where the peak falls, e.g. "vanilla attention backward, last layer"
  // The predicted peak within each phase of the step (total is their maximum), checked against
  // a memory trace phase by phase (tests/test_lra_estimate.cpp).
  int64_t forward_peak = 0, backward_peak = 0, optimizer_peak = 0;
};

// One training step of `model` on a batch of `batch` sequences padded to `seq_len` tokens (per
// document for pair models), with `threads` OpenMP threads (the attention kernels take one
// workspace block per thread; 0: omp_get_max_threads()). Throws memgrad::Error naming the sizes
// when one is out of range (batch, seq_len, dim, heads, ff not positive, dim not divisible by
// heads, ...) or when a byte count does not fit int64: the estimate never wraps to a small or
// negative count, so a huge size is refused, never waved through.
MemoryEstimate estimate_step_memory(const ModelConfig& model, int64_t batch, int64_t seq_len, int threads = 0);
// The same for a packed batch (batch.h, lra --pack): `sequences` sequences back to back in one row
// of total_tokens tokens (per document for pair models): every activation is [1, total_tokens, *],
// vanilla's probabilities [1, H, total, total] (it attends across the whole row, masked), chunked's
// and topk's per-row terms follow total_tokens; mean pooling keeps a [sequences, total] weight matrix.
MemoryEstimate estimate_packed_step_memory(const ModelConfig& model, int64_t sequences, int64_t total_tokens,
                                           int threads = 0);

// Bytes of the examples make_task generates for `task` (tokens as int32 at the longest length,
// plus each example's own size): the data lra holds besides the model; 0 when it reads files
// (data_dir set: their size bounds it). Throws memgrad::Error when the count overflows 64 bits.
int64_t estimate_generated_data_bytes(const TaskConfig& task);

// MemAvailable in bytes (memory::system_available_bytes); -1 when it cannot be read.
int64_t available_memory_bytes();

// "12.3 MiB", "1.50 GiB".
std::string format_bytes(double bytes);

}  // namespace memgrad::lra
