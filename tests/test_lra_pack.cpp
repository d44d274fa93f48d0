// lra's attention options (issue 15): packed batches (--pack) compute what padded ones do, in the
// model and in a short training run; position kinds, kv heads, window and attention dropout reach
// the model and survive the checkpoint configuration; the estimate follows the packed layout.
// Options a kernel does not implement yet are run with the vanilla kind only (the others must name
// the option in their error), so these tests cover the kernels as soon as they land.
// Built only with the examples (MEMGRAD_HAVE_LRA_PROGRAM, set by examples/CMakeLists.txt).
#ifdef MEMGRAD_HAVE_LRA_PROGRAM
#include <doctest/doctest.h>

#include <omp.h>

#include <cmath>
#include <string>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/random.h"
#include "examples/lra/batch.h"
#include "examples/lra/config_json.h"
#include "examples/lra/memory_estimate.h"
#include "examples/lra/model.h"
#include "examples/lra/options.h"
#include "examples/lra/sweep.h"
#include "examples/lra/trainer.h"
#include "tests/error_test_util.h"
#include "tests/lra_test_util.h"

using namespace memgrad;
using namespace memgrad::lra;

namespace {

constexpr AttentionKind kKinds[] = {AttentionKind::vanilla, AttentionKind::chunked, AttentionKind::topk};

// f(kind) for every kind.
template <class F>
void each_kind(F f) {
  for (AttentionKind kind : kKinds) {
    CAPTURE(to_string(kind));
    f(kind);
  }
}

// A dataset of `n` examples of lengths 3..17 (pair: a second document of other lengths).
Dataset toy(int64_t n, bool pair) {
  Dataset ds;
  ds.task = pair ? "retrieval" : "listops";
  ds.pair = pair;
  ds.max_len = 17, ds.vocab_size = 16, ds.num_classes = pair ? 2 : 10;
  for (int64_t i = 0; i < n; ++i) {
    Example ex;
    for (int64_t t = 0; t < 3 + (i * 7) % 15; ++t) ex.tokens.push_back(static_cast<int32_t>(1 + (i * 5 + t * 3) % 15));
    if (pair)
      for (int64_t t = 0; t < 2 + (i * 5) % 16; ++t) ex.tokens2.push_back(static_cast<int32_t>(1 + (i + t * 7) % 15));
    ex.label = static_cast<int32_t>(i % (pair ? 2 : 10));
    ds.train.push_back(ex);
  }
  ds.val = ds.train, ds.test = ds.train;
  return ds;
}

ModelConfig tiny(AttentionKind kind, nn::Pooling pooling, PositionKind pos, bool pair) {
  ModelConfig m;
  m.vocab = 16, m.classes = pair ? 2 : 10, m.max_len = 17, m.pooling = pooling, m.position = pos, m.pair = pair;
  m.encoder.dim = 16, m.encoder.heads = 4, m.encoder.layers = 2, m.encoder.ff_hidden = 24;
  m.encoder.dropout = 0.0;
  m.encoder.attention.kind = kind;
  m.encoder.attention.top_k = 64;  // every key: topk equals vanilla
  return m;
}

void check_close(const std::vector<float>& got, const std::vector<float>& ref, double eps) {
  REQUIRE(got.size() == ref.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(ref[i]).epsilon(eps).scale(1));
}

}  // namespace

TEST_CASE("lra pack: the packed batch holds the examples back to back, with their offsets") {
  const Dataset ds = toy(6, true);
  const Batch b = make_packed_batch(ds, Split::train, {4, 0, 2});
  const auto& tr = ds.train;
  const int64_t n4 = static_cast<int64_t>(tr[4].tokens.size()), n0 = static_cast<int64_t>(tr[0].tokens.size()),
                n2 = static_cast<int64_t>(tr[2].tokens.size());
  CHECK(b.packed());
  CHECK(b.tokens.shape() == Shape({1, n4 + n0 + n2}));
  CHECK(b.cu_seqlens.to_vector<int64_t>() == std::vector<int64_t>{0, n4, n4 + n0, n4 + n0 + n2});
  CHECK(b.lengths.to_vector<int64_t>() == std::vector<int64_t>{n4, n0, n2});
  CHECK(b.labels.to_vector<int64_t>() == std::vector<int64_t>{tr[4].label, tr[0].label, tr[2].label});
  std::vector<int32_t> expect = tr[4].tokens;
  expect.insert(expect.end(), tr[0].tokens.begin(), tr[0].tokens.end());
  expect.insert(expect.end(), tr[2].tokens.begin(), tr[2].tokens.end());
  CHECK(b.tokens.to_vector<int32_t>() == expect);
  CHECK(b.cu_seqlens2.numel() == 4);
  CHECK(b.tokens2.size(1) == b.cu_seqlens2.to_vector<int64_t>().back());
  CHECK(!make_batch(ds, Split::train, {1}).packed());
}

TEST_CASE("lra pack: packed logits equal padded logits, every position kind and pooling") {
  const Dataset single = toy(5, false), pairs = toy(5, true);
  const std::vector<int64_t> idx = {0, 1, 2, 3, 4};
  for (bool pair : {false, true})
    for (nn::Pooling pooling : {nn::Pooling::mean, nn::Pooling::cls})
      for (PositionKind pos : {PositionKind::learned, PositionKind::sinusoidal, PositionKind::alibi, PositionKind::relative}) {
        CAPTURE(pair);
        CAPTURE(pooling == nn::Pooling::cls);
        CAPTURE(position_name(pos));
        const Dataset& ds = pair ? pairs : single;
        each_kind([&](AttentionKind kind) {
          manual_seed(3);
          auto model = make_model(tiny(kind, pooling, pos, pair));
          NoGradGuard ng;
          const auto padded = model->forward(make_batch(ds, Split::train, idx)).to_vector<float>();
          const auto packed = model->forward(make_packed_batch(ds, Split::train, idx)).to_vector<float>();
          check_close(packed, padded, 1e-4);
        });
      }
}

TEST_CASE("lra pack: a short packed training run has the padded run's losses") {
  const Dataset ds = toy(24, false);
  lra_test::TempDir dir;
  each_kind([&](AttentionKind kind) {
    RunConfig cfg;
    cfg.model = tiny(kind, nn::Pooling::mean, PositionKind::relative, false);
    cfg.model.encoder.kv_heads = 2;
    cfg.train.steps = 6, cfg.train.batch = 4, cfg.train.eval_every = 0, cfg.train.lr = 3e-3;
    cfg.out_dir = (dir.path / "padded").string();
    std::FILE* null = std::fopen("/dev/null", "w");
    const KindResult padded = train_kind(cfg, ds, kind, null);
    cfg.train.pack = true;
    cfg.out_dir = (dir.path / "packed").string();
    const KindResult packed = train_kind(cfg, ds, kind, null);
    std::fclose(null);
    REQUIRE(padded.curve.size() == packed.curve.size());
    for (size_t i = 0; i < padded.curve.size(); ++i)
      CHECK(packed.curve[i].loss == doctest::Approx(padded.curve[i].loss).epsilon(1e-4));
    CHECK(packed.test_acc == padded.test_acc);
    CHECK(packed.predicted_bytes > 0);
  });
}

TEST_CASE("lra options: --position, --kv-heads, --window, --attn-dropout, --pack") {
  CommandLine cl;
  cl.mode = "train";
  cl.attention = "vanilla";
  cl.position = "relative";
  cl.window = "5,3";
  cl.pack = true;
  cl.numbers = {{"--heads", "4"}, {"--kv-heads", "2"}, {"--attn-dropout", "0.2"}};
  const RunConfig c = resolve_command_line(cl).cfg;
  CHECK(c.model.position == PositionKind::relative);
  CHECK(c.model.encoder.kv_heads == 2);
  CHECK(c.model.encoder.attention.window_left == 5);
  CHECK(c.model.encoder.attention.window_right == 3);
  CHECK(c.model.encoder.attention.dropout_p == 0.2);
  CHECK(c.train.pack);
  cl.window = "7";
  const RunConfig sym = resolve_command_line(cl).cfg;
  CHECK(sym.model.encoder.attention.window_left == 7);
  CHECK(sym.model.encoder.attention.window_right == 7);

  auto usage = [](CommandLine bad, std::initializer_list<std::string> parts) {
    bool is_usage = false;
    check_error(
        [&] {
          try {
            resolve_command_line(bad);
          } catch (const UsageError&) {
            is_usage = true;
            throw;
          }
        },
        parts);
    CHECK(is_usage);
  };
  CommandLine b = cl;
  b.position = "rotary";
  usage(b, {"--position", "'rotary'", "learned, sinusoidal, alibi or relative"});
  b = cl, b.window = "1,2,3";
  usage(b, {"--window", "3 numbers"});
  b = cl, b.window = "-1";
  usage(b, {"--window", "out of range"});
  b = cl, b.window = "a";
  usage(b, {"--window", "'a'"});
  b = cl, b.numbers = {{"--heads", "4"}, {"--kv-heads", "3"}};
  usage(b, {"--heads 4 is not divisible by --kv-heads 3"});
  b = cl, b.fixed_padding = true;
  usage(b, {"--pack and --fixed-padding contradict each other"});
}

TEST_CASE("lra config: the attention options survive the round trip; earlier configurations load") {
  RunConfig c = make_preset("demo", "listops");
  c.model.position = PositionKind::alibi;
  c.model.encoder.kv_heads = 2, c.model.encoder.relative_buckets = 12;
  c.model.encoder.attention.window_left = 9, c.model.encoder.attention.window_right = -1;
  c.model.encoder.attention.dropout_p = 0.125, c.model.encoder.attention.relative_max_distance = 40;
  c.train.pack = true;
  const nlohmann::json j = config_to_json(c);
  const RunConfig back = config_from_json(j, "x");
  CHECK(config_to_json(back) == j);
  CHECK(back.model.position == PositionKind::alibi);
  CHECK(back.model.encoder.kv_heads == 2);
  CHECK(back.model.encoder.attention.window_left == 9);
  CHECK(back.model.encoder.attention.dropout_p == 0.125);
  CHECK(back.train.pack);
  // a configuration written before these options: learned positions, no window, padded batches
  nlohmann::json old = j;
  for (const char* k : {"kv_heads", "relative_buckets", "relative_max_distance", "window_left", "window_right",
                        "attn_dropout"})
    old["model"].erase(k);
  old["model"]["positions"] = "learned";
  old["train"].erase("pack");
  const RunConfig o = config_from_json(old, "old");
  CHECK(o.model.position == PositionKind::learned);
  CHECK(o.model.encoder.kv_heads == 0);
  CHECK(o.model.encoder.attention.window_left == -1);
  CHECK(o.model.encoder.attention.dropout_p == 0);
  CHECK(!o.train.pack);
  nlohmann::json bad = j;
  bad["model"]["positions"] = "rotary";
  check_error([&] { config_from_json(bad, "f.safetensors"); }, {"f.safetensors", "'model.positions'", "rotary"});
  bad = j, bad["model"]["kv_heads"] = 3;
  check_error([&] { config_from_json(bad, "f"); }, {"'model.kv_heads'", "does not divide model.heads"});
}

TEST_CASE("lra memory estimate: packed batches, grouped-query heads and position kinds") {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  ModelConfig m = tiny(AttentionKind::vanilla, nn::Pooling::mean, PositionKind::learned, false);
  m.max_len = 64;
  // packed vanilla attends across the whole row: its probabilities grow with the total squared
  const int64_t padded_v = estimate_step_memory(m, 8, 64).total, packed_v = estimate_packed_step_memory(m, 8, 512).total;
  CHECK(packed_v > padded_v);
  // grouped-query heads narrow the k/v projection; alibi and relative drop the position table
  ModelConfig g = m;
  g.encoder.kv_heads = 1;
  CHECK(estimate_step_memory(g, 8, 64).params < estimate_step_memory(m, 8, 64).params);
  ModelConfig a = m;
  a.position = PositionKind::alibi;
  CHECK(estimate_step_memory(a, 8, 64).params == estimate_step_memory(m, 8, 64).params - 64 * 16 * 4);
  // against the measured peak of packed steps, for the kinds that run them
  each_kind([&](AttentionKind kind) {
    ModelConfig k = m;
    k.encoder.attention.kind = kind;
    k.encoder.attention.top_k = 16;
    for (bool cls : {false, true}) {
      k.pooling = cls ? nn::Pooling::cls : nn::Pooling::mean;
      const SweepPoint p = measure_step(k, 4, 48, 1, 7, Device::cpu(), true);
      const double r = static_cast<double>(p.predicted_bytes) / static_cast<double>(p.peak_bytes);
      CAPTURE(cls);
      CAPTURE(r);
      CHECK(std::abs(r - 1) <= 0.10);  // vanilla: 1.003 (mean pooling), 1.002 (cls)
    }
  });
  omp_set_num_threads(saved);
}

#endif  // MEMGRAD_HAVE_LRA_PROGRAM
