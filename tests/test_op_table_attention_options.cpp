// Op table rows: attention's options (issue 15) in each kind, against the loop reference of
// tests/attention_options_ref.h: sliding windows, attn_mask, a differentiable bias, ALiBi, the T5
// relative table (differentiable), grouped-query heads, packed sequences, dropout, and their
// combinations. The harness (tests/op_table.h) adds every view kind, float64 gradchecks (the bias
// and the relative table included), error messages and CUDA against the CPU. Small blocks (2 x 2)
// so the chunked and topk kinds cross several blocks, and block skipping is exercised.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>

#include "attention_options_ref.h"
#include "autograd/attention.h"
#include "backends/attention_scores.h"
#include "op_table.h"

using namespace memgrad;
using namespace memgrad::optable;

namespace {

constexpr int64_t kBuckets = 8, kMaxDistance = 5, kTopK = 3;
constexpr double kDropP = 0.3;
constexpr uint64_t kDropSeed = 1234;

struct Case {
  std::string name;
  int64_t B = 2, H = 2, Hkv = 2, Nq = 5, Nk = 6;
  bool causal = false, top_left = false;
  int64_t wl = -1, wr = -1;
  bool mask = false, bias = false, padding = false, alibi = false, relative = false, dropout = false;
  std::vector<int64_t> cu_q, cu_k;
};

// Input positions: q, k, v, then [mask] [bias] [padding] [table] in this order.
struct Slots {
  int mask = -1, bias = -1, padding = -1, table = -1;
};

Slots slots_of(const Case& c) {
  Slots s;
  int n = 3;
  if (c.mask) s.mask = n++;
  if (c.bias) s.bias = n++;
  if (c.padding) s.padding = n++;
  if (c.relative) s.table = n++;
  return s;
}

std::vector<Input> inputs_of(const Case& c) {
  std::vector<Input> in_ = {in({c.B, c.H, c.Nq, 4}), in({c.B, c.Hkv, c.Nk, 4}), in({c.B, c.Hkv, c.Nk, 3})};
  if (c.mask) in_.push_back(optable::mask({c.B, 1, c.Nq, c.Nk}));  // broadcast over heads
  if (c.bias) in_.push_back(in({1, c.H, c.Nq, c.Nk}));              // broadcast over the batch
  if (c.padding) in_.push_back(optable::mask({c.B, c.Nk}));
  if (c.relative) in_.push_back(in({c.H, kBuckets}));
  return in_;
}

AttentionOptions options_of(const Case& c, AttentionKind kind, const std::vector<Tensor>& x) {
  const Slots s = slots_of(c);
  AttentionOptions o{.kind = kind, .causal = c.causal, .q_chunk = 2, .k_chunk = 2};
  o.causal_align = c.top_left ? CausalAlign::top_left : CausalAlign::bottom_right;
  o.window_left = c.wl, o.window_right = c.wr;
  if (kind == AttentionKind::topk) o.top_k = kTopK;
  if (c.mask) o.attn_mask = x[s.mask];
  if (c.bias) o.bias = x[s.bias];
  if (c.padding) o.key_padding_mask = x[s.padding];
  if (c.alibi) o.position = PositionBias::alibi;
  if (c.relative) o.position = PositionBias::relative, o.relative_table = x[s.table], o.relative_max_distance = kMaxDistance;
  if (!c.cu_q.empty()) {
    o.cu_seqlens_q = from_vector(c.cu_q, {static_cast<int64_t>(c.cu_q.size())});
    o.cu_seqlens_k = from_vector(c.cu_k, {static_cast<int64_t>(c.cu_k.size())});
  }
  if (c.dropout) o.dropout_p = kDropP;
  return o;
}

attnref::Options ref_options(const Case& c, AttentionKind kind, const std::vector<Tensor>& x) {
  const Slots s = slots_of(c);
  attnref::Options r{.B = c.B, .H = c.H, .Hkv = c.Hkv, .Nq = c.Nq, .Nk = c.Nk, .D = 4, .Dv = 3, .scale = 0.5,
                     .causal = c.causal, .top_left = c.top_left, .window_left = c.wl, .window_right = c.wr};
  auto mask = c.mask ? optest::vals(x[s.mask]) : Vec{};
  auto pad = c.padding ? optest::vals(x[s.padding]) : Vec{};
  const int64_t Nq = c.Nq, Nk = c.Nk;
  if (c.mask || c.padding)
    r.allowed = [=](int64_t b, int64_t, int64_t i, int64_t j) {
      if (!pad.empty() && pad[b * Nk + j] != 0) return false;  // true = padding
      return mask.empty() || mask[(b * Nq + i) * Nk + j] != 0;
    };
  if (c.bias) {
    Vec bias = optest::vals(x[s.bias]);
    r.bias = [=](int64_t, int64_t h, int64_t i, int64_t j) { return bias[(h * Nq + i) * Nk + j]; };
  }
  if (c.alibi)
    for (int64_t h = 0; h < c.H; ++h) r.alibi.push_back(alibi_default_slope(h, c.H));
  if (c.relative) r.table = optest::vals(x[s.table]), r.buckets = kBuckets, r.max_distance = kMaxDistance;
  r.cu_q = c.cu_q, r.cu_k = c.cu_k;
  if (c.dropout) r.dropout = make_dropout_rule(kDropP, kDropSeed, 0);  // a fresh generator's first call
  if (kind == AttentionKind::topk) r.top_k = kTopK;
  return r;
}

Row option_row(AttentionKind kind, const Case& c) {
  return {.op = "attention",
          .name = to_string(kind) + " attention, " + c.name,
          .inputs = inputs_of(c),
          .fn = f1([=](const std::vector<Tensor>& x) {
            AttentionOptions o = options_of(c, kind, x);
            o.scale = 0.5;
            auto gen = std::make_shared<Generator>(kDropSeed);  // the same keep pattern on every call
            o.generator = gen.get();
            return attention(x[0], x[1], x[2], o);
          }),
          .ref = [=](const std::vector<Tensor>& x) {
            return std::vector<Expect>{{{c.B, c.H, c.Nq, 3}, x[0].dtype(),
                                        attnref::attention(optest::vals(x[0]), optest::vals(x[1]), optest::vals(x[2]),
                                                           ref_options(c, kind, x))}};
          },
          .tol32 = 2e-5,
          .cuda_tol_scale = 4};
}

std::vector<Case> cases() {
  std::vector<Case> cs;
  cs.push_back({.name = "sliding window (1, 1)", .wl = 1, .wr = 1});
  cs.push_back({.name = "causal with window left 2, Nq < Nk", .Nq = 4, .Nk = 7, .causal = true, .wl = 2});
  cs.push_back({.name = "window (0, 2) top-left, Nq > Nk", .Nq = 6, .Nk = 4, .top_left = true, .wl = 0, .wr = 2});
  cs.push_back({.name = "attn_mask [B, 1, Nq, Nk]", .mask = true});
  cs.push_back({.name = "bias [1, H, Nq, Nk] with gradient", .bias = true});
  cs.push_back({.name = "causal ALiBi", .H = 4, .Hkv = 4, .causal = true, .alibi = true});
  cs.push_back({.name = "ALiBi, bidirectional, Nq < Nk", .H = 3, .Hkv = 3, .Nq = 4, .Nk = 7, .alibi = true});
  cs.push_back({.name = "relative position table with gradient", .Nk = 9, .relative = true});
  cs.push_back({.name = "causal relative position table", .causal = true, .relative = true});
  cs.push_back({.name = "grouped-query heads (H 4, Hkv 2)", .H = 4, .Hkv = 2, .causal = true});
  cs.push_back({.name = "multi-query heads (H 3, Hkv 1), padding", .H = 3, .Hkv = 1, .padding = true});
  cs.push_back({.name = "packed sequences (3, 0, 4) x (2, 3, 5)", .B = 1, .Nq = 7, .Nk = 10, .cu_q = {0, 3, 3, 7},
                .cu_k = {0, 2, 5, 10}});
  cs.push_back({.name = "packed causal sequences with ALiBi and window", .B = 1, .Nq = 8, .Nk = 8, .causal = true,
                .wl = 2, .alibi = true, .cu_q = {0, 5, 8}, .cu_k = {0, 5, 8}});
  cs.push_back({.name = "dropout 0.3", .dropout = true});
  cs.push_back({.name = "everything: GQA, window, mask, bias, padding, relative, dropout", .H = 4, .Hkv = 2,
                .causal = true, .wl = 3, .mask = true, .bias = true, .padding = true, .relative = true,
                .dropout = true});
  return cs;
}

std::vector<ErrorCase> option_errors() {
  auto q = [] { return zeros({1, 2, 3, 4}); };
  auto kv = [] { return zeros({1, 2, 5, 4}); };
  auto call = [=](AttentionOptions o) { attention(q(), kv(), kv(), o); };
  return {
      {[=] { call({.window_left = -2}); }, {"[attention] window bounds must be >= 0, or -1 for unbounded"}},
      {[=] { call({.dropout_p = 1.5}); }, {"[attention] dropout_p must be in [0, 1], got 1.5"}},
      {[] { attention(zeros({1, 3, 2, 4}), zeros({1, 2, 2, 4}), zeros({1, 2, 2, 4})); },
       {"[attention] the query heads (3) must be a multiple of the key/value heads (2)"}},
      {[=] { call({.attn_mask = zeros({3, 5})}); }, {"[attention] attn_mask must be bool", "float32"}},
      {[=] { call({.attn_mask = zeros({2, 5}, DType::boolean)}); },
       {"[attention] attn_mask must broadcast to [B, H, Nq, Nk] = [1, 2, 3, 5], got [2, 5]"}},
      {[=] { call({.bias = zeros({1, 3, 3, 5})}); }, {"[attention] bias must broadcast to", "got [1, 3, 3, 5]"}},
      {[=] { call({.bias = zeros({3, 5}, DType::float64)}); }, {"[attention] bias must have q's dtype float32"}},
      {[=] { call({.position = PositionBias::alibi, .alibi_slopes = zeros({3})}); },
       {"[attention] alibi_slopes must be float32 [H] = [2], got float32 [3]"}},
      {[=] { call({.alibi_slopes = zeros({2})}); }, {"[attention] alibi_slopes given but position is none"}},
      {[=] { call({.position = PositionBias::relative}); }, {"[attention] position relative needs relative_table"}},
      {[=] { call({.position = PositionBias::relative, .relative_table = zeros({2, 3})}); },
       {"[attention] relative_table needs at least 4 buckets"}},
      {[=] { call({.position = PositionBias::relative, .relative_table = zeros({2, 8}), .relative_max_distance = 2}); },
       {"[attention] relative_max_distance must exceed the exact buckets (2), got 2"}},
      {[] { (void)parse_position_bias("rope"); },
       {"[attention] unknown position bias 'rope' (expected none, alibi or relative)"}},
      {[=] { call({.cu_seqlens_q = from_vector<int64_t>({0, 3})}); },
       {"[attention] give cu_seqlens_q and cu_seqlens_k together"}},
      {[=] { call({.cu_seqlens_q = from_vector<int64_t>({0, 2}), .cu_seqlens_k = from_vector<int64_t>({0, 5})}); },
       {"[attention] cu_seqlens_q must run from 0 to 3 (the packed length), got 0 .. 2"}},
      {[=] {
         call({.cu_seqlens_q = from_vector<int64_t>({0, 3, 1, 3}), .cu_seqlens_k = from_vector<int64_t>({0, 1, 2, 5})});
       },
       {"[attention] cu_seqlens_q must be nondecreasing: [1] = 3 > [2] = 1"}},
      {[=] { call({.cu_seqlens_q = from_vector<int64_t>({0, 3}), .cu_seqlens_k = from_vector<int64_t>({0, 2, 5})}); },
       {"[attention] cu_seqlens_q and cu_seqlens_k must list the same number of sequences, got 1 and 2"}},
      {[] {
         attention(zeros({2, 1, 3, 4}), zeros({2, 1, 3, 4}), zeros({2, 1, 3, 4}),
                   {.cu_seqlens_q = from_vector<int64_t>({0, 3}), .cu_seqlens_k = from_vector<int64_t>({0, 3})});
       },
       {"[attention] packed sequences (cu_seqlens) take B = 1"}},
      {[=] {
         call({.cu_seqlens_q = from_vector<int64_t>({0, 3}), .cu_seqlens_k = from_vector<int64_t>({0, 5}),
               .key_lengths = from_vector<int64_t>({5})});
       },
       {"[attention] packed sequences (cu_seqlens) have no padding"}},
      {[=] { (void)attention_outputs(q(), kv(), kv(), {.kind = AttentionKind::chunked}, {.topk = true}); },
       {"[attention] topk_indices and topk_weights come from the topk kind only, not chunked"}},
  };
}

std::vector<Row> rows() {
  std::vector<Row> r;
  for (AttentionKind kind : {AttentionKind::vanilla, AttentionKind::chunked, AttentionKind::topk})
    for (const Case& c : cases()) r.push_back(option_row(kind, c));
  r.front().errors = option_errors();
  return r;
}

}  // namespace

OP_TABLE_FAMILY("attention options", rows)
