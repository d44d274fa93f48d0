// Training end to end: a tiny transformer learns a toy task; attention kinds and reruns agree;
// a checkpoint resumes bitwise.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <random>

#include "autograd/ops.h"
#include "nn/heads.h"
#include "nn/loss.h"
#include "nn/optim/adam.h"
#include "nn/optim/clip.h"
#include "nn/positional.h"
#include "nn/serialization.h"
#include "nn/transformer.h"

using namespace memgrad;
using namespace memgrad::nn;

namespace {

constexpr int64_t kVocab = 9, kLen = 12, kClasses = 8;

// The toy task: label = the largest token of a sequence (tokens 1..8, 0 pads), so every position
// matters and the model must look across the sequence.
struct Batch {
  Tensor tokens;   // int64 [B, kLen]
  Tensor lengths;  // int64 [B]
  Tensor labels;   // int64 [B]
};

Batch make_batch(uint64_t seed, int64_t B) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> tok(B * kLen, 0), len(B), lab(B);
  for (int64_t b = 0; b < B; ++b) {
    len[b] = 6 + static_cast<int64_t>(rng() % (kLen - 5));
    int64_t mx = 0;
    for (int64_t i = 0; i < len[b]; ++i) {
      tok[b * kLen + i] = 1 + static_cast<int64_t>(rng() % 8);
      mx = std::max(mx, tok[b * kLen + i]);
    }
    lab[b] = mx - 1;
  }
  return {from_vector<int64_t>(tok, {B, kLen}), from_vector<int64_t>(len), from_vector<int64_t>(lab)};
}

struct Classifier : Module {
  explicit Classifier(AttentionKind kind, double dropout = 0.1) {
    TransformerConfig c{.dim = 32, .heads = 4, .layers = 1, .ff_hidden = 64, .dropout = dropout,
                        .attention = {.kind = kind, .q_chunk = 4, .k_chunk = 5, .top_k = 8}};
    emb = register_module("emb", std::make_shared<Embedding>(kVocab, 32));
    pos = register_module("pos", std::make_shared<LearnedPositionalEncoding>(kLen, 32));
    enc = register_module("enc", std::make_shared<TransformerEncoder>(c));
    head = register_module("head", std::make_shared<ClassificationHead>(32, 32, kClasses));
  }
  Tensor forward(const Batch& b) const {
    Tensor h = enc->forward(pos->forward(emb->forward(b.tokens)), Tensor(), b.lengths);  // [B, N, D]
    return head->forward(pool(h, Pooling::mean, Tensor(), b.lengths));                   // [B, classes]
  }
  std::shared_ptr<Embedding> emb;
  std::shared_ptr<LearnedPositionalEncoding> pos;
  std::shared_ptr<TransformerEncoder> enc;
  std::shared_ptr<ClassificationHead> head;
};

// One optimisation step on batch `step`; returns the loss.
float train_step(Classifier& model, optim::Optimizer& opt, int64_t step) {
  Batch b = make_batch(1000 + step, 32);
  opt.zero_grad();
  Tensor loss = cross_entropy(model.forward(b), b.labels);
  loss.backward();
  optim::clip_grad_norm(model.parameters(), 1.0);
  opt.step();
  return loss.item<float>();
}

std::vector<float> losses_of(AttentionKind kind, int steps, uint64_t seed) {
  manual_seed(seed);
  Classifier model(kind);
  optim::AdamW opt(model.parameters(), {.lr = 3e-3});
  std::vector<float> out;
  for (int s = 0; s < steps; ++s) out.push_back(train_step(model, opt, s));
  return out;
}

}  // namespace

TEST_CASE("a tiny transformer learns the toy task") {
  manual_seed(3);
  Classifier model(AttentionKind::chunked);
  optim::AdamW opt(model.parameters(), {.lr = 3e-3});
  float first = 0, last = 0;
  for (int s = 0; s < 400; ++s) {
    float l = train_step(model, opt, s);
    if (s == 0) first = l;
    last = l;
  }
  model.eval();
  NoGradGuard ng;
  Batch test = make_batch(7, 512);
  double acc = accuracy(model.forward(test), test.labels);
  MESSAGE("loss " << first << " -> " << last << ", held-out accuracy " << acc);
  CHECK(acc >= 0.95);
}

TEST_CASE("vanilla and chunked attention train alike; topk trains too") {
  auto vanilla = losses_of(AttentionKind::vanilla, 50, 5);
  auto chunked = losses_of(AttentionKind::chunked, 50, 5);
  auto topk = losses_of(AttentionKind::topk, 50, 5);  // top_k 8 < 12: a different model
  double worst = 0;
  for (int s = 0; s < 50; ++s) worst = std::max(worst, static_cast<double>(std::abs(vanilla[s] - chunked[s])));
  MESSAGE("largest loss difference vanilla/chunked over 50 steps: " << worst);
  CHECK(worst <= 1e-4);
  CHECK(topk.back() < topk.front());
}

TEST_CASE("the same seed trains bitwise identically") {
  CHECK(losses_of(AttentionKind::chunked, 20, 9) == losses_of(AttentionKind::chunked, 20, 9));
  CHECK(losses_of(AttentionKind::chunked, 5, 9) != losses_of(AttentionKind::chunked, 5, 10));
}

TEST_CASE("save, load and continue gives the same next step as not stopping") {
  const std::string path = (std::filesystem::temp_directory_path() / "memgrad_resume_test.safetensors").string();
  manual_seed(21);
  Classifier model(AttentionKind::chunked);
  optim::AdamW opt(model.parameters(), {.lr = 3e-3});
  for (int s = 0; s < 10; ++s) train_step(model, opt, s);
  Generator& g = default_generator();
  save_checkpoint(path, model, &opt,
                  {{"rng_seed", std::to_string(g.seed())}, {"rng_offset", std::to_string(g.offset())}});
  const float expected = train_step(model, opt, 10);
  auto expected_params = model.state_dict();

  manual_seed(999);  // a different start, overwritten by the checkpoint
  Classifier resumed(AttentionKind::chunked);
  optim::AdamW opt2(resumed.parameters(), {.lr = 3e-3});
  auto meta = load_checkpoint(path, resumed, &opt2);
  g.set_state(std::stoull(meta.at("rng_seed")), std::stoull(meta.at("rng_offset")));
  CHECK(train_step(resumed, opt2, 10) == expected);
  for (auto& entry : resumed.state_dict())  // not a structured binding: clang < 16 cannot capture one
    CHECK_MESSAGE(contiguous(entry.second).to_vector<float>() ==
                      contiguous(expected_params.at(entry.first)).to_vector<float>(),
                  entry.first);
  std::filesystem::remove(path);
}
