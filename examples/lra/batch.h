#pragma once
// Batches as memgrad tensors, and a seeded shuffler of example indices.
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "examples/lra/dataset.h"

namespace memgrad::lra {

// Padded: B sequences in rows of one length. Packed (cu_seqlens defined): the B sequences back to
// back in one row, tokens [1, total], no padding; sequence s is tokens[cu_seqlens[s], cu_seqlens[s+1]).
struct Batch {
  Tensor tokens;    // int32 [B, L], padded with 0 (kPad); packed: [1, total]
  Tensor lengths;   // int64 [B], tokens before the padding (packed: each sequence's length)
  Tensor labels;    // int64 [B]
  Tensor tokens2;   // pair tasks only (undefined otherwise): the second documents, int32 [B, L2]
  Tensor lengths2;  // pair tasks only: int64 [B]
  Tensor cu_seqlens, cu_seqlens2;  // packed only: int64 [B + 1] offsets (on the CPU, whatever the device)
  bool packed() const { return cu_seqlens.defined(); }
  int64_t sequences() const { return labels.numel(); }
};

// The examples `indices` of a split. L is the longest example in the batch, or ds.max_len when
// fixed_len. Throws memgrad::Error on an empty or out-of-range index list.
Batch make_batch(const Dataset& ds, Split split, const std::vector<int64_t>& indices, bool fixed_len = false);
// The same examples packed (Batch's packed layout): no padding at all, attention sees each
// sequence alone (cu_seqlens), so a model computes what it computes on the padded batch.
Batch make_packed_batch(const Dataset& ds, Split split, const std::vector<int64_t>& indices);
// The batch's tensors on device d (the batch itself when d is the CPU).
Batch to_device(const Batch& b, Device d);

// Epochs of index batches over n examples: a seeded permutation per epoch (the same for the same
// (seed, epoch) on any run), or 0..n-1 in order when shuffle is false. The last batch is smaller
// unless drop_last.
//
// Length bucketing (bucket_by): the shuffled order is cut into pools of pool_batches batches, each
// pool is sorted by length and cut into batches, and all batches are shuffled again. A batch then
// holds examples of similar length, so padding to its longest wastes little: a step's cost
// follows the mean length instead of the longest of a random batch. Still seeded per epoch.
class BatchSampler {
 public:
  BatchSampler(int64_t n, int64_t batch_size, uint64_t seed, bool shuffle = true, bool drop_last = false);
  // lengths[i]: the length of example i (n of them); pool_batches >= 1 (1 = no effect on batching).
  void bucket_by(std::vector<int64_t> lengths, int64_t pool_batches);
  std::vector<std::vector<int64_t>> epoch(int64_t e) const;
  std::vector<std::vector<int64_t>> next_epoch() { return epoch(next_++); }
  int64_t batches_per_epoch() const;

 private:
  int64_t n_, batch_size_;
  uint64_t seed_;
  bool shuffle_, drop_last_;
  int64_t next_ = 0;
  std::vector<int64_t> lengths_;  // empty: no bucketing
  int64_t pool_batches_ = 0;
};

}  // namespace memgrad::lra
