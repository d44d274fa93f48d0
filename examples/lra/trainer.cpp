#include "examples/lra/trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <numeric>
#include <optional>

#include "autograd/ops.h"
#include "core/allocator.h"
#include "core/phase.h"
#include "dist/dist.h"
#include "examples/lra/batch.h"
#include "examples/lra/checkpoint.h"
#include "examples/lra/memory_estimate.h"
#include "examples/lra/memory_trace_files.h"
#include "examples/lra/progress.h"
#include "examples/lra/rng.h"
#include "examples/lra/warm_start.h"
#include "nn/data_parallel.h"
#include "nn/loss.h"
#include "nn/optim/adam.h"
#include "nn/optim/clip.h"
#include "nn/optim/schedule.h"
#include "nn/serialization.h"

namespace memgrad::lra {

ModelConfig model_config(const RunConfig& cfg, AttentionKind kind) {
  ModelConfig m = cfg.model;
  m.encoder.attention.kind = kind;
  return m;
}

std::string checkpoint_path(const RunConfig& cfg, AttentionKind kind) {
  return (std::filesystem::path(cfg.out_dir) / (to_string(kind) + ".safetensors")).string();
}

int64_t cache_limit(int64_t predicted_peak, Device d) {
  int64_t limit = std::max<int64_t>(2 * predicted_peak, int64_t{256} << 20);
  const int64_t available = d.is_cpu() ? available_memory_bytes() : 0;  // a GPU: no host-memory bound
  if (available > 0) limit = std::min(limit, std::max<int64_t>(0, available * 9 / 10 - predicted_peak));
  return limit;
}

bool trim_cache(int64_t limit, Device d) {
  if (memory::stats(d).reserved <= limit) return false;
  memory::empty_cache(d);
  return true;
}

int64_t rank_batch(const TrainOptions& t) { return t.data_parallel ? t.batch / dist::world_size() : t.batch; }

bool distributed(const TrainOptions& t) { return t.data_parallel || t.context_parallel; }

int64_t longest_step_len(const RunConfig& cfg, const Dataset& ds) {
  if (cfg.train.pack) {
    std::vector<int64_t> lengths;
    for (const auto& ex : ds.train) lengths.push_back(static_cast<int64_t>(std::max(ex.tokens.size(), ex.tokens2.size())));
    const size_t n = std::min(lengths.size(), static_cast<size_t>(std::max<int64_t>(rank_batch(cfg.train), 0)));
    std::partial_sort(lengths.begin(), lengths.begin() + static_cast<std::ptrdiff_t>(n), lengths.end(), std::greater<>());
    return std::max<int64_t>(1, std::accumulate(lengths.begin(), lengths.begin() + static_cast<std::ptrdiff_t>(n), int64_t{0}));
  }
  if (!cfg.train.dynamic_padding) return ds.max_len;
  size_t longest = 1;
  for (const auto& ex : ds.train) longest = std::max({longest, ex.tokens.size(), ex.tokens2.size()});
  return static_cast<int64_t>(longest);
}

MemoryEstimate estimate_train_step(const ModelConfig& m, const TrainOptions& t, int64_t len) {
  if (t.pack) return estimate_packed_step_memory(m, rank_batch(t), len);
  ModelConfig mr = m;
  mr.context_parallel = t.context_parallel;  // this rank's share of the positions, and the ring's blocks
  return estimate_step_memory(mr, rank_batch(t), len);
}

double evaluate(SequenceModel& model, const Dataset& ds, Split split, int64_t batch, int64_t max_examples,
                Device device) {
  const auto& examples = ds.split(split);
  int64_t n = static_cast<int64_t>(examples.size());
  if (max_examples > 0) n = std::min(n, max_examples);
  if (n == 0) return kNoValue;
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  double correct = 0;
  for (int64_t i = 0; i < n; i += batch) {
    std::vector<int64_t> idx(static_cast<size_t>(std::min(batch, n - i)));
    std::iota(idx.begin(), idx.end(), i);
    Batch b = to_device(make_batch(ds, split, idx), device);
    correct += nn::accuracy(model.forward(b), b.labels) * static_cast<double>(idx.size());
  }
  model.train(was_training);
  return correct / static_cast<double>(n);
}

std::pair<int64_t, double> majority_baseline(const Dataset& ds) {
  std::map<int64_t, int64_t> counts;
  for (const auto& ex : ds.train) ++counts[ex.label];
  int64_t best = 0, best_count = -1;
  for (auto [label, c] : counts)
    if (c > best_count) best = label, best_count = c;
  if (ds.test.empty()) return {best, kNoValue};
  int64_t hits = 0;
  for (const auto& ex : ds.test) hits += ex.label == best;
  return {best, static_cast<double>(hits) / static_cast<double>(ds.test.size())};
}

namespace {

using Clock = std::chrono::steady_clock;

// Running means of the loss and batch accuracy since the last curve point.
struct Accum {
  double loss = 0, acc = 0;
  int64_t n = 0;
  void add(double l, double a) { loss += l, acc += a, ++n; }
};

// This process's examples of the global batch `idx`: all of them, or with data parallelism its
// contiguous share (every rank draws the same batches from the same seed).
std::vector<int64_t> rank_share(const std::vector<int64_t>& idx, const TrainOptions& t) {
  if (!t.data_parallel) return idx;
  const int64_t n = rank_batch(t), r = dist::rank();
  return {idx.begin() + r * n, idx.begin() + (r + 1) * n};
}

struct StepOutcome {
  double loss = 0, acc = 0;  // over the global batch (averaged over the ranks; context parallel: every rank's)
  int64_t seq_len = 0, peak = 0;
  double tokens = 0;  // this rank's batch (context parallel: the whole batch, which every rank takes)
};

// One training step on this rank's share of the batch: forward, backward, the gradient average
// over the ranks (dp, with data parallelism), clipping and AdamW. The peak is measured above
// `outside` (tensors held elsewhere).
StepOutcome train_step(SequenceModel& model, optim::AdamW& opt, nn::DataParallel* dp, const Dataset& ds,
                       const std::vector<int64_t>& idx, const TrainOptions& t, double lr, Device dev, int64_t outside) {
  StepOutcome o;
  memory::PeakMeter meter(dev);
  Batch b;
  {
    memory::CategoryScope user(memory::Category::user);  // core/memory_trace.h
    b = to_device(t.pack ? make_packed_batch(ds, Split::train, idx) : make_batch(ds, Split::train, idx, !t.dynamic_padding),
                  dev);
  }
  o.seq_len = b.packed() ? std::max(b.tokens.size(1), b.tokens2.defined() ? b.tokens2.size(1) : 0) : b.tokens.size(1);
  opt.set_lr(lr);
  Tensor logits, loss;
  {
    PhaseScope phase("forward");  // core/phase.h: the profiler and the memory trace
    logits = model.forward(b);
    loss = cross_entropy(logits, b.labels);  // the mean over this rank's share
  }
  loss.backward();
  {
    PhaseScope phase("optimizer");
    if (dp) dp->synchronize();
    if (t.clip > 0) optim::clip_grad_norm(model.parameters(), t.clip);
    opt.step();
  }
  o.loss = loss.item<float>();
  o.acc = nn::accuracy(detach(logits), b.labels);
  o.peak = meter.peak() - outside;
  o.tokens = static_cast<double>(b.tokens.numel() + (b.tokens2.defined() ? b.tokens2.numel() : 0));
  if (t.data_parallel) {  // equal shares: the global batch's mean loss and accuracy are the ranks' means
    Tensor v = from_vector(std::vector<double>{o.loss, o.acc}, {2});
    dist::all_reduce(v, dist::Reduce::mean);
    o.loss = v.to_vector<double>()[0], o.acc = v.to_vector<double>()[1];
  }
  return o;
}

// Writes the checkpoint: rank 0 alone with data or context parallelism, the others waiting until
// it is there.
void save_rank0(const TrainOptions& t, const std::string& path, const SequenceModel& model, optim::AdamW& opt,
                const std::map<std::string, std::string>& meta) {
  if (!distributed(t) || dist::rank() == 0) save_checkpoint(path, model, &opt, meta);
  if (distributed(t)) dist::barrier();
}

// The gradient average over the ranks (nn::DataParallel), for both kinds of parallelism.
// Data parallel: each rank's loss is the mean over its equal share of the batch, so the mean of
// the ranks' gradients is the gradient of the global batch's mean loss.
// Context parallel: every rank computes the same loss L from the pooled encoding, which sums the
// ranks' shares (all_reduce_sum, whose backward all-reduces the gradient). The ranks together
// differentiate P copies of L: a rank's encoder and embedding gradients are P times its tokens'
// share of dL, its head gradients dL itself (the head comes after the sum), so the mean over the
// ranks is dL for both; a sum would be P times too large (autograd/collectives.h).
std::unique_ptr<nn::DataParallel> gradient_averaging(const TrainOptions& t, SequenceModel& model) {
  return distributed(t) ? std::make_unique<nn::DataParallel>(model) : nullptr;
}

// Context parallelism: rank r > 0 draws its dropout masks from a stream of its own, as its tokens
// are not rank 0's (the same stream would drop the same features of the ranks' k-th tokens alike).
// Rank 0 keeps the single-process stream. Called after the model's initialisation, which every
// rank draws alike from cfg.seed.
void seed_rank_dropout(const RunConfig& cfg) {
  if (cfg.train.context_parallel && dist::rank() > 0)
    manual_seed(mix_seed(cfg.seed, 0xc0e7e47ull, static_cast<uint64_t>(dist::rank())));
}


// The model of one kind: initialised on the CPU from cfg.seed (so every kind and device starts
// from the same weights), warm-started when asked, then moved to the device.
std::unique_ptr<SequenceModel> build_model(const RunConfig& cfg, const ModelConfig& mc, AttentionKind kind) {
  manual_seed(cfg.seed);  // the same initial weights, dropout masks and batches for every kind
  std::unique_ptr<SequenceModel> model = make_model(mc);
  if (!cfg.init_from.empty()) warm_start(*model, warm_start_path(cfg.init_from, to_string(kind)));
  model->to(cfg.device);
  return model;
}

// The training batches: shuffled from cfg.seed, whole batches only, bucketed by length when asked.
BatchSampler train_sampler(const RunConfig& cfg, const Dataset& ds) {
  const TrainOptions& t = cfg.train;
  BatchSampler sampler(static_cast<int64_t>(ds.train.size()), t.batch, cfg.seed, true, /*drop_last=*/true);
  if (t.bucket > 0 && t.dynamic_padding) {
    std::vector<int64_t> lengths;
    for (const Example& ex : ds.train)
      lengths.push_back(static_cast<int64_t>(std::max(ex.tokens.size(), ex.tokens2.size())));  // pairs: the longer
    sampler.bucket_by(std::move(lengths), t.bucket);
  }
  return sampler;
}

// The log's first line for a kind: the model, and the parallelism when there is one.
std::string run_header(const std::string& kind, const SequenceModel& model, const nn::DataParallel* dp,
                       const TrainOptions& t) {
  if (!dp) return fmt::format("\n== {}: {}\n", kind, describe(model));
  return fmt::format("\n== {}: {}; {} parallel over {} ranks, {}, {} of gradients all-reduced per step in {} buckets\n",
                     kind, describe(model), t.context_parallel ? "context" : "data", dist::world_size(),
                     t.context_parallel ? "each holding its zigzag share of every sequence's positions"
                                        : fmt::format("{} examples each", rank_batch(t)),
                     format_bytes(static_cast<double>(dp->bytes_per_step())), dp->num_buckets());
}

// One kind's training run between its steps (train_kind): the result being filled in, the
// validation evaluations with their checkpoints and early stopping, the loss/accuracy curve and
// the timing of the steps.
class KindLoop {
 public:
  KindLoop(const RunConfig& cfg, const Dataset& ds, AttentionKind kind, SequenceModel& model, optim::AdamW& opt,
           KindResult& r, int64_t held_limit, FILE* log)
      : cfg_(cfg), t_(cfg.train), ds_(ds), kind_(kind), model_(model), opt_(opt), r_(r), held_limit_(held_limit),
        curve_every_(std::max<int64_t>(1, cfg.train.steps / 100)), bar_(r.kind, cfg.train.steps, log) {}

  // Records one finished step (its outcome and wall seconds) and evaluates when due; false when
  // training stops early.
  bool after_step(const StepOutcome& o, double seconds) {
    if (o.peak > r_.peak_bytes) r_.peak_bytes = o.peak, r_.peak_seq_len = o.seq_len;
    tokens_ += o.tokens;
    train_seconds_ += seconds;
    MG_CHECK(std::isfinite(o.loss), "lra", "{}: the training loss is {} at step {}", r_.kind, o.loss, r_.steps);
    since_point_.add(o.loss, o.acc);
    bar_.step(r_.steps + 1, o.loss, o.acc);
    r_.steps += 1;
    const bool eval_now = (t_.eval_every > 0 && r_.steps % t_.eval_every == 0) || r_.steps == t_.steps;
    if (r_.steps % curve_every_ == 0 || eval_now) {
      r_.curve.push_back({r_.steps, since_point_.loss / since_point_.n, since_point_.acc / since_point_.n, kNoValue,
                          opt_.lr(), train_seconds_});
      since_point_ = {};
    }
    if (!eval_now) return true;
    evaluate_val();
    if (t_.patience > 0 && evals_without_gain_ >= t_.patience && r_.steps < t_.steps) {
      r_.stopped_early = true;
      bar_.message(fmt::format("{:<8} early stop: no better validation accuracy in {} evaluations", r_.kind, t_.patience));
      return false;
    }
    return true;
  }

  // After the last step: a last evaluation if the run stopped between two, the rates.
  void finish() {
    bar_.finish();
    if (!r_.curve.empty() && std::isnan(r_.curve.back().val_acc)) evaluate_val();  // stopped between evaluations
    r_.train_seconds = train_seconds_;
    r_.sec_per_step = train_seconds_ / static_cast<double>(r_.steps);
    r_.tokens_per_sec = tokens_ * (t_.data_parallel ? dist::world_size() : 1) / train_seconds_;  // every rank's tokens
  }

 private:
  // Validation accuracy at the current step; a checkpoint when it is the best so far.
  void evaluate_val() {
    bar_.pause();
    const double acc = evaluate(model_, ds_, Split::val, t_.eval_batch, t_.max_eval, cfg_.device);
    trim_cache(held_limit_, cfg_.device);
    const bool better = !(acc <= r_.best_val_acc);  // true for the first (best is NaN)
    if (better) {
      r_.best_val_acc = acc, r_.best_step = r_.steps, evals_without_gain_ = 0;
      save_rank0(t_, r_.checkpoint, model_, opt_, checkpoint_metadata(cfg_, kind_, r_.steps, acc));
    } else {
      ++evals_without_gain_;
    }
    bar_.message(fmt::format("{:<8} step {:>6}  val acc {:.4f}  (best {:.4f} at step {}){}", r_.kind, r_.steps, acc,
                             r_.best_val_acc, r_.best_step, better ? "  checkpoint saved" : ""));
    bar_.resume();
    r_.curve.back().val_acc = acc;
  }

  const RunConfig& cfg_;
  const TrainOptions& t_;
  const Dataset& ds_;
  AttentionKind kind_;
  SequenceModel& model_;
  optim::AdamW& opt_;
  KindResult& r_;
  int64_t held_limit_, curve_every_;
  ProgressBar bar_;
  Accum since_point_;
  double train_seconds_ = 0, tokens_ = 0;
  int64_t evals_without_gain_ = 0;
};

}  // namespace

KindResult train_kind(const RunConfig& cfg, const Dataset& ds, AttentionKind kind, FILE* log) {
  const TrainOptions& t = cfg.train;
  MG_CHECK(t.steps > 0 && t.batch > 0, "lra", "steps {} and batch {} must be positive", t.steps, t.batch);
  MG_CHECK(static_cast<int64_t>(ds.train.size()) >= t.batch, "lra", "{} training examples, fewer than one batch of {}",
           ds.train.size(), t.batch);
  ModelConfig mc = model_config(cfg, kind);
  mc.context_parallel = t.context_parallel;
  const Device dev = cfg.device;
  memory::empty_cache(dev);  // every kind starts from the same (empty) allocator cache
  const int64_t outside = memory::stats(dev).current;  // tensors held elsewhere: not part of a step
  std::unique_ptr<SequenceModel> model = build_model(cfg, mc, kind);
  std::unique_ptr<nn::DataParallel> dp = gradient_averaging(t, *model);
  seed_rank_dropout(cfg);
  optim::AdamW opt(model->parameters(), {.lr = t.lr, .weight_decay = t.weight_decay});
  const int64_t warmup = std::max<int64_t>(1, static_cast<int64_t>(std::llround(t.warmup_frac * t.steps)));
  optim::WarmupCosine schedule(t.lr, std::min(warmup, t.steps), t.steps, t.lr * t.min_lr_frac);
  BatchSampler sampler = train_sampler(cfg, ds);

  KindResult r;
  r.kind = to_string(kind);
  r.params = model->num_parameters();
  const MemoryEstimate est = estimate_train_step(mc, t, longest_step_len(cfg, ds));
  r.predicted_bytes = est.total;
  r.predicted_phase = est.peak_at;
  r.checkpoint = checkpoint_path(cfg, kind);
  std::filesystem::create_directories(cfg.out_dir);
  const int64_t held_limit = cache_limit(est.total, dev);
  std::fputs(run_header(r.kind, *model, dp.get(), t).c_str(), log);

  KindLoop loop(cfg, ds, kind, *model, opt, r, held_limit, log);
  std::vector<std::vector<int64_t>> epoch;
  size_t next_batch = 0;
  for (int64_t step = 0; step < t.steps; ++step) {
    if (next_batch >= epoch.size()) epoch = sampler.next_epoch(), next_batch = 0;
    const std::vector<int64_t> idx = rank_share(epoch[next_batch++], t);
    opt.zero_grad();  // drops last step's gradients before the meter starts
    std::optional<memory::Trace> trace;  // --trace-memory: one step, outside the timed span
    if (t.trace_memory && step == std::min<int64_t>(1, t.steps - 1)) trace.emplace(r.kind);
    const auto t0 = Clock::now();
    const StepOutcome o = train_step(*model, opt, dp.get(), ds, idx, t, schedule(step), dev, outside);
    if (trace) {
      trace->stop();
      if (!distributed(t) || dist::rank() == 0) r.memory_trace = write_step_trace(*trace, cfg.out_dir, r.kind);
    }
    trim_cache(held_limit, dev);  // inside the timed step: refilling the cache is part of its cost
    if (!loop.after_step(o, std::chrono::duration<double>(Clock::now() - t0).count())) break;
  }
  loop.finish();
  r.predicted_at_peak_len = estimate_train_step(mc, t, r.peak_seq_len).total;

  load_checkpoint(r.checkpoint, *model);  // the best validation model
  r.test_acc = evaluate(*model, ds, Split::test, t.eval_batch, 0, dev);
  trim_cache(held_limit, dev);
  std::fprintf(log,
               "%-8s test acc %.4f (model of step %lld, val acc %.4f); %.1f s, %.4f s/step; "
               "peak %s measured, %s predicted\n",
               r.kind.c_str(), r.test_acc, static_cast<long long>(r.best_step), r.best_val_acc, r.train_seconds,
               r.sec_per_step, format_bytes(static_cast<double>(r.peak_bytes)).c_str(),
               format_bytes(static_cast<double>(r.predicted_at_peak_len)).c_str());
  return r;
}

}  // namespace memgrad::lra
