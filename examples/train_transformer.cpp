// The smallest complete program that trains a transformer with memgrad: a 2-layer pre-LN encoder
// learns a pointer task (the first token names a position; the label is the token found there),
// which it can only solve by attending across the sequence. Copy this file to start your own.
//
//   train_transformer [--attention chunked|vanilla|topk] [--steps 600] [--seed 0] [--lr 2e-3]
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <random>

#include "autograd/ops.h"
#include "nn/heads.h"
#include "nn/loss.h"
#include "nn/optim/adam.h"
#include "nn/optim/clip.h"
#include "nn/optim/schedule.h"
#include "nn/positional.h"
#include "nn/transformer.h"

using namespace memgrad;

constexpr int64_t kLen = 16;     // sequence length
constexpr int64_t kValues = 10;  // token values 0..9 (ids 16..25; ids 1..15 name positions)

struct Batch {
  Tensor tokens;  // int64 [B, kLen]
  Tensor labels;  // int64 [B]
};

// tokens[0] = p in 1..kLen-1 (a position), tokens[1:] = random values; label = value at position p.
Batch make_batch(std::mt19937_64& rng, int64_t B) {
  std::vector<int64_t> tok(B * kLen), lab(B);
  for (int64_t b = 0; b < B; ++b) {
    int64_t p = 1 + static_cast<int64_t>(rng() % (kLen - 1));
    tok[b * kLen] = p;
    for (int64_t i = 1; i < kLen; ++i) tok[b * kLen + i] = kLen + static_cast<int64_t>(rng() % kValues);
    lab[b] = tok[b * kLen + p] - kLen;
  }
  return {from_vector<int64_t>(tok, {B, kLen}), from_vector<int64_t>(lab)};
}

struct PointerModel : nn::Module {
  explicit PointerModel(const nn::TransformerConfig& c) {
    emb = register_module("emb", std::make_shared<nn::Embedding>(kLen + kValues, c.dim));
    pos = register_module("pos", std::make_shared<nn::LearnedPositionalEncoding>(kLen, c.dim));
    enc = register_module("enc", std::make_shared<nn::TransformerEncoder>(c));
    head = register_module("head", std::make_shared<nn::ClassificationHead>(c.dim, c.dim, kValues));
  }
  Tensor forward(const Tensor& tokens) const {
    Tensor x = pos->forward(emb->forward(tokens));  // [B, N, D]; the embedding output dies here, not after enc
    Tensor h = enc->forward(x);                     // [B, N, D]
    return head->forward(nn::pool(h, nn::Pooling::cls));           // first token's state -> [B, classes]
  }
  std::shared_ptr<nn::Embedding> emb;
  std::shared_ptr<nn::LearnedPositionalEncoding> pos;
  std::shared_ptr<nn::TransformerEncoder> enc;
  std::shared_ptr<nn::ClassificationHead> head;
};

int main(int argc, char** argv) {
  std::string kind = "chunked";
  int64_t steps = 600, batch = 64;
  uint64_t seed = 0;
  double lr = 2e-3;
  CLI::App app{"Train a small transformer on a pointer task"};
  app.add_option("--attention", kind, "vanilla | chunked | topk")->capture_default_str();
  app.add_option("--steps", steps)->capture_default_str();
  app.add_option("--batch", batch)->capture_default_str();
  app.add_option("--seed", seed)->capture_default_str();
  app.add_option("--lr", lr)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    manual_seed(seed);
    nn::TransformerConfig config{.dim = 64, .heads = 4, .layers = 2, .ff_hidden = 128, .dropout = 0.0,
                                 .attention = {.kind = parse_attention_kind(kind)}};
    PointerModel model(config);
    optim::AdamW opt(model.parameters(), {.lr = lr, .weight_decay = 0.01});
    optim::WarmupCosine schedule(lr, steps / 10, steps, lr / 10);  // linear warmup, cosine decay
    std::printf("%lld parameters, %s attention, %lld steps of %lld sequences of length %lld\n",
                static_cast<long long>(model.num_parameters()), kind.c_str(), static_cast<long long>(steps),
                static_cast<long long>(batch), static_cast<long long>(kLen));

    std::mt19937_64 rng(seed + 1);
    Batch held_out = make_batch(rng, 1000);
    auto t0 = std::chrono::steady_clock::now();
    int64_t peak = 0;
    for (int64_t step = 0; step < steps; ++step) {
      Batch b = make_batch(rng, batch);
      memory::PeakMeter meter;
      opt.set_lr(schedule(step));
      opt.zero_grad();
      Tensor logits = model.forward(b.tokens);  // [B, classes]
      Tensor loss = cross_entropy(logits, b.labels);
      loss.backward();
      optim::clip_grad_norm(model.parameters(), 1.0);
      opt.step();
      peak = std::max(peak, meter.overhead());
      if (step % 50 == 0 || step == steps - 1)
        std::printf("step %4lld  loss %.4f  batch accuracy %.3f\n", static_cast<long long>(step), loss.item<float>(),
                    nn::accuracy(logits, b.labels));
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    model.eval();
    NoGradGuard no_grad;
    double acc = nn::accuracy(model.forward(held_out.tokens), held_out.labels);
    std::printf("held-out accuracy %.3f (chance %.3f); %.1f s, %.1f steps/s; peak memory of a step %.2f MiB\n", acc,
                1.0 / kValues, secs, steps / secs, peak / 1048576.0);
    return acc > 0.9 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}
