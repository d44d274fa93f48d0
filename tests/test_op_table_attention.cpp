// Op table rows: attention of each kind (autograd/attention.h) with causal masks, key padding and
// key lengths, and checkpoint() (the harness: tests/op_table.h). Small blocks (q_chunk 2, k_chunk
// 2) so the chunked and topk kinds run several blocks even at these sizes.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/attention.h"
#include "op_table.h"
#include "op_table_refs.h"

using namespace memgrad;
using namespace memgrad::optable;

namespace {

enum class Mask { none, padding, lengths };

// q [2, 2, Nq, 4], k [2, 2, Nk, 4], v [2, 2, Nk, 3]; a mask input [2, Nk] or lengths [2] last.
Row attention_row(AttentionKind kind, const std::string& what, int64_t Nq, int64_t Nk, bool causal, Mask mask,
                  std::optional<double> scale = std::nullopt, CausalAlign align = CausalAlign::bottom_right) {
  const int64_t top_k = kind == AttentionKind::topk ? 3 : 0;
  auto opts = [=](const std::vector<Tensor>& x) {
    AttentionOptions o{.kind = kind, .scale = scale, .causal = causal, .causal_align = align, .q_chunk = 2, .k_chunk = 2};
    if (kind == AttentionKind::topk) o.top_k = top_k;
    if (mask == Mask::padding) o.key_padding_mask = x[3];
    if (mask == Mask::lengths) o.key_lengths = x[3];
    return o;
  };
  std::vector<Input> ins = {in({2, 2, Nq, 4}), in({2, 2, Nk, 4}), in({2, 2, Nk, 3})};
  if (mask == Mask::padding) ins.push_back(optable::mask({2, Nk}));
  if (mask == Mask::lengths) ins.push_back(idx_of({2}, 1, 2, 1));  // lengths in [0, Nk]
  auto shapes = [mask](int64_t B, int64_t H, int64_t nq, int64_t nk) {
    std::vector<Shape> s = {{B, H, nq, 4}, {B, H, nk, 4}, {B, H, nk, 3}};
    if (mask == Mask::padding) s.push_back({B, nk});
    if (mask == Mask::lengths) s.push_back({B});
    return s;
  };
  return {.op = "attention",
          .name = to_string(kind) + " attention, " + what,
          .inputs = ins,
          .fn = f1([opts](auto& x) { return attention(x[0], x[1], x[2], opts(x)); }),
          .ref = [=](const std::vector<Tensor>& x) {
            const int64_t B = x[0].shape()[0], nk = x[1].shape()[2];
            Vec valid;
            if (mask == Mask::padding)
              for (double m : optest::vals(x[3])) valid.push_back(m == 0);
            if (mask == Mask::lengths) {
              Vec len = optest::vals(x[3]);
              for (int64_t b = 0; b < B; ++b)
                for (int64_t j = 0; j < nk; ++j) valid.push_back(j < len[b]);
            }
            const double s = scale.value_or(1 / std::sqrt(4.0));
            Shape os = x[0].shape();
            os[3] = x[2].shape()[3];
            return std::vector<Expect>{{os, x[0].dtype(), ref::attention(x[0], x[1], x[2], s, causal, valid, top_k,
                                                                  align == CausalAlign::top_left)}};
          },
          .tol32 = 2e-5,
          .variants = {{"one query, one key", shapes(2, 2, 1, 1)}, {"one batch and head", shapes(1, 1, Nq, Nk)}},
          .errors = {{[] { attention(zeros({2, 3, 4}), zeros({2, 3, 4}), zeros({2, 3, 4})); },
                      {"[attention] expected [B, H, N, D] tensors, got q [2, 3, 4]"}},
                     {[] { attention(zeros({1, 1, 2, 4}), zeros({1, 1, 3, 5}), zeros({1, 1, 3, 4})); },
                      {"[attention] q and k head dims differ"}},
                     {[] { attention(zeros({1, 1, 2, 4}), zeros({1, 1, 3, 4}), zeros({1, 1, 2, 4})); },
                      {"[attention] k and v lengths differ"}},
                     {[] { attention(zeros({1, 1, 2, 4}), zeros({2, 1, 3, 4}), zeros({2, 1, 3, 4})); },
                      {"[attention] batch and head dims differ"}},
                     {[kind] {
                        attention(zeros({1, 1, 2, 4}), zeros({1, 1, 3, 4}), zeros({1, 1, 3, 4}), {.kind = kind, .q_chunk = 0});
                      },
                      {"[attention] q_chunk must be positive"}},
                     {[kind] {
                        attention(zeros({1, 1, 2, 4}), zeros({1, 1, 3, 4}), zeros({1, 1, 3, 4}), {.kind = kind, .top_k = 0});
                      },
                      {"[attention] top_k must be positive"}},
                     {[kind] {
                        attention(zeros({1, 1, 2, 4}), zeros({1, 1, 3, 4}), zeros({1, 1, 3, 4}), {.kind = kind, .scale = -1.0});
                      },
                      {"[attention] scale must be positive"}},
                     {[kind] {
                        attention(zeros({1, 1, 2, 4}), zeros({1, 1, 3, 4}), zeros({1, 1, 3, 4}),
                                  {.kind = kind, .key_padding_mask = zeros({1, 2}, DType::boolean)});
                      },
                      {"[attention] key_padding_mask must be bool [B, Nk] = [1, 3], got bool [1, 2]"}},
                     {[kind] {
                        attention(zeros({1, 1, 2, 4}), zeros({1, 1, 3, 4}), zeros({1, 1, 3, 4}),
                                  {.kind = kind, .key_lengths = zeros({2}, DType::int64)});
                      },
                      {"[attention] key_lengths must be int [B] = [1], got int64 [2]"}},
                     {[kind] {
                        attention(zeros({1, 1, 2, 4}), zeros({1, 1, 3, 4}), zeros({1, 1, 3, 4}),
                                  {.kind = kind,
                                   .key_padding_mask = zeros({1, 3}, DType::boolean),
                                   .key_lengths = zeros({1}, DType::int64)});
                      },
                      {"[attention] give key_padding_mask or key_lengths, not both"}},
                     {[] { (void)parse_causal_align("top-left"); },
                      {"[attention] unknown causal alignment 'top-left' (expected bottom_right or top_left)"}}},
          .cuda_tol_scale = 4};
}

std::vector<Row> rows() {
  std::vector<Row> r;
  for (AttentionKind kind : {AttentionKind::vanilla, AttentionKind::chunked, AttentionKind::topk}) {
    r.push_back(attention_row(kind, "Nq = Nk = 5", 5, 5, false, Mask::none));
    r.push_back(attention_row(kind, "causal, Nq < Nk", 3, 5, true, Mask::none));
    r.push_back(attention_row(kind, "causal, Nq > Nk (rows without keys)", 5, 3, true, Mask::none));
    r.push_back(attention_row(kind, "key padding mask", 4, 5, false, Mask::padding));
    r.push_back(attention_row(kind, "causal, key lengths", 4, 5, true, Mask::lengths, 0.3));
    const CausalAlign tl = CausalAlign::top_left;
    r.push_back(attention_row(kind, "causal top-left, Nq < Nk (keys no query sees)", 3, 6, true, Mask::none, {}, tl));
    r.push_back(attention_row(kind, "causal top-left, Nq > Nk", 6, 3, true, Mask::none, {}, tl));
    r.push_back(attention_row(kind, "causal top-left, key padding", 4, 7, true, Mask::padding, 0.4, tl));
  }

  // checkpoint: the values of the function it wraps; gradients through inputs and params
  auto block = [](const Tensor& x, const Tensor& w) { return tanh(x * w) * x; };
  auto block_ref = [](const std::vector<Tensor>& x) {
    return std::vector<Expect>{{x[0].shape(), x[0].dtype(),
                                optest::ref_binary(x[0], x[1], [](double a, double b) { return std::tanh(a * b) * a; })}};
  };
  r.push_back({.op = "checkpoint",
               .name = "checkpoint of a block of ops",
               .inputs = {in({3, 4}), in({4})},
               .fn = [block](const std::vector<Tensor>& x) {
                 return checkpoint([block](const std::vector<Tensor>& v) { return Outputs{block(v[0], v[1])}; }, {x[0], x[1]});
               },
               .ref = block_ref,
               .variants = {{"0-d", {{}, {}}}, {"empty", {{0, 4}, {4}}}},
               .errors = {{[block] {
                             checkpoint([block](const std::vector<Tensor>& v) { return Outputs{block(v[0], v[1])}; },
                                        {ones({2}, DType::int64), ones({2}, DType::int64)});
                           },
                           {"[tanh]", "int64"}}},
               .err_op = "mul",
               .reject_ints = false});
  r.push_back({.op = "checkpoint",
               .name = "checkpoint with a param and two outputs",
               .inputs = {in({3, 4}), in({4})},
               .fn = [block](const std::vector<Tensor>& x) {
                 Tensor w = x[1];
                 return checkpoint([block, w](const std::vector<Tensor>& v) { return Outputs{block(v[0], w), sum(v[0], {1})}; },
                                   {x[0]}, {w});
               },
               .ref = [block_ref](const std::vector<Tensor>& x) {
                 std::vector<Expect> e = block_ref(x);
                 Vec s;
                 Vec v = optest::vals(x[0]);
                 for (int64_t i = 0; i < x[0].shape()[0]; ++i) {
                   double acc = 0;
                   for (int64_t j = 0; j < x[0].shape()[1]; ++j) acc += v[i * x[0].shape()[1] + j];
                   s.push_back(acc);
                 }
                 e.push_back({{x[0].shape()[0]}, x[0].dtype(), s});
                 return e;
               },
               .err_op = "mul",
               .reject_ints = false});  // the row above checks the error
  return r;
}

}  // namespace

OP_TABLE_FAMILY("attention and checkpoint", rows)
