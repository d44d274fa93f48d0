// DataParallel (data_parallel.h): gradient buckets, their all-reduces started from grad-ready
// hooks, and the write-back of the averages.
#include "nn/data_parallel.h"

#include <algorithm>
#include <cmath>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "backends/backend.h"

namespace memgrad::nn {

namespace {

// The slot of `flat` ([n]) holding a tensor of `shape` at element `offset`, as that shape.
Tensor slot(const Tensor& flat, const Shape& shape, int64_t offset) {
  return alias(flat, shape, contiguous_strides(shape), flat.offset() + offset);
}

}  // namespace

namespace {

std::vector<Tensor> buffers_of(const Module& m) {
  std::vector<Tensor> b;
  for (auto& [name, t] : m.named_buffers()) b.push_back(t);
  return b;
}

}  // namespace

DataParallel::DataParallel(Module& model, DataParallelOptions o)
    : DataParallel(model.parameters(), buffers_of(model), o) {}

DataParallel::DataParallel(std::vector<Tensor> parameters, std::vector<Tensor> buffers, DataParallelOptions o)
    : root_(o.root) {
  MG_CHECK(o.bucket_bytes > 0, "DataParallel", "bucket_bytes must be positive, got {}", o.bucket_bytes);
  dist::init();
  MG_CHECK(o.root >= 0 && o.root < dist::world_size(), "DataParallel", "root {} is not a rank of this world of {}",
           o.root, dist::world_size());
  for (const Tensor& t : parameters) MG_CHECK(t.defined(), "DataParallel", "an undefined parameter tensor");
  {
    NoGradGuard no_grad;  // every rank starts from the root's parameters and buffers
    for (Tensor& t : parameters) dist::broadcast(t, o.root);
    for (Tensor& t : buffers) dist::broadcast(t, o.root);
  }
  for (const Tensor& p : parameters)
    if (p.requires_grad()) params_.push_back(p);
  build_buckets(o.bucket_bytes);
  filled_.assign(params_.size(), false);
  for (size_t i = 0; i < params_.size(); ++i)
    hooks_.push_back(add_grad_ready_hook(params_[i], [this, i](const Tensor& leaf) { on_ready(i, leaf); }));
}

DataParallel::~DataParallel() {
  for (int64_t h : hooks_) remove_grad_ready_hook(h);
}

void DataParallel::build_buckets(int64_t bucket_bytes) {
  bucket_of_.assign(params_.size(), 0);
  int64_t bytes = 0;
  for (size_t k = params_.size(); k-- > 0;) {  // reverse registration order
    const Tensor& p = params_[k];
    const bool fits = !buckets_.empty() && bytes < bucket_bytes &&
                      params_[buckets_.back().params.front()].dtype() == p.dtype() &&
                      params_[buckets_.back().params.front()].device() == p.device();
    if (!fits) {
      buckets_.emplace_back();
      bytes = 0;
    }
    Bucket& b = buckets_.back();
    b.offsets.push_back(b.params.empty() ? 0 : b.offsets.back() + params_[b.params.back()].numel());
    b.params.push_back(k);
    bucket_of_[k] = buckets_.size() - 1;
    bytes += static_cast<int64_t>(p.nbytes());
  }
  for (Bucket& b : buckets_) {
    const Tensor& last = params_[b.params.back()];
    b.flat = empty({b.offsets.back() + last.numel()}, last.dtype(), last.device());  // [elements]
  }
}

void DataParallel::fill(size_t index, const Tensor& grad) {
  Bucket& b = buckets_[bucket_of_[index]];
  const size_t pos = static_cast<size_t>(std::find(b.params.begin(), b.params.end(), index) - b.params.begin());
  Tensor dst = slot(b.flat, params_[index].shape(), b.offsets[pos]);
  Backend& be = backend_for(dst.device());
  if (grad.defined()) be.copy(grad, dst);
  else be.fill(dst, 0.0);
  filled_[index] = true;
  ++b.ready;
}

void DataParallel::on_ready(size_t index, const Tensor& leaf) {
  if (!sync_) return;
  MG_CHECK(!filled_[index], "DataParallel",
           "a second backward pass reached parameter {} before synchronize(); call synchronize() after each "
           "backward, or set_gradient_sync(false) for accumulation passes",
           index);
  fill(index, leaf.grad());
  launch_full_buckets();
}

// Starts the all-reduce of each full bucket, in bucket order, and polls those in flight.
void DataParallel::launch_full_buckets() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].ready == buckets_[next_launch_].params.size()) {
    Bucket& b = buckets_[next_launch_++];
    b.reduction = dist::all_reduce_async(b.flat, dist::Reduce::mean);
    b.launched = true;
  }
  for (size_t i = 0; i < next_launch_; ++i) buckets_[i].reduction.test();  // lets MPI progress them
}

void DataParallel::synchronize() {
  // Which parameters have a gradient on some rank: one without it anywhere keeps none, as it would
  // in one process (the optimizer then leaves it alone); the others average with zeros where absent.
  std::vector<int32_t> has(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    has[i] = params_[i].grad().defined();
    if (!filled_[i]) fill(i, params_[i].grad());  // not reached by this pass: its gradient so far, or zeros
  }
  launch_full_buckets();
  Tensor any = from_vector(has, {static_cast<int64_t>(has.size())});  // [params], after the buckets on every rank
  dist::Request any_req = dist::all_reduce_async(any, dist::Reduce::max);
  NoGradGuard no_grad;
  any_req.wait();
  const std::vector<int32_t> anywhere = any.to_vector<int32_t>();
  for (Bucket& b : buckets_) {
    b.reduction.wait();
    for (size_t j = 0; j < b.params.size(); ++j) {
      if (!anywhere[b.params[j]]) continue;
      Tensor& p = params_[b.params[j]];
      const Tensor avg = slot(b.flat, p.shape(), b.offsets[j]);
      Tensor g = p.grad();
      if (g.defined() && g.is_contiguous() && g.shape() == p.shape() && g.dtype() == p.dtype())
        backend_for(g.device()).copy(avg, g);
      else
        p.set_grad(clone(avg));
    }
  }
  reset();
}

void DataParallel::reset() {
  for (Bucket& b : buckets_) {
    b.ready = 0;
    b.launched = false;
  }
  std::fill(filled_.begin(), filled_.end(), false);
  next_launch_ = 0;
}

double DataParallel::max_parameter_divergence() const {
  NoGradGuard no_grad;
  double worst = 0;
  for (const Tensor& p : params_) {
    Tensor mine = to(contiguous(p), DType::float64);
    Tensor theirs = clone(mine);
    dist::broadcast(theirs, root_);
    const std::vector<double> a = mine.to_vector<double>(), b = theirs.to_vector<double>();
    for (size_t e = 0; e < a.size(); ++e) worst = std::max(worst, std::abs(a[e] - b[e]));
  }
  Tensor w = from_vector(std::vector<double>{worst}, {1});
  dist::all_reduce(w, dist::Reduce::max);
  return w.to_vector<double>()[0];
}

int64_t DataParallel::bytes_per_step() const {
  int64_t n = 0;
  for (const Bucket& b : buckets_) n += static_cast<int64_t>(b.flat.nbytes());
  return n;
}

}  // namespace memgrad::nn
