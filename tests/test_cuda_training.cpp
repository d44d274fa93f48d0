// A small transformer trains on the GPU with the CPU's loss curve (same seed, same batches).
#include <doctest/doctest.h>

#include <random>

#include "autograd/ops.h"
#include "cuda_test_util.h"
#include "nn/heads.h"
#include "nn/optim/adam.h"
#include "nn/optim/clip.h"
#include "nn/positional.h"
#include "nn/transformer.h"

using namespace memgrad;
using namespace memgrad::nn;
using namespace memgrad::cudatest;

namespace {

constexpr int64_t kVocab = 9, kLen = 24, kClasses = 8, kDim = 32;

struct Batch {
  Tensor tokens, lengths, labels;  // int64 [B, kLen], [B], [B]
};

// label = the largest token (1..8) of a sequence padded with 0.
Batch make_batch(uint64_t seed, int64_t B, Device dev) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> tok(B * kLen, 0), len(B), lab(B);
  for (int64_t b = 0; b < B; ++b) {
    len[b] = 8 + static_cast<int64_t>(rng() % (kLen - 7));
    int64_t mx = 0;
    for (int64_t i = 0; i < len[b]; ++i) mx = std::max(mx, tok[b * kLen + i] = 1 + static_cast<int64_t>(rng() % 8));
    lab[b] = mx - 1;
  }
  return {from_vector<int64_t>(tok, {B, kLen}, dev), from_vector<int64_t>(len, {B}, dev),
          from_vector<int64_t>(lab, {B}, dev)};
}

struct Classifier : Module {
  explicit Classifier(AttentionKind kind) {
    TransformerConfig c{.dim = kDim, .heads = 4, .layers = 2, .ff_hidden = 64, .dropout = 0.1,
                        .attention = {.kind = kind, .q_chunk = 8, .k_chunk = 8, .top_k = 6}};
    emb = register_module("emb", std::make_shared<Embedding>(kVocab, kDim));
    pos = register_module("pos", std::make_shared<LearnedPositionalEncoding>(kLen, kDim));
    enc = register_module("enc", std::make_shared<TransformerEncoder>(c));
    head = register_module("head", std::make_shared<ClassificationHead>(kDim, kDim, kClasses));
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

std::vector<float> loss_curve(AttentionKind kind, Device dev, int steps) {
  manual_seed(17);
  Classifier model(kind);  // initialised on the CPU from the seed, then moved
  model.to(dev);
  manual_seed(18);  // dropout masks: the same stream on both devices
  optim::AdamW opt(model.parameters(), {.lr = 3e-3});
  std::vector<float> losses;
  for (int s = 0; s < steps; ++s) {
    Batch b = make_batch(500 + s, 16, dev);
    opt.zero_grad();
    Tensor loss = cross_entropy(model.forward(b), b.labels);
    loss.backward();
    optim::clip_grad_norm(model.parameters(), 1.0);
    opt.step();
    losses.push_back(loss.item<float>());
  }
  return losses;
}

}  // namespace

TEST_CASE("cuda training: a transformer's loss curve on the GPU equals the CPU's to 1e-3") {
  if (skip_without_test_device()) return;
  for (AttentionKind kind : {AttentionKind::vanilla, AttentionKind::chunked, AttentionKind::topk}) {
    INFO(to_string(kind));
    const auto cpu = loss_curve(kind, Device::cpu(), 30);
    const auto gpu = loss_curve(kind, test_device(), 30);
    double worst = 0;
    for (size_t s = 0; s < cpu.size(); ++s) worst = std::max(worst, static_cast<double>(std::abs(cpu[s] - gpu[s])));
    MESSAGE(to_string(kind) << ": loss " << cpu.front() << " -> " << cpu.back() << " (cpu), " << gpu.back()
                            << " (gpu); largest difference " << worst);
    CHECK(worst <= 1e-3);
    CHECK(gpu.back() < gpu.front());
  }
}
