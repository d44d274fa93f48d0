// The LRA program's analytic peak-memory estimate (examples/lra/memory_estimate.h) against the
// peak that memory::PeakMeter measures around real training steps, for every attention kind.
// Built only with the examples (MEMGRAD_HAVE_LRA_PROGRAM, set by examples/CMakeLists.txt).
#ifdef MEMGRAD_HAVE_LRA_PROGRAM
#include <doctest/doctest.h>

#include <omp.h>

#include <cmath>

#include "examples/lra/memory_estimate.h"
#include "examples/lra/memory_trace_files.h"
#include "examples/lra/presets.h"
#include "examples/lra/sweep.h"
#include "examples/lra/trainer.h"
#include "tests/error_test_util.h"

using namespace memgrad;
using namespace memgrad::lra;

namespace {

ModelConfig small_model(AttentionKind kind, int64_t max_len) {
  ModelConfig m;
  m.vocab = 16, m.classes = 10, m.max_len = max_len;
  m.encoder.dim = 32, m.encoder.heads = 4, m.encoder.layers = 2, m.encoder.ff_hidden = 64;
  m.encoder.dropout = 0.0;
  m.encoder.attention.kind = kind;
  m.encoder.attention.top_k = 16;
  return m;
}

// One warm-up step (AdamW allocates its state) and one measured step; returns measured / predicted.
double predicted_over_measured(const ModelConfig& m, int64_t batch, int64_t len) {
  SweepPoint p = measure_step(m, batch, len, 1, 7);
  REQUIRE(p.peak_bytes > 0);
  return static_cast<double>(p.predicted_bytes) / static_cast<double>(p.peak_bytes);
}

const AttentionKind kKinds[] = {AttentionKind::vanilla, AttentionKind::chunked, AttentionKind::topk};

// Runs a test with n OpenMP threads and restores the setting. One thread keeps these many small
// steps fast on a busy machine (two threads wait on each other whenever one is descheduled); the
// estimate takes the thread count into account, which the last test checks with all threads.
struct Threads {
  explicit Threads(int n) : saved(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~Threads() { omp_set_num_threads(saved); }
  int saved;
};

}  // namespace

TEST_CASE("lra memory estimate: within 10% of the measured peak of a training step, each kind") {
  Threads one(1);
  for (AttentionKind kind : kKinds) {
    struct Variant {
      const char* name;
      double dropout;
      bool checkpoint, pair;
      int64_t ff;
      nn::Pooling pooling = nn::Pooling::mean;
    };
    for (Variant v : {Variant{"plain", 0.0, false, false, 64}, Variant{"dropout", 0.1, false, false, 64},
                      Variant{"checkpointed layers", 0.0, true, false, 64},
                      Variant{"two towers", 0.0, false, true, 64}, Variant{"narrow ff", 0.0, false, false, 16},
                      Variant{"cls pooling", 0.0, false, false, 64, nn::Pooling::cls},
                      Variant{"cls pooling, two towers", 0.1, false, true, 64, nn::Pooling::cls}}) {
      ModelConfig m = small_model(kind, 96);
      m.encoder.dropout = v.dropout, m.encoder.checkpoint = v.checkpoint, m.pair = v.pair;
      m.encoder.ff_hidden = v.ff, m.pooling = v.pooling;
      const double r = predicted_over_measured(m, 4, 96);
      CAPTURE(to_string(kind));
      CAPTURE(v.name);
      CHECK(std::abs(r - 1) <= 0.10);
    }
  }
}

// The estimate's parts against a memory trace of a real step (examples/lra/memory_trace_files.h):
// static bytes exactly, the saved activations and each phase's peak within a few percent.
TEST_CASE("lra memory estimate: phase by phase against a memory trace, each kind") {
  using memory::Category;
  Threads one(1);
  for (AttentionKind kind : kKinds) {
    CAPTURE(to_string(kind));
    const ModelConfig m = small_model(kind, 128);
    const MemoryEstimate est = estimate_step_memory(m, 4, 128, 1);
    const auto trace = trace_step(m, 4, 128, 7);
    const PhasePeaks p = phase_peaks(*trace);
    auto at = [](const memory::CategoryBytes& b, Category c) { return b[static_cast<size_t>(c)]; };
    auto near = [](int64_t measured, int64_t predicted, double tol) {
      return std::abs(static_cast<double>(predicted) / static_cast<double>(measured) - 1) <= tol;
    };
    // What lives across steps and the batch: to the byte.
    CHECK(at(p.at_start, Category::parameter) == est.params);
    CHECK(at(p.at_start, Category::optimizer_state) == est.optimizer);
    CHECK(at(p.end_of_forward, Category::user) == est.batch);
    // What the forward leaves for backward, and the peak of each phase.
    CHECK(near(at(p.end_of_forward, Category::saved), est.saved, 0.01));
    CHECK(near(p.forward, est.forward_peak, 0.05));
    INFO("backward peak: measured " << p.backward << ", estimated " << est.backward_peak << " (total at "
                                    << est.peak_at << ")");
    CHECK(near(p.backward, est.backward_peak, 0.05));
    CHECK(near(p.optimizer, est.optimizer_peak, 0.01));
    CHECK(std::max({p.forward, p.backward, p.optimizer}) == trace->devices()[0].peak);
  }
}

TEST_CASE("lra memory estimate: the shipped demo preset at its training shape") {
  Threads one(1);
  RunConfig cfg = make_preset("demo", "listops");
  cfg.model.vocab = 16, cfg.model.classes = 10, cfg.model.max_len = cfg.data.max_len;
  for (AttentionKind kind : kKinds) {
    const double r = predicted_over_measured(model_config(cfg, kind), cfg.train.batch, cfg.data.max_len);
    CAPTURE(to_string(kind));
    CHECK(std::abs(r - 1) <= 0.10);
  }
}

TEST_CASE("lra memory estimate: per-thread attention workspaces with every thread") {
  // chunked and topk take one workspace block per thread: with long rows and a narrow model they
  // are a visible part of the step.
  Threads all(omp_get_num_procs());
  for (AttentionKind kind : {AttentionKind::chunked, AttentionKind::topk}) {
    ModelConfig m = small_model(kind, 512);
    m.encoder.layers = 1, m.encoder.ff_hidden = 16;
    const double r = predicted_over_measured(m, 1, 512);
    CAPTURE(to_string(kind));
    CAPTURE(omp_get_max_threads());
    CHECK(std::abs(r - 1) <= 0.10);
  }
}

TEST_CASE("lra memory estimate: vanilla grows with N^2, chunked and topk linearly") {
  auto total = [](AttentionKind kind, int64_t n) {
    return static_cast<double>(estimate_step_memory(small_model(kind, 4096), 2, n).total);
  };
  // doubling a long sequence: vanilla's [B, H, N, N] terms dominate, the others' do not
  CHECK(total(AttentionKind::vanilla, 4096) / total(AttentionKind::vanilla, 2048) > 3.5);
  CHECK(total(AttentionKind::chunked, 4096) / total(AttentionKind::chunked, 2048) < 2.2);
  CHECK(total(AttentionKind::topk, 4096) / total(AttentionKind::topk, 2048) < 2.2);
  CHECK(total(AttentionKind::chunked, 4096) < total(AttentionKind::topk, 4096));
  CHECK(total(AttentionKind::topk, 4096) < total(AttentionKind::vanilla, 4096));
}

TEST_CASE("lra memory estimate: the top-k feed-forward saves [tokens, k] instead of [tokens, ff]") {
  for (AttentionKind kind : kKinds) {
    CAPTURE(to_string(kind));
    ModelConfig dense = small_model(kind, 256);
    dense.encoder.ff_hidden = 1024;
    const int64_t B = 2, N = 256, T = B * N, F = 1024, L = dense.encoder.layers;
    const MemoryEstimate d = estimate_step_memory(dense, B, N);
    // top_k = 0 and top_k >= ff are the dense layer
    ModelConfig same = dense;
    same.encoder.ff_topk.top_k = F;
    CHECK(estimate_step_memory(same, B, N).total == d.total);
    // k = 16: each layer keeps 16 values, 16 activations (float32) and 16 int64 indices per token
    // in place of the dense layer's [T, F] float32 pre-activation (without dropout, the one it
    // saves), and ln2's output [T, D], which the dense layer recomputes (autograd InputNorm)
    ModelConfig topk = dense;
    topk.encoder.ff_topk = {.top_k = 16, .chunk = 64};
    const MemoryEstimate t = estimate_step_memory(topk, B, N);
    const int64_t D = dense.encoder.dim;
    CHECK(d.saved - t.saved == L * (T * F * 4 - T * 16 * 16 - T * D * 4));
    CHECK(t.total < d.total);
    CHECK(t.params == d.params);
    // a larger chunk holds larger [chunk, F] workspaces: never less memory
    topk.encoder.ff_topk.chunk = T;
    CHECK(estimate_step_memory(topk, B, N).total >= t.total);
  }
  ModelConfig bad = small_model(AttentionKind::chunked, 64);
  bad.encoder.ff_topk.chunk = 0;
  check_error([&] { estimate_step_memory(bad, 2, 16); }, {"ff chunk 0"});
}

TEST_CASE("lra memory estimate: bad sizes are errors naming them, byte counts never wrap") {
  const ModelConfig ok = small_model(AttentionKind::chunked, 64);
  auto with = [&](auto change) {
    ModelConfig m = ok;
    change(m);
    return m;
  };
  // Each of these divided by zero (SIGFPE) or multiplied into nonsense before.
  check_error([&] { estimate_step_memory(with([](ModelConfig& m) { m.encoder.heads = 0; }), 2, 16); }, {"heads 0"});
  check_error([&] { estimate_step_memory(ok, 2, 0); }, {"sequence length 0"});
  check_error([&] { estimate_step_memory(ok, 0, 16); }, {"batch 0"});
  check_error([&] { estimate_step_memory(with([](ModelConfig& m) { m.encoder.heads = 3; }), 2, 16); },
              {"dim 32 is not divisible by heads 3"});
  check_error([&] { estimate_step_memory(with([](ModelConfig& m) { m.encoder.ff_hidden = -5; }), 2, 16); },
              {"ff -5"});
  check_error([&] { estimate_step_memory(with([](ModelConfig& m) { m.encoder.attention.top_k = 0; }), 2, 16); },
              {"top_k 0"});
  // A batch of 2^62 wrapped to negative saved bytes and passed the memory check; now it is an error.
  for (AttentionKind kind : kKinds) {
    CAPTURE(to_string(kind));
    check_error([&] { estimate_step_memory(small_model(kind, 64), int64_t{1} << 62, 83); },
                {"batch 4611686018427387904", "overflow"});
    check_error([&] { estimate_step_memory(with([](ModelConfig& m) { m.encoder.dim = int64_t{1} << 40; }), 2, 16); },
                {"dim 1099511627776", "overflow"});
  }
  // Large sizes that fit: positive, and growing with the batch.
  const ModelConfig big = small_model(AttentionKind::vanilla, 16384);
  const int64_t a = estimate_step_memory(big, 1 << 10, 16384).total, b = estimate_step_memory(big, 1 << 11, 16384).total;
  CHECK(a > 0);
  CHECK(b > a);
  // The generated data: overflow is an error, the default sizes are counted.
  TaskConfig t;
  t.n_train = int64_t{1} << 62;
  check_error([&] { estimate_generated_data_bytes(t); }, {"overflow"});
  t.n_train = -1;  // the default 2000 / 250 / 250 at ListOps' 2000 tokens
  CHECK(estimate_generated_data_bytes(t) >= 2500 * 2000 * 4);
  t.data_dir = "/data";  // files: bounded by their size, not estimated
  CHECK(estimate_generated_data_bytes(t) == 0);
}

TEST_CASE("lra memory estimate: the available memory comes from /proc/meminfo") {
  const int64_t avail = available_memory_bytes();
  CHECK(avail > 0);
  CHECK(format_bytes(1536.0) == "1.50 KiB");
  CHECK(format_bytes(3.0 * 1024 * 1024 * 1024) == "3.00 GiB");
}
#endif
