// Every nn module and functional, in every configuration, passes a gradient to each of its inputs
// and parameters: nothing computes a differentiable result inside a no-grad scope (nn::pool once
// returned mean(x) from inside a NoGradGuard, so a model built on it trained only its head).
// "Passes a gradient" = after backward of sum(out * w) (w fixed, random), every parameter and
// float input has a defined, finite gradient that is not all zeros.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "nn/heads.h"
#include "nn/loss.h"
#include "nn/multi_head_attention.h"
#include "nn/positional.h"
#include "nn/transformer.h"
#include "tests/error_test_util.h"
#ifdef MEMGRAD_HAVE_LRA_PROGRAM
#include "examples/lra/model.h"
#endif

using namespace memgrad;

namespace {

std::string flow_problem(const std::string& what, const Tensor& t) {
  Tensor g = t.grad();
  if (!g.defined()) return what + ": no gradient";
  if (!all_finite(g)) return what + ": non-finite gradient";
  if (g.numel() > 0 && amax(abs(to(g, DType::float64))).item<double>() == 0) return what + ": all-zero gradient";
  return "";
}

// Runs f, backpropagates sum(out * w) and checks every float input and every parameter of m.
void check_flow(const std::string& name, nn::Module* m, const std::vector<Tensor>& inputs,
                const std::function<Tensor(const std::vector<Tensor>&)>& f) {
  CAPTURE(name);
  if (m) m->zero_grad();
  std::vector<Tensor> leaves;
  for (const Tensor& t : inputs) {
    Tensor l = is_floating(t.dtype()) ? detach(t).set_requires_grad(true) : t;
    leaves.push_back(l);
  }
  Tensor out = f(leaves);
  REQUIRE_MESSAGE(out.requires_grad(), name << ": the output does not require grad");
  Generator g(99);
  Tensor w = randn(out.shape(), out.dtype(), &g);
  sum(out * w).backward();
  for (size_t i = 0; i < leaves.size(); ++i)
    if (is_floating(leaves[i].dtype())) {
      std::string p = flow_problem("input " + std::to_string(i), leaves[i]);
      CHECK_MESSAGE(p.empty(), name << ": " << p);
    }
  if (m)
    for (const auto& [pname, t] : m->named_parameters()) {
      std::string p = flow_problem("parameter " + pname, t);
      CHECK_MESSAGE(p.empty(), name << ": " << p);
    }
}

Tensor rnd(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return randn(s, DType::float32, &g);
}

constexpr int64_t B = 2, N = 5, D = 8;

struct MaskCase {
  const char* name;
  Tensor padding, lengths;
};
std::vector<MaskCase> mask_cases() {
  return {{"no mask", Tensor(), Tensor()},
          {"key_padding_mask", from_vector<bool>({false, false, false, true, true, false, false, false, false, false},
                                                 {B, N}),
           Tensor()},
          {"key_lengths", Tensor(), from_vector<int64_t>({3, 5})}};
}

const std::vector<AttentionKind> kKinds = {AttentionKind::vanilla, AttentionKind::chunked, AttentionKind::topk};

AttentionOptions attention_opts(AttentionKind kind, bool causal) {
  AttentionOptions a;
  a.kind = kind;
  a.causal = causal;
  a.top_k = 3;  // < N: topk really selects
  a.q_chunk = 2, a.k_chunk = 2;
  return a;
}

}  // namespace

TEST_CASE("grad flow: basic layers, activations, dropout in train and eval mode") {
  for (bool bias : {true, false}) {
    nn::Linear lin(D, 3, bias);
    check_flow(bias ? "Linear" : "Linear without bias", &lin, {rnd({B, N, D}, 1)},
               [&](const std::vector<Tensor>& x) { return lin.forward(x[0]); });
  }
  nn::Embedding emb(7, D);
  check_flow("Embedding", &emb, {from_vector<int64_t>({1, 3, 3, 6}, {2, 2})},
             [&](const std::vector<Tensor>& x) { return emb.forward(x[0]); });
  nn::LayerNorm ln(D);
  check_flow("LayerNorm", &ln, {rnd({B, N, D}, 2)}, [&](const std::vector<Tensor>& x) { return ln.forward(x[0]); });
  for (bool training : {true, false}) {
    nn::Dropout drop(0.5);
    drop.train(training);
    check_flow(training ? "Dropout (train)" : "Dropout (eval)", &drop, {rnd({B, N, D}, 3)},
               [&](const std::vector<Tensor>& x) { return drop.forward(x[0]); });
    for (auto act : {nn::Activation::gelu, nn::Activation::relu}) {
      nn::FeedForward ff(D, 16, 0.25, act);
      ff.train(training);
      check_flow(std::string("FeedForward ") + (act == nn::Activation::gelu ? "gelu" : "relu") +
                     (training ? " (train)" : " (eval)"),
                 &ff, {rnd({B, N, D}, 4)}, [&](const std::vector<Tensor>& x) { return ff.forward(x[0]); });
      check_flow("activate", nullptr, {rnd({B, D}, 5)},
                 [&](const std::vector<Tensor>& x) { return nn::activate(x[0], act); });
    }
  }
  nn::LearnedPositionalEncoding lpe(N + 3, D);
  check_flow("LearnedPositionalEncoding", &lpe, {rnd({B, N, D}, 6)},
             [&](const std::vector<Tensor>& x) { return lpe.forward(x[0]); });
  nn::SinusoidalPositionalEncoding spe(N + 3, D);
  check_flow("SinusoidalPositionalEncoding", &spe, {rnd({B, N, D}, 7)},
             [&](const std::vector<Tensor>& x) { return spe.forward(x[0]); });
}

TEST_CASE("grad flow: pooling, heads and the loss, with and without masks") {
  for (const auto& mc : mask_cases())
    for (auto how : {nn::Pooling::mean, nn::Pooling::cls}) {
      std::string name = std::string("pool ") + (how == nn::Pooling::mean ? "mean, " : "cls, ") + mc.name;
      check_flow(name, nullptr, {rnd({B, N, D}, 10)},
                 [&](const std::vector<Tensor>& x) { return nn::pool(x[0], how, mc.padding, mc.lengths); });
    }
  // the pooling heads take lengths by attention's rule (autograd/attention.h, key_valid_mask)
  Tensor x = rnd({B, N, D}, 15);
  check_error([&] { nn::pool(x, nn::Pooling::mean, Tensor(), from_vector<int64_t>({6, 1})); },
              {"[pool]", "key_lengths[0] = 6 is out of range"});
  check_error([&] { nn::pool(x, nn::Pooling::mean, Tensor(), from_vector<int64_t>({2, -1})); },
              {"[pool]", "key_lengths[1] = -1"});
  nn::ClassificationHead head(D, 6, 3);
  check_flow("ClassificationHead", &head, {rnd({B, D}, 11)},
             [&](const std::vector<Tensor>& x) { return head.forward(x[0]); });
  nn::RetrievalHead rhead(D, 6, 2);
  check_flow("RetrievalHead", &rhead, {rnd({B, D}, 12), rnd({B, D}, 13)},
             [&](const std::vector<Tensor>& x) { return rhead.forward(x[0], x[1]); });
  Tensor target = from_vector<int64_t>({2, 0});
  check_flow("cross_entropy", nullptr, {rnd({B, 3}, 14)},
             [&](const std::vector<Tensor>& x) { return cross_entropy(x[0], target); });
}

TEST_CASE("grad flow: multi-head attention, every kind, causal or not, every mask") {
  for (AttentionKind kind : kKinds)
    for (bool causal : {false, true})
      for (const auto& mc : mask_cases()) {
        nn::MultiHeadAttention mha(D, 2, attention_opts(kind, causal));
        std::string name = fmt::format("MultiHeadAttention {} causal={} {}", to_string(kind), causal, mc.name);
        check_flow(name, &mha, {rnd({B, N, D}, 20)},
                   [&](const std::vector<Tensor>& x) { return mha.forward(x[0], mc.padding, mc.lengths); });
      }
}

TEST_CASE("grad flow: transformer encoder, every kind, checkpointing on and off, train and eval") {
  for (AttentionKind kind : kKinds)
    for (bool checkpoint : {false, true})
      for (bool training : {true, false})
        for (const auto& mc : mask_cases()) {
          nn::TransformerConfig c;
          c.dim = D, c.heads = 2, c.layers = 2, c.ff_hidden = 16, c.dropout = 0.1;
          c.attention = attention_opts(kind, false);
          c.checkpoint = checkpoint;
          nn::TransformerEncoder enc(c);
          enc.train(training);
          std::string name = fmt::format("TransformerEncoder {} checkpoint={} training={} {}", to_string(kind),
                                         checkpoint, training, mc.name);
          check_flow(name, &enc, {rnd({B, N, D}, 30)},
                     [&](const std::vector<Tensor>& x) { return enc.forward(x[0], mc.padding, mc.lengths); });
        }
}

#ifdef MEMGRAD_HAVE_LRA_PROGRAM
TEST_CASE("grad flow: the lra models (classifier with mean and CLS pooling, two-tower retrieval)") {
  for (AttentionKind kind : kKinds)
    for (auto how : {nn::Pooling::mean, nn::Pooling::cls})
      for (bool pair : {false, true}) {
        lra::ModelConfig c;
        c.vocab = 12, c.classes = 3, c.max_len = N, c.pooling = how, c.pair = pair;
        c.encoder.dim = D, c.encoder.heads = 2, c.encoder.layers = 1, c.encoder.ff_hidden = 16;
        c.encoder.dropout = 0.0;
        c.encoder.attention = attention_opts(kind, false);
        if (pair && how == nn::Pooling::cls) continue;  // the two-tower model mean-pools
        auto model = lra::make_model(c);
        lra::Batch b;
        b.tokens = from_vector<int32_t>({1, 2, 3, 0, 0, 4, 5, 6, 7, 8}, {B, N});
        b.lengths = from_vector<int64_t>({3, 5});
        b.labels = from_vector<int64_t>({0, 2});
        if (pair) b.tokens2 = b.tokens, b.lengths2 = from_vector<int64_t>({5, 2});
        std::string name = fmt::format("lra {} pooling={} pair={}", to_string(kind),
                                       how == nn::Pooling::mean ? "mean" : "cls", pair);
        check_flow(name, model.get(), {}, [&](const std::vector<Tensor>&) { return model->forward(b); });
      }
}
#endif
