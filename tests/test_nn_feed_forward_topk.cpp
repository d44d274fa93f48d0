// The top-k feed-forward layer (nn::FeedForward with topk.top_k > 0; Gupta et al. 2021): equal to
// the dense layer at top_k = hidden, equal to a masked dense reference below it (values and every
// gradient), gradcheck, and its memory bound from the allocator's exact byte counts.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <string>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "nn/layers.h"
#include "nn/optim/adam.h"
#include "nn/transformer.h"
#include "ops_test_util.h"

using namespace memgrad;
using namespace memgrad::nn;

namespace {

constexpr int64_t MiB = 1 << 20;

// The names of the nodes of y's graph.
std::set<std::string> graph_ops(const Tensor& y) {
  std::set<std::string> names;
  std::vector<std::shared_ptr<Node>> todo{y.grad_fn()};
  while (!todo.empty()) {
    std::shared_ptr<Node> n = todo.back();
    todo.pop_back();
    if (!n || !names.insert(n->name()).second) continue;
    for (const Edge& e : n->next_edges()) todo.push_back(e.fn);
  }
  return names;
}

// Output and the gradients of x and of fc1/fc2 weights and biases after y.backward(w), and the
// ops of the graph.
struct Run {
  Tensor y;
  std::vector<Tensor> grads;
  std::set<std::string> ops;
};
Run run(FeedForward& ff, const Tensor& x_in, const Tensor& w) {
  ff.zero_grad();
  Tensor x = detach(x_in).set_requires_grad();
  Tensor y = ff.forward(x);
  std::set<std::string> ops = graph_ops(y);
  y.backward(w);
  return {detach(y), {x.grad(), ff.fc1->weight.grad(), ff.fc1->bias.grad(), ff.fc2->weight.grad(), ff.fc2->bias.grad()},
          ops};
}

void check_same(const Run& a, const Run& b, double tol, const std::string& what) {
  const char* names[] = {"x", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};
  std::string m = optest::mismatch(optest::vals(a.y), optest::vals(b.y), tol, tol);
  CHECK_MESSAGE(m.empty(), what << ", output: " << m);
  for (size_t i = 0; i < a.grads.size(); ++i) {
    REQUIRE(a.grads[i].defined());
    REQUIRE(b.grads[i].defined());
    m = optest::mismatch(optest::vals(a.grads[i]), optest::vals(b.grads[i]), tol, tol);
    CHECK_MESSAGE(m.empty(), what << ", gradient of " << names[i] << ": " << m);
  }
}

// Whether unit f of token t is among the k largest of h[t, :] (h [N, H] row-major), and the
// smallest gap between the k-th and (k+1)-th largest over the tokens.
std::vector<double> top_mask(const std::vector<double>& h, int64_t N, int64_t H, int64_t k, double& min_gap) {
  std::vector<double> mask(N * H, 0.0);
  min_gap = INFINITY;
  for (int64_t t = 0; t < N; ++t) {
    std::vector<int64_t> order(H);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return h[t * H + a] > h[t * H + b]; });
    for (int64_t j = 0; j < k; ++j) mask[t * H + order[j]] = 1;
    if (k < H) min_gap = std::min(min_gap, h[t * H + order[k - 1]] - h[t * H + order[k]]);
  }
  return mask;
}

}  // namespace

TEST_CASE("FeedForward with top_k = hidden equals the dense layer, values and every gradient") {
  for (DType dt : {DType::float32, DType::float64})
    for (Activation act : {Activation::relu, Activation::gelu}) {
      const int64_t dim = 6, hidden = 24;
      Generator g(3);
      FeedForward ff(dim, hidden, 0.0, act, {.dtype = dt, .gen = &g});
      Tensor x = randn({5, 10, dim}, dt, &g), w = randn({5, 10, dim}, dt, &g);  // 50 tokens
      const Run dense = run(ff, x, w);
      ff.topk = {.top_k = hidden, .chunk = 7};  // 8 chunks, the last one short
      const Run topk = run(ff, x, w);
      CHECK((topk.ops.count("topk_linear") && topk.ops.count("sparse_linear")));  // the top-k path ran
      CHECK(!dense.ops.count("topk_linear"));
      check_same(topk, dense, dt == DType::float32 ? 1e-5 : 1e-12,
                 std::string(to_string(dt)) + (act == Activation::relu ? " relu" : " gelu"));
      ff.topk.top_k = hidden + 1;  // more than there are: the dense kernels
      CHECK(!run(ff, x, w).ops.count("topk_linear"));
    }
}

TEST_CASE("FeedForward with top_k < hidden equals a dense reference with a top-k mask") {
  const int64_t dim = 6, hidden = 24, k = 5, N = 50;
  for (Activation act : {Activation::relu, Activation::gelu}) {
    Generator g(11);
    FeedForward ff(dim, hidden, 0.0, act, {.dtype = DType::float64, .gen = &g}, {.top_k = k, .chunk = 7});
    Tensor x = randn({N, dim}, DType::float64, &g), w = randn({N, dim}, DType::float64, &g);
    const Run topk = run(ff, x, w);

    // reference: h = x W1^T + b1, keep the top k of each row by a constant mask, dense W2
    double gap = 0;
    std::vector<double> h;
    {
      NoGradGuard ng;
      h = optest::vals(ff.fc1->forward(x));
    }
    const Tensor mask = from_vector<double>(top_mask(h, N, hidden, k, gap), {N, hidden});
    REQUIRE(gap > 1e-6);  // no near-tie at the k-th unit: both sides select the same units
    ff.zero_grad();
    Tensor xr = detach(x).set_requires_grad();
    Tensor yr = ff.fc2->forward(activate(ff.fc1->forward(xr), act) * mask);
    yr.backward(w);
    const Run ref{detach(yr),
                  {xr.grad(), ff.fc1->weight.grad(), ff.fc1->bias.grad(), ff.fc2->weight.grad(), ff.fc2->bias.grad()},
                  {}};
    check_same(topk, ref, 1e-12, act == Activation::relu ? "relu" : "gelu");
  }
}

TEST_CASE("gradcheck: FeedForward with top_k < hidden, over the input and every parameter") {
  Generator g(5);
  FeedForward ff(4, 12, 0.0, Activation::gelu, {.dtype = DType::float64, .gen = &g}, {.top_k = 3, .chunk = 4});
  Tensor x = randn({2, 5, 4}, DType::float64, &g).set_requires_grad();
  double gap = 0;
  {
    NoGradGuard ng;
    top_mask(optest::vals(ff.fc1->forward(x)), 10, 12, 3, gap);
  }
  REQUIRE(gap > 1e-3);  // central differences (eps 1e-6) cannot change the selection
  std::vector<Tensor> inputs{x};
  for (auto& p : ff.parameters()) inputs.push_back(p);
  auto r = gradcheck([&](const std::vector<Tensor>& in) { return std::vector<Tensor>{ff.forward(in[0])}; }, inputs);
  INFO(r.message);
  CHECK(r.ok);
}

TEST_CASE("FeedForward top-k: dropout acts in the top-k path; bad options are errors naming FeedForward") {
  Generator g(2);
  FeedForward ff(4, 10, 1.0, Activation::relu, {.gen = &g}, {.top_k = 3, .chunk = 2});
  Tensor x = randn({6, 4}, DType::float32, &g);
  Tensor bias = expand(ff.fc2->bias, {6, 4});
  CHECK(optest::mismatch(optest::vals(ff.forward(x)), optest::vals(bias), 0, 0).empty());  // p = 1: all dropped
  ff.eval();
  Tensor y_sparse = ff.forward(x);
  ff.topk.top_k = 0;
  Tensor y_dense = ff.forward(x);
  CHECK(amax(abs(y_sparse - y_dense)).item<float>() > 1e-3);  // 3 of 10 units: another function
  CHECK(amax(abs(y_sparse - bias)).item<float>() > 1e-3);     // not dropped when evaluating
  ff.topk = {.top_k = -1};
  CHECK_THROWS_WITH_AS(ff.forward(x), doctest::Contains("[FeedForward] top_k must be >= 0 and chunk >= 1"), Error);
  ff.topk = {.top_k = 3, .chunk = 0};
  CHECK_THROWS_WITH_AS(ff.forward(x), doctest::Contains("[FeedForward] top_k must be >= 0 and chunk >= 1"), Error);
  ff.topk = {.top_k = 3, .chunk = 4};
  CHECK_THROWS_WITH_AS(ff.forward(randn({6, 5})), doctest::Contains("[FeedForward] input of shape [6, 5]"), Error);
}

namespace {

// Peak bytes of one forward+backward of a relu FeedForward (float32) above what existed before:
// everything it allocates, including the output, the input and parameter gradients.
int64_t ff_overhead(int64_t N, int64_t dim, int64_t hidden, FeedForwardTopK tk) {
  Generator g(1);
  FeedForward ff(dim, hidden, 0.0, Activation::relu, {.gen = &g}, tk);
  Tensor x = randn({N, dim}, DType::float32, &g).set_requires_grad();
  Tensor w = randn({N, dim}, DType::float32, &g);
  memory::PeakMeter meter;
  Tensor y = ff.forward(x);
  y.backward(w);
  CHECK(ff.fc1->weight.grad().defined());
  return meter.overhead();
}

}  // namespace

TEST_CASE("top-k FeedForward memory: O(k) per token plus one score chunk, no [tokens, hidden] tensor") {
  const int64_t N = 2048, dim = 64, hidden = 4096, k = 32, chunk = 256;
  const int64_t weight = dim * hidden * 4;
  // Per token: values (4k), indices (8k), relu output (4k), their gradients in backward (2 * 4k);
  // the output before and after the bias (2 * 4 dim) and the input gradient (4 dim).
  const int64_t per_token = 5 * 4 * k + 8 * k + 3 * 4 * dim;
  // One [chunk, hidden] score block; W2^T copies and the four weight-sized gradients / transposes
  // alive at once at most (fc2's dW^T and its W^T in backward, fc1's dW, W2^T of forward is freed);
  // the biases' gradients and 1 MiB for selection workspaces and small tensors.
  auto bound = [&](int64_t n) { return n * per_token + chunk * hidden * 4 + 4 * weight + 1 * MiB; };
  const int64_t topk = ff_overhead(N, dim, hidden, {.top_k = k, .chunk = chunk});
  const int64_t topk2 = ff_overhead(2 * N, dim, hidden, {.top_k = k, .chunk = chunk});
  const int64_t dense = ff_overhead(N, dim, hidden, {});
  MESSAGE("overhead bytes: dense " << dense << ", top-k " << topk << " (bound " << bound(N) << "), top-k at 2N "
                                   << topk2);
  CHECK(topk <= bound(N));
  CHECK(topk2 <= bound(2 * N));
  // the dense layer holds its saved [N, hidden] pre-activation (feed_forward(): the activation and
  // the backward's [rows, hidden] transients exist one block of rows at a time); top-k none
  CHECK(dense >= N * hidden * 4);
  CHECK(topk * 6 < dense);
  // doubling the tokens adds about the per-token term only: no [N, hidden] tensor anywhere
  CHECK(topk2 - topk <= N * per_token);
  CHECK(topk2 > topk);
}

TEST_CASE("TransformerEncoder with ff_topk trains: the loss falls on a tiny regression task") {
  manual_seed(7);
  TransformerConfig c{.dim = 16, .heads = 2, .layers = 1, .ff_hidden = 32, .ff_topk = {.top_k = 6, .chunk = 5},
                      .dropout = 0.0};
  TransformerEncoder enc(c);
  REQUIRE(enc.layers[0]->ff->topk.top_k == 6);
  Linear head(16, 16);
  std::vector<Tensor> params = enc.parameters();
  for (auto& p : head.parameters()) params.push_back(p);
  optim::AdamW opt(params, {.lr = 3e-3});
  Generator g(8);
  const Tensor A = randn({16, 16}, DType::float32, &g) * 0.5;  // the target map: tanh(x A) per token
  std::vector<float> losses;
  for (int s = 0; s < 60; ++s) {
    Tensor x = randn({4, 6, 16}, DType::float32, &g);
    Tensor loss = mean(pow(head.forward(enc.forward(x)) - tanh(matmul(x, A)), 2.0));
    opt.zero_grad();
    loss.backward();
    opt.step();
    losses.push_back(loss.item<float>());
  }
  auto avg = [&](int from) { return (losses[from] + losses[from + 1] + losses[from + 2] + losses[from + 3]) / 4; };
  MESSAGE("loss " << avg(0) << " -> " << avg(56));
  CHECK(avg(56) < 0.7 * avg(0));
}
