// Every op on the GPU against the CPU on the same random inputs (never zeros), forward and
// gradients, in float32 and float64; then the optimizers' fused steps. Skips without a GPU.
#include <doctest/doctest.h>

#include "autograd/attention.h"
#include "autograd/ops.h"
#include "cuda_test_util.h"
#include "nn/optim/optimizer.h"

using namespace memgrad;
using namespace memgrad::cudatest;

namespace {

// How an input is drawn.
enum class In { normal, positive, away_from_zero, index, mask };
struct Input {
  Shape shape;
  In kind = In::normal;
  int64_t high = 0;  // index inputs: values in [0, high)
};

struct Case {
  std::string name;
  std::vector<Input> inputs;
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  std::vector<DType> dtypes = {DType::float32, DType::float64};
  double tol_scale = 1;  // long reductions (matmul, attention) round more in float32
};

Tensor make_input(const Input& in, DType dt, uint64_t seed) {
  Generator g(seed);
  switch (in.kind) {
    case In::normal: return optest::rnd(in.shape, dt, seed);
    case In::positive: return rand(in.shape, dt, &g, 0.5, 2.0);
    case In::away_from_zero: {
      Tensor x = randn(in.shape, dt, &g);
      return where(gt(x, scalar(0.0, dt)), x + 0.2, x - 0.2);
    }
    case In::index: return randint(0, in.high, in.shape, DType::int64, &g);
    case In::mask: return gt(randn(in.shape, DType::float32, &g), scalar(-0.3));
  }
  return Tensor();
}

void run_case(const Case& c) {
  for (DType dt : c.dtypes) {
    INFO(c.name << " in " << to_string(dt));
    std::vector<Tensor> cpu, gpu;
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      Tensor x = make_input(c.inputs[i], dt, 100 + 7 * i);
      Tensor g = detach(to(x, test_device()));
      const bool grad = is_floating(x.dtype());
      if (grad) x.set_requires_grad(), g.set_requires_grad();
      cpu.push_back(x), gpu.push_back(g);
    }
    Tensor out_c = c.fn(cpu), out_g = c.fn(gpu);
    check_same(out_g, out_c, c.name + " forward", c.tol_scale);
    if (!out_c.requires_grad()) continue;
    Tensor w = optest::rnd(out_c.shape(), out_c.dtype(), 99);  // a random upstream gradient
    sum(mul(out_c, w)).backward();
    sum(mul(out_g, to(w, test_device()))).backward();
    for (size_t i = 0; i < cpu.size(); ++i) {
      if (!cpu[i].requires_grad()) continue;
      REQUIRE(gpu[i].grad().defined());
      check_same(gpu[i].grad(), cpu[i].grad(), c.name + " grad of input " + std::to_string(i), c.tol_scale);
    }
  }
}

std::vector<Case> elementwise_cases() {
  const Shape A{4, 1, 5}, B{3, 5};  // broadcast to [4, 3, 5]
  return {
      {"add", {{A}, {B}}, [](auto& x) { return add(x[0], x[1]); }},
      {"sub", {{A}, {B}}, [](auto& x) { return sub(x[0], x[1]); }},
      {"mul", {{A}, {B}}, [](auto& x) { return mul(x[0], x[1]); }},
      {"div", {{A}, {B, In::positive}}, [](auto& x) { return div(x[0], x[1]); }},
      {"pow", {{A, In::positive}, {B}}, [](auto& x) { return pow(x[0], x[1]); }},
      {"maximum", {{A}, {B}}, [](auto& x) { return maximum(x[0], x[1]); }},
      {"minimum", {{A}, {B}}, [](auto& x) { return minimum(x[0], x[1]); }},
      {"scalar ops", {{A}}, [](auto& x) { return (2.0 - x[0]) * 3.0 / 1.5 + 1.0; }},
      {"neg", {{{6, 7}}}, [](auto& x) { return neg(x[0]); }},
      {"exp", {{{6, 7}}}, [](auto& x) { return exp(x[0]); }},
      {"log", {{{6, 7}, In::positive}}, [](auto& x) { return log(x[0]); }},
      {"sqrt", {{{6, 7}, In::positive}}, [](auto& x) { return sqrt(x[0]); }},
      {"tanh", {{{6, 7}}}, [](auto& x) { return tanh(x[0]); }},
      {"sigmoid", {{{6, 7}}}, [](auto& x) { return sigmoid(x[0]); }},
      {"relu", {{{6, 7}, In::away_from_zero}}, [](auto& x) { return relu(x[0]); }},
      {"gelu", {{{6, 7}}}, [](auto& x) { return gelu(x[0]); }},
      {"abs", {{{6, 7}, In::away_from_zero}}, [](auto& x) { return abs(x[0]); }},
      {"pow scalar", {{{6, 7}, In::positive}}, [](auto& x) { return pow(x[0], 2.5); }},
      {"strided unary", {{{6, 7}}}, [](auto& x) { return exp(transpose(x[0], 0, 1)); }},
      {"where", {{{4, 5}, In::mask}, {{4, 5}}, {{5}}}, [](auto& x) { return where(x[0], x[1], x[2]); }},
      {"masked_fill", {{{3, 4}}, {{4}, In::mask}}, [](auto& x) { return masked_fill(x[0], x[1], -2.5); }},
      {"comparisons", {{A}, {B}},
       [](auto& x) {
         return to(logical_or(logical_and(lt(x[0], x[1]), ne(x[0], x[1])), ge(x[0], x[1] + 1.0)), x[0].dtype());
       }},
      {"integer arithmetic", {{A}, {B}}, [](auto& x) { return add(mul(x[0], x[1]), div(x[0], x[1] * x[1] + 1)); },
       {DType::int32, DType::int64}},
      {"dtype conversion", {{{5, 6}}}, [](auto& x) { return to(to(x[0] * 3.0, DType::int32), x[0].dtype()); }},
  };
}

std::vector<Case> reduction_and_view_cases() {
  return {
      {"sum all", {{{5, 6, 7}}}, [](auto& x) { return sum(x[0]); }},
      {"sum dim", {{{5, 6, 7}}}, [](auto& x) { return sum(x[0], {1}); }},
      {"sum dims 0,2 keepdim", {{{5, 6, 7}}}, [](auto& x) { return sum(x[0], {0, 2}, true); }},
      {"mean last", {{{5, 6, 300}}}, [](auto& x) { return mean(x[0], {2}); }},
      {"sum of a view", {{{6, 5}}}, [](auto& x) { return sum(transpose(x[0], 0, 1), {1}); }},
      {"amax", {{{5, 6, 7}}}, [](auto& x) { return amax(x[0], {1}); }},
      {"amin", {{{5, 6, 7}}}, [](auto& x) { return amin(x[0], {0, 2}); }},
      {"max values", {{{5, 9}}}, [](auto& x) { return max(x[0], 1).values; }},
      {"argmax", {{{5, 9}}}, [](auto& x) { return to(argmax(x[0], 0), x[0].dtype()); }},
      {"integer sum", {{{4, 6}}}, [](auto& x) { return sum(x[0], {1}); }, {DType::int32, DType::int64}},
      {"permute + contiguous", {{{2, 3, 4}}}, [](auto& x) { return contiguous(permute(x[0], {2, 0, 1})); }},
      {"cat", {{{2, 3}}, {{4, 3}}}, [](auto& x) { return cat({x[0], x[1]}, 0); }},
      {"stack", {{{2, 3}}, {{2, 3}}}, [](auto& x) { return stack({x[0], x[1]}, 1); }},
      {"slice with step", {{{9, 4}}}, [](auto& x) { return slice(x[0], 0, 1, 8, 3) * 2.0; }},
      {"expand", {{{3, 1}}}, [](auto& x) { return expand(x[0], {3, 5}) * 1.0; }},
  };
}

std::vector<Case> nn_cases() {
  return {
      {"matmul 2d", {{{5, 7}}, {{7, 3}}}, [](auto& x) { return matmul(x[0], x[1]); }, {DType::float32, DType::float64}, 4},
      {"matmul batched", {{{2, 3, 5, 7}}, {{7, 4}}}, [](auto& x) { return matmul(x[0], x[1]); },
       {DType::float32, DType::float64}, 4},
      {"matmul batch broadcast", {{{2, 1, 5, 7}}, {{3, 7, 4}}}, [](auto& x) { return matmul(x[0], x[1]); },
       {DType::float32, DType::float64}, 4},
      {"matmul transposed views", {{{7, 5}}, {{3, 7}}},
       [](auto& x) { return matmul(transpose(x[0], 0, 1), transpose(x[1], 0, 1)); }, {DType::float32, DType::float64}, 4},
      {"matmul large", {{{64, 300}}, {{300, 48}}}, [](auto& x) { return matmul(x[0], x[1]); },
       {DType::float32, DType::float64}, 10},
      {"matrix-vector", {{{5, 7}}, {{7}}}, [](auto& x) { return matmul(x[0], x[1]); }},
      {"softmax", {{{4, 9}}}, [](auto& x) { return softmax(x[0], -1); }},
      {"softmax long rows", {{{3, 2000}}}, [](auto& x) { return softmax(x[0] * 4.0, -1); }},
      {"log_softmax", {{{4, 9}}}, [](auto& x) { return log_softmax(x[0], 1); }},
      {"softmax over dim 0", {{{5, 3}}}, [](auto& x) { return softmax(x[0], 0); }},
      {"layer_norm", {{{4, 3, 10}}, {{10}}, {{10}}}, [](auto& x) { return layer_norm(x[0], x[1], x[2]); }},
      {"layer_norm wide, no affine", {{{3, 700}}}, [](auto& x) { return layer_norm(x[0], Tensor(), Tensor()); }},
      {"embedding", {{{10, 4}}, {{3, 5}, In::index, 10}}, [](auto& x) { return embedding(x[0], x[1]); }},
      {"index_select", {{{6, 5}}, {{8}, In::index, 5}}, [](auto& x) { return index_select(x[0], 1, x[1]); }},
      {"gather", {{{4, 6}}, {{4, 3}, In::index, 6}}, [](auto& x) { return gather(x[0], 1, x[1]); }},
      {"cross_entropy", {{{6, 5}}, {{6}, In::index, 5}}, [](auto& x) { return cross_entropy(x[0], x[1]); }},
      {"cross_entropy ignore + smoothing", {{{7, 4}}, {{7}, In::index, 4}},
       [](auto& x) {
         return cross_entropy(x[0], x[1], {.ignore_index = 2, .reduction = Reduction::sum, .label_smoothing = 0.1});
       }},
      {"cross_entropy none", {{{5, 3}}, {{5}, In::index, 3}},
       [](auto& x) { return cross_entropy(x[0], x[1], {.reduction = Reduction::none}); }},
  };
}

// q [2, 3, 37, 16], k/v [2, 3, Nk, 16]: odd sizes, several blocks of small chunks, masks.
std::vector<Case> attention_cases() {
  std::vector<Case> out;
  for (AttentionKind kind : {AttentionKind::vanilla, AttentionKind::chunked, AttentionKind::topk}) {
    const std::string k = to_string(kind);
    auto opts = [kind] {
      AttentionOptions o;
      o.kind = kind, o.q_chunk = 8, o.k_chunk = 16, o.top_k = 5;
      return o;
    };
    out.push_back({k + " attention", {{{2, 3, 37, 16}}, {{2, 3, 37, 16}}, {{2, 3, 37, 16}}},
                   [opts](auto& x) { return attention(x[0], x[1], x[2], opts()); }, {DType::float32, DType::float64}, 4});
    out.push_back({k + " attention causal, Nq != Nk, Dv != D", {{{2, 3, 21, 16}}, {{2, 3, 45, 16}}, {{2, 3, 45, 8}}},
                   [opts](auto& x) {
                     AttentionOptions o = opts();
                     o.causal = true;
                     return attention(x[0], x[1], x[2], o);
                   },
                   {DType::float32, DType::float64}, 4});
    out.push_back({k + " attention key padding mask", {{{2, 3, 37, 16}}, {{2, 3, 37, 16}}, {{2, 3, 37, 16}}, {{2, 37}, In::mask}},
                   [opts](auto& x) {
                     AttentionOptions o = opts();
                     o.key_padding_mask = x[3];
                     return attention(x[0], x[1], x[2], o);
                   },
                   {DType::float32, DType::float64}, 4});
    out.push_back({k + " attention key lengths (one row fully masked)",
                   {{{2, 3, 19, 16}}, {{2, 3, 19, 16}}, {{2, 3, 19, 16}}},
                   [opts](auto& x) {
                     AttentionOptions o = opts();
                     o.key_lengths = from_vector<int64_t>({0, 11}, {2}, x[0].device());
                     return attention(x[0], x[1], x[2], o);
                   },
                   {DType::float32, DType::float64}, 4});
  }
  return out;
}

// Chunked attention at the fused kernels' head dims (float32, D == Dv in {32, 64, 128}) with N
// not a multiple of their 64-row tiles: causal with Nq != Nk and strided q, a key padding mask,
// and key lengths that mask batch 0 entirely with causal rows that see no key. `fused` false
// forces the block-wise path.
std::vector<Case> fused_attention_cases(int64_t D, int64_t N, bool fused) {
  const std::string k = std::string(fused ? "fused" : "block-wise") + " attention D=" + std::to_string(D) +
                        " N=" + std::to_string(N);
  auto opts = [fused] {
    AttentionOptions o;
    o.kind = AttentionKind::chunked, o.fused = fused;
    return o;
  };
  std::vector<Case> out;
  out.push_back({k + " causal, Nq != Nk, strided q", {{{2, N, 2, D}}, {{2, 2, N + 45, D}}, {{2, 2, N + 45, D}}},
                 [opts](auto& x) {
                   AttentionOptions o = opts();
                   o.causal = true;
                   return attention(transpose(x[0], 1, 2), x[1], x[2], o);  // q [2, 2, N, D], a view
                 },
                 {DType::float32}, 10});
  out.push_back({k + " key padding mask", {{{2, 2, N, D}}, {{2, 2, N, D}}, {{2, 2, N, D}}, {{2, N}, In::mask}},
                 [opts](auto& x) {
                   AttentionOptions o = opts();
                   o.key_padding_mask = x[3];
                   return attention(x[0], x[1], x[2], o);
                 },
                 {DType::float32}, 10});
  out.push_back({k + " key lengths (batch 0 fully masked), causal, Nq > Nk",
                 {{{2, 2, N, D}}, {{2, 2, N - 50, D}}, {{2, 2, N - 50, D}}},
                 [opts, N](auto& x) {
                   AttentionOptions o = opts();
                   o.causal = true;
                   o.key_lengths = from_vector<int64_t>({0, N - 80}, {2}, x[0].device());
                   return attention(x[0], x[1], x[2], o);
                 },
                 {DType::float32}, 10});
  return out;
}

// Output and input gradients of attention on the test device, fused or block-wise, copied to the CPU.
std::vector<Tensor> attention_with_grads(const std::vector<Tensor>& inputs, AttentionOptions o) {
  std::vector<Tensor> x;
  for (const Tensor& t : inputs) {
    x.push_back(detach(to(t, test_device())));
    x.back().set_requires_grad();
  }
  Tensor out = attention(x[0], x[1], x[2], o);
  sum(mul(out, to(optest::rnd(out.shape(), out.dtype(), 99), test_device()))).backward();
  return {to(detach(out), Device::cpu()), to(x[0].grad(), Device::cpu()), to(x[1].grad(), Device::cpu()),
          to(x[2].grad(), Device::cpu())};
}

}  // namespace

TEST_CASE("cuda ops: elementwise with broadcasting, dtypes and views") {
  if (skip_without_test_device()) return;
  for (const Case& c : elementwise_cases()) run_case(c);
}

TEST_CASE("cuda ops: reductions and view-producing ops") {
  if (skip_without_test_device()) return;
  for (const Case& c : reduction_and_view_cases()) run_case(c);
}

TEST_CASE("cuda ops: matmul, softmax, layer_norm, index ops, cross_entropy") {
  if (skip_without_test_device()) return;
  for (const Case& c : nn_cases()) run_case(c);
}

TEST_CASE("cuda ops: attention of every kind with masks and odd sizes") {
  if (skip_without_test_device()) return;
  for (const Case& c : attention_cases()) run_case(c);
}

TEST_CASE("cuda ops: large attention (several default-size chunks) matches the CPU") {
  if (skip_without_test_device()) return;
  for (AttentionKind kind : {AttentionKind::chunked, AttentionKind::topk}) {
    Case c{to_string(kind) + " attention N=700",
           {{{1, 2, 700, 64}}, {{1, 2, 700, 64}}, {{1, 2, 700, 64}}},
           [kind](auto& x) {
             AttentionOptions o;
             o.kind = kind, o.causal = true;
             // q, k on a grid of 0.5 (gradient passing straight through): every score is exact in
             // float32 on both devices, so rounding cannot flip a top-k pick between near-equal keys
             auto grid = [](const Tensor& t) {
               return t - detach(t) + to(to(detach(t) * 2.0, DType::int32), t.dtype()) * 0.5;
             };
             return attention(grid(x[0]), grid(x[1]), x[2], o);
           },
           {DType::float32},
           10};
    run_case(c);
  }
}

TEST_CASE("cuda ops: fused chunked attention (D 32/64/128, masks, ragged tiles) equals the CPU and the block-wise path") {
  if (skip_without_test_device()) return;
  for (int64_t D : {32, 64, 128})
    for (int64_t N : {300, 1000})
      for (bool fused : {true, false})
        for (const Case& c : fused_attention_cases(D, N, fused)) run_case(c);
  // the two GPU paths against each other, gradients included
  for (int64_t D : {32, 64, 128}) {
    INFO("D = " << D);
    const int64_t Nq = 300, Nk = 333;
    const std::vector<Tensor> in{optest::rnd({2, 2, Nq, D}, DType::float32, 1),
                                 optest::rnd({2, 2, Nk, D}, DType::float32, 2),
                                 optest::rnd({2, 2, Nk, D}, DType::float32, 3)};
    AttentionOptions o;
    o.kind = AttentionKind::chunked, o.causal = true;
    o.key_lengths = from_vector<int64_t>({Nk, 200}, {2}, Device::cpu());
    o.fused = true;
    const std::vector<Tensor> fused = attention_with_grads(in, o);
    o.fused = false;
    const std::vector<Tensor> blockwise = attention_with_grads(in, o);
    const char* names[] = {"out", "dq", "dk", "dv"};
    for (size_t i = 0; i < fused.size(); ++i)
      check_same(to(fused[i], test_device()), blockwise[i], std::string("fused vs block-wise ") + names[i], 10);
  }
}

TEST_CASE("cuda ops: fused optimizer steps equal the CPU's") {
  if (skip_without_test_device()) return;
  for (DType dt : {DType::float32, DType::float64}) {
    INFO(to_string(dt));
    auto run = [&](Device dev, int which) {
      Tensor p = detach(to(optest::rnd({33, 17}, dt, 5), dev));
      p.set_requires_grad();
      std::unique_ptr<optim::Optimizer> opt;
      if (which == 0) opt = std::make_unique<optim::SGD>(std::vector<Tensor>{p}, optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
      if (which == 1) opt = std::make_unique<optim::Adam>(std::vector<Tensor>{p}, optim::AdamOptions{.lr = 0.01, .weight_decay = 0.1});
      if (which == 2) opt = std::make_unique<optim::AdamW>(std::vector<Tensor>{p}, optim::AdamWOptions{.lr = 0.01});
      for (int s = 0; s < 3; ++s) {
        opt->zero_grad();
        sum(mul(p, to(optest::rnd({33, 17}, dt, 10 + s), dev))).backward();
        opt->step();
      }
      return detach(p);
    };
    for (int which = 0; which < 3; ++which)
      check_same(run(test_device(), which), run(Device::cpu(), which), "optimizer " + std::to_string(which));
  }
}

// Fused top-k attention (one kernel per pass for top_k <= 256) against the CPU over many key
// tiles. q and k are rounded to multiples of 0.5 (the gradient passes straight through), so
// scale * q . k (scale 1/8) is exact in float32 on both sides: the many equal scores must go to
// the earlier key on both, and no rounding near-tie can flip a pick. "duplicated keys" repeats
// the first half of the keys in the second (ties across tiles).
TEST_CASE("cuda ops: fused top-k attention (k up to 256, ties, masks) equals the CPU") {
  if (skip_without_test_device()) return;
  auto grid = [](const Tensor& x) {
    return x - detach(x) + to(to(detach(x) * 2.0, DType::int32), x.dtype()) * 0.5;
  };
  for (int64_t N : {300, 1000})
    for (int64_t top_k : {8, 64, 256}) {
      const Shape qs{2, 2, N, 64}, vs{2, 2, N, 40};
      auto opts = [top_k](bool fused) {
        AttentionOptions o;
        o.kind = AttentionKind::topk, o.top_k = top_k, o.fused = fused;
        return o;
      };
      const std::string n = " N=" + std::to_string(N) + " top_k=" + std::to_string(top_k);
      const std::vector<DType> both = {DType::float32, DType::float64};
      const std::vector<Case> cases = {
          {"fused topk" + n, {{qs}, {qs}, {vs}},
           [=](auto& x) { return attention(grid(x[0]), grid(x[1]), x[2], opts(true)); }, both, 10},
          {"fused topk causal, key padding mask" + n, {{qs}, {qs}, {vs}, {{2, N}, In::mask}},
           [=](auto& x) {
             AttentionOptions o = opts(true);
             o.causal = true, o.key_padding_mask = x[3];
             return attention(grid(x[0]), grid(x[1]), x[2], o);
           },
           both, 10},
          {"fused topk key lengths (batch 0 fully masked), duplicated keys" + n, {{qs}, {{2, 2, N / 2, 64}}, {vs}},
           [=](auto& x) {
             AttentionOptions o = opts(true);
             o.key_lengths = from_vector<int64_t>({0, N - 5}, {2}, x[0].device());
             const Tensor k = grid(x[1]);
             return attention(grid(x[0]), cat({k, k}, 2), x[2], o);
           },
           both, 10},
          {"fused topk Nq != Nk causal, plain normal inputs (float64)" + n, {{{2, 2, N / 3, 64}}, {qs}, {vs}},
           [=](auto& x) {
             AttentionOptions o = opts(true);
             o.causal = true;
             return attention(x[0], x[1], x[2], o);
           },
           {DType::float64}, 10},
          {"block-wise topk (fused = false) causal, key padding mask" + n, {{qs}, {qs}, {vs}, {{2, N}, In::mask}},
           [=](auto& x) {
             AttentionOptions o = opts(false);
             o.causal = true, o.key_padding_mask = x[3];
             return attention(grid(x[0]), grid(x[1]), x[2], o);
           },
           both, 10},
      };
      for (const Case& c : cases) run_case(c);
    }
}
