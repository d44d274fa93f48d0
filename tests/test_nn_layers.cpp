// nn layers: gradchecks (float64, over inputs and parameters), the module tree and state dicts.
#include <doctest/doctest.h>

#include "autograd/ops.h"
#include "nn/heads.h"
#include "nn/layers.h"
#include "nn/positional.h"
#include "nn/transformer.h"

using namespace memgrad;
using namespace memgrad::nn;

namespace {

// gradcheck of `f(x)` with respect to x and every parameter of `m` (converted to float64).
template <class F>
void check_layer(Module& m, const Tensor& x, F f) {
  m.to(DType::float64);
  std::vector<Tensor> inputs{x};
  for (auto& p : m.parameters()) inputs.push_back(p);
  auto r = gradcheck([&](const std::vector<Tensor>& in) { return std::vector<Tensor>{f(in[0])}; }, inputs);
  INFO(r.message);
  CHECK(r.ok);
}

Tensor input(Shape s, uint64_t seed = 1) {
  Generator g(seed);
  return randn(s, DType::float64, &g).set_requires_grad();
}

}  // namespace

TEST_CASE("gradcheck: Linear, LayerNorm, FeedForward, Dropout") {
  Linear lin(5, 3);
  check_layer(lin, input({2, 4, 5}), [&](const Tensor& x) { return lin.forward(x); });
  Linear nobias(5, 3, false);
  CHECK(!nobias.bias.defined());
  check_layer(nobias, input({4, 5}), [&](const Tensor& x) { return nobias.forward(x); });
  LayerNorm ln(6);
  check_layer(ln, input({3, 6}), [&](const Tensor& x) { return ln.forward(x); });
  FeedForward ff(4, 7, 0.0, Activation::relu);
  check_layer(ff, input({2, 3, 4}, 3), [&](const Tensor& x) { return ff.forward(x); });
  FeedForward ffg(4, 7, 0.0, Activation::gelu);
  check_layer(ffg, input({2, 3, 4}, 4), [&](const Tensor& x) { return ffg.forward(x); });
  Generator g(5);
  Dropout drop(0.3, &g);
  check_layer(drop, input({20}), [&](const Tensor& x) {
    g.set_state(5, 0);  // the same mask in every evaluation
    return drop.forward(x);
  });
}

TEST_CASE("gradcheck: Embedding and position encodings") {
  Embedding emb(7, 4);
  Tensor ids = from_vector<int64_t>({1, 3, 3, 6, 0, 1}, {2, 3});
  emb.to(DType::float64);
  auto r = gradcheck([&](const std::vector<Tensor>&) { return std::vector<Tensor>{emb.forward(ids)}; },
                     {emb.weight});
  INFO(r.message);
  CHECK(r.ok);
  LearnedPositionalEncoding lpe(10, 4);
  check_layer(lpe, input({2, 6, 4}), [&](const Tensor& x) { return lpe.forward(x); });
  SinusoidalPositionalEncoding spe(10, 4);
  CHECK(spe.parameters().empty());
  CHECK(spe.named_buffers().size() == 1);
  check_layer(spe, input({2, 6, 4}), [&](const Tensor& x) { return spe.forward(x); });
  CHECK(spe.table.at<double>({0, 1}) == 1.0);  // cos(0)
}

TEST_CASE("gradcheck: multi-head attention of every kind, with masks") {
  for (auto kind : {AttentionKind::vanilla, AttentionKind::chunked, AttentionKind::topk}) {
    CAPTURE(to_string(kind));
    MultiHeadAttention mha(8, 2, {.kind = kind, .causal = true, .q_chunk = 2, .k_chunk = 3, .top_k = 3});
    Tensor lengths = from_vector<int64_t>({5, 3});
    check_layer(mha, input({2, 5, 8}, 7), [&](const Tensor& x) { return mha.forward(x, Tensor(), lengths); });
  }
}

TEST_CASE("gradcheck: transformer layers, with and without checkpointing, and heads") {
  for (bool ckpt : {false, true}) {
    CAPTURE(ckpt);
    TransformerConfig c{.dim = 8, .heads = 2, .layers = 2, .ff_hidden = 12, .dropout = 0.0,
                        .attention = {.kind = AttentionKind::chunked, .q_chunk = 2, .k_chunk = 2}, .checkpoint = ckpt};
    TransformerEncoder enc(c);
    Tensor mask = from_vector<bool>({false, false, false, true, false, false, false, false}, {2, 4});
    check_layer(enc, input({2, 4, 8}, 9), [&](const Tensor& x) { return enc.forward(x, mask); });
  }
  ClassificationHead head(6, 5, 3);
  check_layer(head, input({4, 6}), [&](const Tensor& x) { return head.forward(x); });
  RetrievalHead rh(3, 4, 2);
  Tensor v = input({2, 3}, 11);
  check_layer(rh, input({2, 3}, 12), [&](const Tensor& u) { return rh.forward(u, v); });
}

TEST_CASE("pooling over valid tokens") {
  Tensor x = reshape(arange(0, 12, 1, DType::float64), {2, 3, 2});  // [B=2, N=3, D=2]
  Tensor m = pool(x, Pooling::mean, Tensor(), from_vector<int64_t>({1, 2}));
  CHECK(m.to_vector<double>() == std::vector<double>{0, 1, 7, 8});
  Tensor pad = from_vector<bool>({false, true, true, true, true, true}, {2, 3});
  CHECK(pool(x, Pooling::mean, pad).to_vector<double>() == std::vector<double>{0, 1, 0, 0});  // empty row -> 0
  CHECK(pool(x, Pooling::cls).to_vector<double>() == std::vector<double>{0, 1, 6, 7});
  CHECK(pool(x, Pooling::mean).to_vector<double>() == std::vector<double>{2, 3, 8, 9});
  auto r = gradcheck(
      [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{pool(in[0], Pooling::mean, pad)}; },
      {input({2, 3, 2})});
  CHECK(r.ok);
}

TEST_CASE("masked mean pooling allocates nothing of x's size, forward or backward beyond x's gradient") {
  Generator gen(3);
  const int64_t B = 4, N = 256, D = 64;
  Tensor x = randn({B, N, D}, DType::float32, &gen).set_requires_grad();
  const Tensor lengths = from_vector<int64_t>({256, 1, 100, 0});
  const int64_t x_bytes = B * N * D * 4;
  Tensor pooled;
  {
    memory::PeakMeter meter;
    pooled = pool(x, Pooling::mean, Tensor(), lengths);  // [B, D]
    // the weights [B, 1, N] and the result; x * valid would be a second [B, N, D]
    CHECK(meter.overhead() < x_bytes / 8);
  }
  {
    memory::PeakMeter meter;
    sum(pooled).backward();
    CHECK(meter.overhead() < x_bytes + x_bytes / 8);  // x's gradient and [B, N]-sized pieces
  }
  // the gradient is each valid token's 1 / length, 0 for padding and for the empty row
  const std::vector<float> g = x.grad().to_vector<float>();
  CHECK(g[0] == doctest::Approx(1.0 / 256));
  CHECK(g[(1 * N + 0) * D] == 1.0f);
  CHECK(g[(1 * N + 1) * D] == 0.0f);
  CHECK(g[(2 * N + 99) * D + 5] == doctest::Approx(1.0 / 100));
  CHECK(g[(2 * N + 100) * D + 5] == 0.0f);
  CHECK(g[(3 * N + 7) * D] == 0.0f);
}

TEST_CASE("module tree: names, counts, modes") {
  TransformerConfig c{.dim = 8, .heads = 2, .layers = 2, .ff_hidden = 16};
  TransformerEncoder enc(c);
  auto names = enc.named_parameters();
  CHECK(names.front().first == "0.ln1.weight");
  CHECK(names.back().first == "norm.bias");
  bool found = false;
  for (auto& [n, t] : names) found |= n == "1.attn.qkv.weight" && t.shape() == Shape{24, 8};
  CHECK(found);
  // per layer: 2 LayerNorms (2*8 each), qkv (24*8+24), out (8*8+8), ff (8*16+16 + 16*8+8); plus the final norm
  const int64_t per_layer = 2 * 16 + (24 * 8 + 24) + (8 * 8 + 8) + (8 * 16 + 16) + (16 * 8 + 8);
  CHECK(enc.num_parameters() == 2 * per_layer + 16);
  enc.eval();
  CHECK(!enc.layers[1]->drop2->is_training());
  enc.train();
  CHECK(enc.layers[1]->drop2->is_training());
  auto mods = enc.named_modules();
  CHECK(mods[0].first.empty());
  CHECK(mods[1].first == "0");
  CHECK(mods[2].first == "0.ln1");
}

TEST_CASE("load_state_dict checks before it writes") {
  Linear a(3, 2), b(3, 2);
  auto before = a.weight.to_vector<float>();
  auto state = b.state_dict();
  a.load_state_dict(state);
  CHECK(a.weight.to_vector<float>() == b.weight.to_vector<float>());
  Linear c(3, 2);
  auto c_before = c.weight.to_vector<float>();
  auto bad = b.state_dict();
  bad["bias"] = zeros({3});
  CHECK_THROWS_WITH_AS(c.load_state_dict(bad), doctest::Contains("tensor 'bias' has shape [3] float32 in the state but [2] float32"), Error);
  CHECK(c.weight.to_vector<float>() == c_before);  // unchanged, although 'weight' came first and was fine
  auto missing = b.state_dict();
  missing.erase("bias");
  CHECK_THROWS_WITH_AS(c.load_state_dict(missing), doctest::Contains("missing tensor 'bias'"), Error);
  c.load_state_dict(missing, /*strict=*/false);
  CHECK(c.weight.to_vector<float>() == b.weight.to_vector<float>());
  auto extra = b.state_dict();
  extra["other"] = zeros({1});
  CHECK_THROWS_WITH_AS(c.load_state_dict(extra), doctest::Contains("unexpected tensor 'other'"), Error);
  (void)before;
}

TEST_CASE("layer errors name the layer and shapes") {
  Linear lin(5, 3);
  CHECK_THROWS_WITH_AS(lin.forward(zeros({2, 4})), doctest::Contains("[Linear] input of shape [2, 4] for a layer with 5 input features"), Error);
  CHECK_THROWS_WITH_AS(MultiHeadAttention(10, 3), doctest::Contains("[MultiHeadAttention] dim 10 is not divisible into 3 heads"), Error);
  LearnedPositionalEncoding pe(4, 8);
  CHECK_THROWS_WITH_AS(pe.forward(zeros({1, 5, 8})), doctest::Contains("does not fit a table of 4 positions"), Error);
}

TEST_CASE("Module::to keeps tensor identity") {
  Linear lin(2, 2);
  Tensor w = lin.weight;
  lin.to(DType::float64);
  CHECK(w.dtype() == DType::float64);
  CHECK(lin.named_parameters()[0].second.impl() == w.impl());
  CHECK(w.requires_grad());
}
