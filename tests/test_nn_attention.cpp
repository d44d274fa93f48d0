// nn::MultiHeadAttention's options (issue 15): cross-attention, grouped-query heads, ALiBi and
// relative position biases, attention dropout in training mode only; each against a hand
// composition through attention(), in every kind that implements the option (the others must name
// it in their error: the vanilla kind, the reference, has every option).
#include <doctest/doctest.h>

#include <string>

#include "autograd/ops.h"
#include "nn/transformer.h"
#include "ops_test_util.h"

using namespace memgrad;
using namespace memgrad::nn;
using memgrad::optest::mismatch;
using memgrad::optest::vals;

namespace {

constexpr AttentionKind kKinds[] = {AttentionKind::vanilla, AttentionKind::chunked, AttentionKind::topk};

Tensor rnd(Shape s, uint64_t seed, DType dt = DType::float32) {
  Generator g(seed);
  return randn(s, dt, &g);
}

// x W^T + b.
Tensor lin(const Tensor& x, const Tensor& w, const Tensor& b) { return matmul(x, transpose(w, 0, 1)) + b; }
// [B, N, H*Dh] -> [B, H, N, Dh] and back.
Tensor split_heads(const Tensor& t, int64_t H) {
  return transpose(reshape(t, {t.size(0), t.size(1), H, t.size(2) / H}), 1, 2);
}
Tensor merge_heads(const Tensor& a) {
  return reshape(transpose(a, 1, 2), {a.size(0), a.size(2), a.size(1) * a.size(3)});
}

// Runs f for each kind (every kind implements every option).
template <class F>
void each_kind(AttentionOptions base, F f) {
  for (AttentionKind kind : kKinds) {
    CAPTURE(to_string(kind));
    AttentionOptions o = base;
    o.kind = kind;
    o.top_k = 1 << 20;  // topk keeps every key: it equals vanilla
    f(o);
  }
}

void check_close(const Tensor& got, const Tensor& ref, double tol = 2e-5) {
  REQUIRE(got.shape() == ref.shape());
  const std::string m = mismatch(vals(got), vals(ref), tol, tol);
  INFO(m);
  CHECK(m.empty());
}

// The relative table or alibi as the options name them, for the hand composition.
AttentionOptions with_table(AttentionOptions o, const MultiHeadAttention& m) {
  o.relative_table = m.rel_table;
  return o;
}

}  // namespace

TEST_CASE("MultiHeadAttention: state-dict names of earlier checkpoints; the new parameters") {
  MultiHeadAttention self(8, 2);
  auto names = [](const Module& m) {
    std::vector<std::string> out;
    for (auto& [n, t] : m.named_parameters()) out.push_back(n + " " + str(t.shape()));
    return out;
  };
  CHECK(names(self) == std::vector<std::string>{"qkv.weight [24, 8]", "qkv.bias [24]", "out.weight [8, 8]", "out.bias [8]"});
  MultiHeadAttention gqa(8, 4, {.position = PositionBias::relative}, {}, {.kv_heads = 1, .relative_buckets = 6});
  // a module's own parameters come before its children's
  CHECK(names(gqa) == std::vector<std::string>{"rel_table [4, 6]", "qkv.weight [12, 8]", "qkv.bias [12]",
                                               "out.weight [8, 8]", "out.bias [8]"});
  MultiHeadAttention cross(8, 2, {}, {}, {.kv_heads = 1, .context_dim = 5});
  CHECK(names(cross) == std::vector<std::string>{"q.weight [8, 8]", "q.bias [8]", "kv.weight [8, 5]", "kv.bias [8]",
                                                 "out.weight [8, 8]", "out.bias [8]"});
  // an old self-attention state dict loads into a module built with the new constructor
  MultiHeadAttention again(8, 2, {.kind = AttentionKind::vanilla}, {}, {});
  again.load_state_dict(self.state_dict());
  Tensor x = rnd({2, 3, 8}, 3);
  check_close(again.forward(x), self.forward(x));
}

TEST_CASE("MultiHeadAttention: cross-attention equals the hand composition") {
  const Tensor x = rnd({2, 5, 8}, 1), ctx = rnd({2, 7, 6}, 2), ctx8 = rnd({2, 7, 8}, 4);
  const Tensor lengths = from_vector<int64_t>({7, 4});
  each_kind({.causal = true, .causal_align = CausalAlign::top_left}, [&](AttentionOptions o) {
    // separate projections, a context of another width
    MultiHeadAttention m(8, 2, o, {}, {.context_dim = 6});
    Tensor q = split_heads(lin(x, m.q->weight, m.q->bias), 2);     // [B, H, Nq, Dh]
    Tensor kv = lin(ctx, m.kv->weight, m.kv->bias);                 // [B, Nk, 2 H Dh]
    Tensor k = split_heads(narrow(kv, 2, 0, 8), 2), v = split_heads(narrow(kv, 2, 8, 8), 2);  // [B, H, Nk, Dh]
    AttentionOptions ro = o;
    ro.key_lengths = lengths;
    Tensor ref = lin(merge_heads(attention(q, k, v, ro)), m.out->weight, m.out->bias);  // [B, Nq, dim]
    check_close(m.forward(x, ctx, {.key_lengths = lengths}), ref);
    // the fused projection: q rows read x, k/v rows read the context
    MultiHeadAttention f(8, 2, o);
    Tensor w = f.qkv->weight, b = f.qkv->bias;
    Tensor fq = split_heads(lin(x, narrow(w, 0, 0, 8), narrow(b, 0, 0, 8)), 2);
    Tensor fk = split_heads(lin(ctx8, narrow(w, 0, 8, 8), narrow(b, 0, 8, 8)), 2);
    Tensor fv = split_heads(lin(ctx8, narrow(w, 0, 16, 8), narrow(b, 0, 16, 8)), 2);
    Tensor fref = lin(merge_heads(attention(fq, fk, fv, o)), f.out->weight, f.out->bias);
    check_close(f.forward(x, ctx8, AttentionMasks{}), fref);
    // a context-less call of the fused module is self-attention
    check_close(f.forward(x, x, AttentionMasks{}), f.forward(x));
  });
}

TEST_CASE("MultiHeadAttention: an input norm equals layer_norm first, self- and cross-attention, with gradients") {
  const Tensor g = rnd({8}, 5) + 1.0, bt = rnd({8}, 6), ctx = rnd({2, 7, 6}, 2);
  const InputNorm norm{.on = true, .weight = g, .bias = bt};
  each_kind({}, [&](AttentionOptions o) {
    MultiHeadAttention self(8, 2, o), cross(8, 2, o, {}, {.context_dim = 6});
    for (MultiHeadAttention* m : {&self, &cross}) {
      const Tensor c = m == &cross ? ctx : Tensor();
      const Tensor x1 = rnd({2, 5, 8}, 1).set_requires_grad(), x2 = rnd({2, 5, 8}, 1).set_requires_grad();
      const Tensor y = m->forward(x1, c, AttentionMasks{}, norm);  // the norm inside the projection's op
      const Tensor ref = m->forward(layer_norm(x2, g, bt), c, AttentionMasks{});
      check_close(y, ref);
      sum(y * detach(ref)).backward();
      sum(ref * detach(ref)).backward();
      check_close(x1.grad(), x2.grad());
    }
  });
}

TEST_CASE("MultiHeadAttention: grouped-query heads equal full heads with repeated k/v weights") {
  const int64_t D = 12, H = 6, Hkv = 2, Dh = 2, G = H / Hkv;
  const Tensor x = rnd({2, 7, D}, 5);
  each_kind({.causal = true}, [&](AttentionOptions o) {
    MultiHeadAttention gqa(D, H, o, {}, {.kv_heads = Hkv});
    MultiHeadAttention full(D, H, o);
    {
      NoGradGuard ng;
      // full's k (and v) head h is gqa's kv head h / G: rows [D + h Dh, D + (h+1) Dh)
      std::vector<Tensor> w{narrow(gqa.qkv->weight, 0, 0, D)}, b{narrow(gqa.qkv->bias, 0, 0, D)};
      for (int64_t part = 0; part < 2; ++part)
        for (int64_t h = 0; h < H; ++h) {
          const int64_t row = D + (part * Hkv + h / G) * Dh;
          w.push_back(narrow(gqa.qkv->weight, 0, row, Dh));
          b.push_back(narrow(gqa.qkv->bias, 0, row, Dh));
        }
      copy_(full.qkv->weight, cat(w, 0));
      copy_(full.qkv->bias, cat(b, 0));
      copy_(full.out->weight, gqa.out->weight);
      copy_(full.out->bias, gqa.out->bias);
    }
    check_close(gqa.forward(x), full.forward(x));
  });
  CHECK_THROWS_WITH_AS(MultiHeadAttention(12, 6, {}, {}, {.kv_heads = 4}),
                       doctest::Contains("[MultiHeadAttention] kv_heads 4 must divide heads 6"), Error);
}

TEST_CASE("MultiHeadAttention: ALiBi and relative position biases equal attention() with the same options") {
  const Tensor x = rnd({2, 9, 8}, 6);
  for (PositionBias pos : {PositionBias::alibi, PositionBias::relative}) {
    CAPTURE(to_string(pos));
    each_kind({.window_left = 3, .window_right = 2, .position = pos, .relative_max_distance = 6},
              [&](AttentionOptions o) {
                MultiHeadAttention m(8, 4, o, {}, {.relative_buckets = 8});
                CHECK(m.rel_table.defined() == (pos == PositionBias::relative));
                Tensor p = reshape(lin(x, m.qkv->weight, m.qkv->bias), {2, 9, 3, 8});  // [B, N, q|k|v, dim]
                Tensor q = split_heads(select(p, 2, 0), 4), k = split_heads(select(p, 2, 1), 4),
                       v = split_heads(select(p, 2, 2), 4);
                Tensor ref = lin(merge_heads(attention(q, k, v, with_table(o, m))), m.out->weight, m.out->bias);
                Tensor got = m.forward(x);
                check_close(got, ref);
                // the bias matters: without it the output differs
                AttentionOptions plain = o;
                plain.position = PositionBias::none;
                Tensor none = lin(merge_heads(attention(q, k, v, plain)), m.out->weight, m.out->bias);
                CHECK(!mismatch(vals(got), vals(none), 1e-4, 1e-4).empty());
              });
  }
}

TEST_CASE("MultiHeadAttention: attention dropout in training mode only, seeded") {
  const Tensor x = rnd({2, 6, 8}, 7);
  each_kind({}, [&](AttentionOptions o) {
    Generator g(11);
    o.dropout_p = 0.4;
    MultiHeadAttention m(8, 2, o, {.gen = &g});
    AttentionOptions plain = o;
    plain.dropout_p = 0;
    MultiHeadAttention ref(8, 2, plain);
    ref.load_state_dict(m.state_dict());
    m.eval();
    check_close(m.forward(x), ref.forward(x));  // eval: no dropout
    m.train();
    g.set_state(123, 0);
    Tensor a = m.forward(x);
    g.set_state(123, 0);
    Tensor b = m.forward(x);
    CHECK(vals(a) == vals(b));  // the same generator state, the same keep pattern
    CHECK(!mismatch(vals(a), vals(ref.forward(x)), 1e-4, 1e-4).empty());
    Tensor c = m.forward(x);  // the generator moved on: another pattern
    CHECK(!mismatch(vals(a), vals(c), 1e-4, 1e-4).empty());
  });
}

TEST_CASE("gradcheck: MultiHeadAttention with cross-attention, grouped-query heads and relative bias") {
  const Tensor x0 = rnd({2, 4, 8}, 8, DType::float64), c0 = rnd({2, 5, 6}, 9, DType::float64);
  each_kind({.causal = true, .position = PositionBias::relative, .relative_max_distance = 5}, [&](AttentionOptions o) {
    o.q_chunk = 2, o.k_chunk = 3;
    MultiHeadAttention m(8, 4, o, {}, {.kv_heads = 2, .context_dim = 6, .relative_buckets = 6});
    m.to(DType::float64);
    std::vector<Tensor> inputs{detach(x0).set_requires_grad(), detach(c0).set_requires_grad()};
    for (auto& p : m.parameters()) inputs.push_back(p);
    const Tensor lengths = from_vector<int64_t>({5, 3});
    auto r = gradcheck(
        [&](const std::vector<Tensor>& in) {
          return std::vector<Tensor>{m.forward(in[0], in[1], {.key_lengths = lengths})};
        },
        inputs);
    INFO(r.message);
    CHECK(r.ok);
  });
}

TEST_CASE("TransformerEncoder passes kv_heads, position, window and attention dropout to every layer") {
  TransformerConfig c{.dim = 8, .heads = 4, .layers = 2, .ff_hidden = 12, .dropout = 0.0,
                      .attention = {.kind = AttentionKind::vanilla, .window_left = 2, .window_right = 2,
                                    .position = PositionBias::relative, .dropout_p = 0.25},
                      .kv_heads = 2, .relative_buckets = 10};
  TransformerEncoder enc(c);
  for (const auto& layer : enc.layers) {
    CHECK(layer->attn->kv_heads == 2);
    CHECK(layer->attn->rel_table.shape() == Shape({4, 10}));
    CHECK(layer->attn->options.window_left == 2);
    CHECK(layer->attn->options.dropout_p == 0.25);
  }
  CHECK(enc.state_dict().count("0.attn.rel_table") == 1);
  enc.eval();
  const Tensor x = rnd({1, 6, 8}, 10);
  Tensor a = enc.forward(x), b = enc.forward(x);
  CHECK(vals(a) == vals(b));  // eval: deterministic
  // packed sequences through the masks: two sequences of 2 and 4 tokens equal separate runs
  Tensor cu = from_vector<int64_t>({0, 2, 6});
  Tensor packed = enc.forward(x, AttentionMasks{.cu_seqlens_q = cu, .cu_seqlens_k = cu});
  check_close(narrow(packed, 1, 0, 2), enc.forward(narrow(x, 1, 0, 2)));
  check_close(narrow(packed, 1, 2, 4), enc.forward(narrow(x, 1, 2, 4)));
}

TEST_CASE("MultiHeadAttention: bad layouts and contexts are errors naming the module") {
  CHECK_THROWS_WITH_AS(MultiHeadAttention(8, 2, {}, {}, {.context_dim = -1}),
                       doctest::Contains("[MultiHeadAttention] context_dim -1 must not be negative"), Error);
  CHECK_THROWS_WITH_AS(MultiHeadAttention(8, 2, {.position = PositionBias::relative}, {}, {.relative_buckets = 1}),
                       doctest::Contains("[MultiHeadAttention] relative_buckets 1 must be at least 2"), Error);
  MultiHeadAttention fused(8, 2, {.kind = AttentionKind::vanilla});
  CHECK_THROWS_WITH_AS(fused.forward(rnd({2, 3, 8}, 1), rnd({2, 4, 6}, 2), AttentionMasks{}),
                       doctest::Contains("[MultiHeadAttention] context of shape [2, 4, 6] for x [2, 3, 8]: expected "
                                         "[2, Nk, 8] (give context_dim for a context of another width)"),
                       Error);
  MultiHeadAttention cross(8, 2, {.kind = AttentionKind::vanilla}, {}, {.context_dim = 6});
  CHECK_THROWS_WITH_AS(cross.forward(rnd({2, 3, 8}, 1), rnd({1, 4, 6}, 2), AttentionMasks{}),
                       doctest::Contains("expected [2, Nk, 6]"), Error);
  CHECK_THROWS_WITH_AS(cross.forward(rnd({2, 3, 8}, 1)), doctest::Contains("expected [2, Nk, 6]"), Error);
}
