#include "examples/lra/sweep.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "autograd/ops.h"
#include "core/allocator.h"
#include "core/phase.h"
#include "examples/lra/batch.h"
#include "examples/lra/memory_estimate.h"
#include "examples/lra/trainer.h"
#include "nn/optim/adam.h"
#include "nn/optim/clip.h"

namespace memgrad::lra {

namespace {

// Random tokens 1..vocab-1 at full length (no padding) and random labels.
Batch random_batch(const ModelConfig& m, int64_t B, int64_t N, Generator& gen) {
  Batch b;
  b.tokens = randint(1, m.vocab, {B, N}, DType::int32, &gen);
  b.lengths = full({B}, static_cast<double>(N), DType::int64);
  b.labels = randint(0, m.classes, {B}, DType::int64, &gen);
  if (m.pair) {
    b.tokens2 = randint(1, m.vocab, {B, N}, DType::int32, &gen);
    b.lengths2 = b.lengths;
  }
  return b;
}

// The same shape packed (batch.h): B sequences of N tokens back to back in one row.
Batch packed_random_batch(const ModelConfig& m, int64_t B, int64_t N, Generator& gen) {
  Batch b = random_batch(m, B, N, gen);
  std::vector<int64_t> cu;
  for (int64_t s = 0; s <= B; ++s) cu.push_back(s * N);
  b.cu_seqlens = from_vector(cu, {B + 1});
  b.tokens = reshape(b.tokens, {1, B * N});
  if (m.pair) b.tokens2 = reshape(b.tokens2, {1, B * N}), b.cu_seqlens2 = b.cu_seqlens;
  return b;
}

}  // namespace

namespace {

// One training step on a random batch: forward (phase "forward"), backward, clipping and AdamW
// (phase "optimizer"); the batch is a user tensor (core/memory_trace.h).
void random_step(SequenceModel& model, optim::AdamW& opt, const ModelConfig& mc, int64_t batch, int64_t seq_len,
                 Generator& gen, Device dev, bool packed) {
  Batch b;
  {
    memory::CategoryScope user(memory::Category::user);
    b = to_device(packed ? packed_random_batch(mc, batch, seq_len, gen) : random_batch(mc, batch, seq_len, gen), dev);
  }
  Tensor loss;
  {
    PhaseScope phase("forward");
    loss = cross_entropy(model.forward(b), b.labels);
  }
  loss.backward();
  PhaseScope phase("optimizer");
  optim::clip_grad_norm(model.parameters(), 1.0);
  opt.step();
}

}  // namespace

SweepPoint measure_step(const ModelConfig& mc, int64_t batch, int64_t seq_len, int64_t steps, uint64_t seed,
                        Device dev, bool packed) {
  SweepPoint p;
  p.kind = to_string(mc.encoder.attention.kind);
  p.seq_len = seq_len;
  p.batch = batch;
  p.predicted_bytes = packed ? estimate_packed_step_memory(mc, batch, batch * seq_len).total
                             : estimate_step_memory(mc, batch, seq_len).total;
  const int64_t outside = memory::stats(dev).current;  // tensors the caller holds: not this step's
  manual_seed(seed);
  auto model = make_model(mc);
  model->to(dev);
  optim::AdamW opt(model->parameters(), {.lr = 1e-4});
  Generator gen(seed + 1);
  double seconds = 0;
  for (int64_t s = 0; s <= steps; ++s) {
    opt.zero_grad();
    const auto t0 = std::chrono::steady_clock::now();
    {
      memory::PeakMeter meter(dev);
      random_step(*model, opt, mc, batch, seq_len, gen, dev, packed);
      p.peak_bytes = std::max(p.peak_bytes, meter.peak() - outside);
      synchronize(dev);  // a GPU step is timed to completion
    }
    if (s > 0) seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  p.sec_per_step = steps > 0 ? seconds / static_cast<double>(steps) : 0;
  model.reset();
  memory::empty_cache(dev);  // the next point's shapes need other size classes (see trainer.h)
  return p;
}

std::unique_ptr<memory::Trace> trace_step(const ModelConfig& mc, int64_t batch, int64_t seq_len, uint64_t seed,
                                          Device dev) {
  manual_seed(seed);
  auto model = make_model(mc);
  model->to(dev);
  optim::AdamW opt(model->parameters(), {.lr = 1e-4});
  Generator gen(seed + 1);
  random_step(*model, opt, mc, batch, seq_len, gen, dev, false);  // AdamW allocates its state
  opt.zero_grad();
  auto trace = std::make_unique<memory::Trace>(to_string(mc.encoder.attention.kind));
  random_step(*model, opt, mc, batch, seq_len, gen, dev, false);
  trace->stop();
  return trace;
}

std::vector<SweepPoint> run_sweep(const RunConfig& cfg, const std::vector<AttentionKind>& kinds, FILE* log) {
  std::vector<SweepPoint> out;
  if (cfg.sweep_lengths.empty()) return out;
  const int64_t longest = *std::max_element(cfg.sweep_lengths.begin(), cfg.sweep_lengths.end());
  const int64_t available = cfg.device.is_cpu() ? available_memory_bytes() : 0;  // GPU: found out by trying
  const bool packed = cfg.train.pack;  // --pack: each point's batch packed into one row
  std::fprintf(log, "\n== memory and time of a training step against sequence length (batch %lld%s, random tokens)\n",
               static_cast<long long>(cfg.train.batch), packed ? ", packed" : "");
  std::fprintf(log, "%-8s %7s %12s %12s %8s %10s\n", "kind", "length", "predicted", "measured", "pred/meas", "s/step");
  for (int64_t n : cfg.sweep_lengths) {
    for (AttentionKind kind : kinds) {
      ModelConfig mc = model_config(cfg, kind);
      mc.max_len = std::max(mc.max_len, longest);
      SweepPoint p;
      const int64_t predicted = packed ? estimate_packed_step_memory(mc, cfg.train.batch, cfg.train.batch * n).total
                                       : estimate_step_memory(mc, cfg.train.batch, n).total;
      if (available > 0 && predicted > available) {
        p.kind = to_string(kind), p.seq_len = n, p.batch = cfg.train.batch, p.predicted_bytes = predicted;
        p.note = fmt::format("skipped: needs {} (estimate), {} available", format_bytes(predicted),
                             format_bytes(available));
      } else {
        try {
          p = measure_step(mc, cfg.train.batch, n, cfg.sweep_steps, cfg.seed, cfg.device, packed);
        } catch (const RuntimeError& e) {  // a device allocation that failed: record it, go on
          if (std::string(e.what()).find("out of memory") == std::string::npos) throw;
          memory::empty_cache(cfg.device);
          p.kind = to_string(kind), p.seq_len = n, p.batch = cfg.train.batch, p.predicted_bytes = predicted;
          p.note = "skipped: out of memory on " + cfg.device.str();
        }
      }
      if (p.peak_bytes > 0)
        std::fprintf(log, "%-8s %7lld %12s %12s %8.3f %10.4f\n", p.kind.c_str(), static_cast<long long>(n),
                     format_bytes(p.predicted_bytes).c_str(), format_bytes(p.peak_bytes).c_str(),
                     static_cast<double>(p.predicted_bytes) / p.peak_bytes, p.sec_per_step);
      else
        std::fprintf(log, "%-8s %7lld %12s  %s\n", p.kind.c_str(), static_cast<long long>(n),
                     format_bytes(p.predicted_bytes).c_str(), p.note.c_str());
      std::fflush(log);
      out.push_back(p);
    }
  }
  return out;
}

}  // namespace memgrad::lra
