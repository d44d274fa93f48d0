// The LRA program's models (examples/lra/model.h): mean and CLS pooling see only the valid tokens,
// the CLS token is a trained parameter in front of the sequence, and checkpoints carry it.
// Built only with the examples (MEMGRAD_HAVE_LRA_PROGRAM, set by examples/CMakeLists.txt).
#ifdef MEMGRAD_HAVE_LRA_PROGRAM
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/random.h"
#include "examples/lra/model.h"
#include "examples/lra/warm_start.h"
#include "nn/serialization.h"
#include "tests/error_test_util.h"

#include <filesystem>
#include <unistd.h>

using namespace memgrad;
using namespace memgrad::lra;

namespace {

ModelConfig tiny(nn::Pooling pooling, AttentionKind kind) {
  ModelConfig m;
  m.vocab = 16, m.classes = 10, m.max_len = 24, m.pooling = pooling;
  m.encoder.dim = 16, m.encoder.heads = 2, m.encoder.layers = 2, m.encoder.ff_hidden = 32;
  m.encoder.dropout = 0.0;
  m.encoder.attention.kind = kind;
  m.encoder.attention.top_k = 8;
  return m;
}

// Two sequences of lengths 9 and 13 (tokens 1..15), padded with 0 to `width` columns.
Batch two_sequences(int64_t width) {
  std::vector<int32_t> tok(static_cast<size_t>(2 * width), 0);
  const int64_t lens[2] = {9, 13};
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < lens[b]; ++i) tok[static_cast<size_t>(b * width + i)] = static_cast<int32_t>(1 + (3 * i + 5 * b) % 15);
  Batch batch;
  batch.tokens = from_vector(tok, {2, width});                       // [B, L] int32
  batch.lengths = from_vector(std::vector<int64_t>{9, 13}, {2});      // [B]
  batch.labels = from_vector(std::vector<int64_t>{3, 7}, {2});        // [B]
  return batch;
}

}  // namespace

TEST_CASE("lra model: logits do not depend on the padding, with mean and with CLS pooling") {
  for (nn::Pooling pooling : {nn::Pooling::mean, nn::Pooling::cls})
    for (AttentionKind kind : {AttentionKind::vanilla, AttentionKind::chunked, AttentionKind::topk}) {
      CAPTURE(to_string(kind));
      CAPTURE(pooling == nn::Pooling::cls);
      manual_seed(11);
      auto model = make_model(tiny(pooling, kind));
      NoGradGuard ng;
      const std::vector<float> tight = model->forward(two_sequences(13)).to_vector<float>();  // [2, 10]
      const std::vector<float> padded = model->forward(two_sequences(24)).to_vector<float>();
      REQUIRE(tight.size() == 20);
      for (size_t i = 0; i < tight.size(); ++i) CHECK(padded[i] == doctest::Approx(tight[i]).epsilon(1e-5));
    }
}

TEST_CASE("lra model: the CLS token is a trained parameter in front of the sequence") {
  manual_seed(3);
  auto model = make_model(tiny(nn::Pooling::cls, AttentionKind::chunked));
  const auto state = model->state_dict();
  REQUIRE(state.count("cls") == 1);
  CHECK(state.at("cls").shape() == Shape({1, 1, 16}));
  CHECK(state.at("pos.table").shape() == Shape({25, 16}));  // max_len + 1 positions
  CHECK(describe(*model).find("cls pooling") != std::string::npos);

  Batch b = two_sequences(13);
  Tensor loss = cross_entropy(model->forward(b), b.labels);
  loss.backward();
  REQUIRE(model->cls.grad().defined());
  double norm = 0;
  for (float g : model->cls.grad().to_vector<float>()) norm += static_cast<double>(g) * g;
  CHECK(norm > 0);

  // The pooled output reads the whole sequence: changing the last valid token moves the logits.
  NoGradGuard ng;
  const std::vector<float> before = model->forward(b).to_vector<float>();
  std::vector<int32_t> tok = b.tokens.to_vector<int32_t>();
  tok[8] = tok[8] % 15 + 1;  // the first sequence's last token
  b.tokens = from_vector(tok, {2, 13});
  const std::vector<float> after = model->forward(b).to_vector<float>();
  double moved = 0, other = 0;
  for (size_t i = 0; i < 10; ++i) moved += std::abs(after[i] - before[i]);
  for (size_t i = 10; i < 20; ++i) other += std::abs(after[i] - before[i]);
  CHECK(moved > 1e-6);
  CHECK(other == 0);  // the second sequence is untouched
}

TEST_CASE("lra model: a checkpoint of a CLS model loads into a fresh one, not into a mean one") {
  manual_seed(5);
  auto a = make_model(tiny(nn::Pooling::cls, AttentionKind::vanilla));
  manual_seed(6);
  auto b = make_model(tiny(nn::Pooling::cls, AttentionKind::vanilla));
  b->load_state_dict(a->state_dict());
  NoGradGuard ng;
  const Batch batch = two_sequences(13);
  CHECK(a->forward(batch).to_vector<float>() == b->forward(batch).to_vector<float>());
  auto mean = make_model(tiny(nn::Pooling::mean, AttentionKind::vanilla));
  CHECK_THROWS_AS(mean->load_state_dict(a->state_dict()), Error);
}

TEST_CASE("lra warm start: weights of a shorter run, the position table's first rows, clear errors") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "memgrad_test_warm_start";
  fs::remove_all(dir);
  fs::create_directories(dir);
  ModelConfig short_cfg = tiny(nn::Pooling::cls, AttentionKind::chunked);
  short_cfg.max_len = 10;  // a table of 11 positions
  manual_seed(21);
  auto shorter = make_model(short_cfg);
  save_checkpoint((dir / "chunked.safetensors").string(), *shorter);

  manual_seed(22);
  auto longer = make_model(tiny(nn::Pooling::cls, AttentionKind::chunked));  // 25 positions
  const std::vector<float> fresh_table = longer->state_dict().at("pos.table").to_vector<float>();
  warm_start(*longer, warm_start_path(dir.string(), "chunked"));
  const auto a = shorter->state_dict(), b = longer->state_dict();
  for (const auto& [name, t] : a) {
    const std::string& tensor_name = name;  // clang < 16 cannot capture a structured binding
    CAPTURE(tensor_name);
    if (name == "pos.table") continue;
    CHECK(b.at(name).to_vector<float>() == t.to_vector<float>());
  }
  const std::vector<float> old_rows = a.at("pos.table").to_vector<float>(), table = b.at("pos.table").to_vector<float>();
  REQUIRE(table.size() == 25 * 16);
  for (size_t i = 0; i < 11 * 16; ++i) CHECK(table[i] == old_rows[i]);              // the run's positions
  for (size_t i = 11 * 16; i < table.size(); ++i) CHECK(table[i] == fresh_table[i]);  // later ones as initialised

  // A model too short for the file, a different width or pooling: errors naming the file, model unchanged.
  auto tiny_table = make_model([&] { auto c = short_cfg; c.max_len = 5; return c; }());
  check_error([&] { warm_start(*tiny_table, (dir / "chunked.safetensors").string()); }, {"--init-from", "pos.table"});
  auto wide = make_model([] { auto c = tiny(nn::Pooling::cls, AttentionKind::chunked); c.encoder.dim = 32; return c; }());
  check_error([&] { warm_start(*wide, (dir / "chunked.safetensors").string()); }, {"chunked.safetensors"});
  auto mean = make_model(tiny(nn::Pooling::mean, AttentionKind::chunked));
  const std::vector<float> before = mean->state_dict().at("emb.weight").to_vector<float>();
  check_error([&] { warm_start(*mean, (dir / "chunked.safetensors").string()); }, {"does not fit this model"});
  CHECK(mean->state_dict().at("emb.weight").to_vector<float>() == before);
  check_error([&] { warm_start_path(dir.string(), "topk"); }, {"no checkpoint for topk"});
  check_error([&] { warm_start_path((dir / "nothing").string(), "topk"); }, {"does not exist"});
  fs::remove_all(dir);
}
TEST_CASE("lra warm start: another dtype or non-finite weights are refused, naming file, tensor, shapes, dtypes") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("memgrad_test_warm_start_bad_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const ModelConfig cfg = tiny(nn::Pooling::mean, AttentionKind::chunked);
  manual_seed(3);
  auto source = make_model(cfg);
  std::map<std::string, Tensor> state;
  for (const auto& [name, t] : source->state_dict()) state["model." + name] = t;
  auto target = make_model(cfg);
  const std::vector<float> before = target->state_dict().at("emb.weight").to_vector<float>();
  const std::string file = (dir / "bad.safetensors").string();
  // Each tensor in turn, the position table included, written as float64 (the same shape):
  // "[25, 16] does not fit the model's [25, 16]" named neither dtype before.
  for (const char* name : {"pos.table", "emb.weight"}) {
    CAPTURE(name);
    auto changed = state;
    changed["model." + std::string(name)] = to(state.at("model." + std::string(name)), DType::float64);
    save_safetensors(file, changed);
    const std::string shape = str(state.at("model." + std::string(name)).shape());
    check_error([&] { warm_start(*target, file); },
                {"--init-from", file, "'model." + std::string(name) + "'", shape + " float64 in the file",
                 shape + " float32 in the model"});
  }
  // NaN or infinity in any tensor: refused at load time, naming it (clip_grad_norm never sees it).
  for (float bad : {std::nanf(""), INFINITY}) {
    auto changed = state;
    std::vector<float> w = state.at("model.enc.0.ff.fc1.weight").to_vector<float>();
    w[5] = bad;
    changed["model.enc.0.ff.fc1.weight"] = from_vector(w, state.at("model.enc.0.ff.fc1.weight").shape());
    save_safetensors(file, changed);
    check_error([&] { warm_start(*target, file); }, {file, "'model.enc.0.ff.fc1.weight'", "NaN or infinite"});
  }
  // A tensor the model lacks, and one it has that the file lacks.
  auto extra = state;
  extra["model.extra"] = zeros({2}, DType::float32);
  save_safetensors(file, extra);
  check_error([&] { warm_start(*target, file); }, {"'model.extra' ([2] float32) is not in the model"});
  auto missing = state;
  missing.erase("model.head.fc1.bias");
  save_safetensors(file, missing);
  check_error([&] { warm_start(*target, file); }, {"no tensor 'model.head.fc1.bias'"});
  CHECK(target->state_dict().at("emb.weight").to_vector<float>() == before);  // unchanged by every refusal
  save_safetensors(file, state);
  warm_start(*target, file);
  CHECK(target->state_dict().at("emb.weight").to_vector<float>() == state.at("model.emb.weight").to_vector<float>());
  fs::remove_all(dir);
}
#endif
