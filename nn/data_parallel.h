#pragma once
// Data-parallel training over memgrad::dist (dist/dist.h): every rank holds the whole model and
// trains on its shard of each batch; before each optimizer step the gradients are averaged over
// the ranks, so every rank takes the same step and the parameters stay equal.
//
//   nn::DataParallel dp(model);            // broadcasts rank 0's parameters and buffers
//   loss = cross_entropy(model.forward(x_shard), y_shard);   // the mean over this rank's shard
//   loss.backward();                        // buckets start their all-reduce as their grads are final
//   dp.synchronize();                       // waits, writes the averaged .grad
//   opt.step();
//
// Averaging equals the gradient of the mean loss over the combined batch when every rank's loss
// is the mean over an equal share of it (DistributedSampler-style sharding; examples/lra does so).
//
// Buckets: the parameters in reverse registration order (roughly the order backward finishes
// them), grouped into flat buffers of about bucket_bytes of one dtype and device. A grad-ready
// hook (autograd/engine.h) copies each gradient into its bucket as soon as backward has finished
// it; a full bucket starts a nonblocking all-reduce, in bucket order on every rank (MPI needs the
// same order everywhere), while backward goes on. Later hooks poll the pending reductions, which
// is what lets MPI progress them. Parameters the pass never reached count as zero gradients.
// Contract: every rank runs the same graph (the same parameters reached, in the same order).
#include <cstdint>
#include <vector>

#include "dist/dist.h"
#include "nn/module.h"

namespace memgrad::nn {

struct DataParallelOptions {
  int64_t bucket_bytes = int64_t{1} << 20;
  int root = 0;  // whose parameters every rank starts from
};

class DataParallel {
 public:
  explicit DataParallel(Module& model, DataParallelOptions o = {});
  // The same over explicit tensors (Python's modules, or part of a model): the parameters whose
  // gradients are averaged, and buffers that are only broadcast from the root.
  DataParallel(std::vector<Tensor> parameters, std::vector<Tensor> buffers, DataParallelOptions o = {});
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  // Waits for every bucket's all-reduce and writes the averaged gradients into the parameters'
  // .grad. Call once after each backward, before the optimizer step.
  void synchronize();
  // Off: backward passes only accumulate locally (gradient accumulation over micro-batches); the
  // pass after turning it back on reduces the sum. Default on.
  void set_gradient_sync(bool on) { sync_ = on; }

  // The largest |p - p_root| over every parameter and rank: 0 while the ranks are in step.
  double max_parameter_divergence() const;
  int64_t num_buckets() const { return static_cast<int64_t>(buckets_.size()); }
  // Gradient bytes each rank all-reduces per step (the payload; MPI's ring moves about twice it).
  int64_t bytes_per_step() const;

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    std::vector<int64_t> offsets;
    Tensor flat;  // [elements] of the bucket's dtype and device
    size_t ready = 0;
    dist::Request reduction;
    bool launched = false;
  };
  void build_buckets(int64_t bucket_bytes);
  void on_ready(size_t index, const Tensor& leaf);
  void fill(size_t index, const Tensor& grad);  // the param's slot of its bucket = grad (zeros if undefined)
  void launch_full_buckets();
  void reset();

  std::vector<Tensor> params_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;
  std::vector<bool> filled_;
  std::vector<int64_t> hooks_;
  size_t next_launch_ = 0;
  bool sync_ = true;
  int root_ = 0;
};

}  // namespace memgrad::nn
