// memgrad::dist's collectives against single-process references. One program for any world size:
// ctest runs it alone (a world of one) and under `mpiexec -np 2` (tests/CMakeLists.txt). Every
// rank's input is a known function of (rank, index), so each rank computes the expected result of
// every collective itself.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/attention.h"
#include "autograd/collectives.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "dist/dist.h"
#include "nn/data_parallel.h"
#include "nn/layers.h"
#include "nn/optim/optimizer.h"

using namespace memgrad;

namespace {

// Rank r's value at index i: distinct across ranks and indices, exact in float32 sums.
double value(int r, int64_t i) { return std::round(64 * std::sin(0.37 * double(i) + 1.3 * r)) / 8 + r; }

template <class T>
std::vector<T> values(int r, int64_t n, int64_t i0 = 0) {
  std::vector<T> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<T>(value(r, i0 + i));
  return v;
}

template <class T>
T reduce_ref(dist::Reduce op, int64_t i) {
  const int P = dist::world_size();
  double acc = static_cast<T>(value(0, i));  // each rank's value as T holds it
  for (int r = 1; r < P; ++r) {
    const double x = static_cast<T>(value(r, i));
    acc = op == dist::Reduce::max ? std::max(acc, x) : op == dist::Reduce::min ? std::min(acc, x) : acc + x;
  }
  return static_cast<T>(op == dist::Reduce::mean ? acc / P : acc);
}

}  // namespace

TEST_CASE_TEMPLATE("dist: all_reduce equals the reduction of every rank's values", T, float, double, int64_t) {
  const int64_t n = 1000;
  for (dist::Reduce op : {dist::Reduce::sum, dist::Reduce::mean, dist::Reduce::max, dist::Reduce::min}) {
    if (op == dist::Reduce::mean && std::is_integral_v<T>) continue;
    Tensor t = from_vector(values<T>(dist::rank(), n), {10, 100});
    dist::all_reduce(t, op);
    const std::vector<T> got = t.to_vector<T>();
    for (int64_t i = 0; i < n; ++i) REQUIRE(got[static_cast<size_t>(i)] == doctest::Approx(reduce_ref<T>(op, i)));
  }
}

TEST_CASE("dist: all_reduce of a view changes the view's elements only") {
  const int P = dist::world_size();
  Tensor base = from_vector(values<float>(dist::rank(), 48), {6, 8});
  Tensor view = slice(transpose(base, 0, 1), 0, 1, 7, 2);  // [3, 6], strided
  dist::all_reduce(view, dist::Reduce::sum);
  const std::vector<float> got = base.to_vector<float>();
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t c = 0; c < 8; ++c) {
      const int64_t i = r * 8 + c;
      const bool in_view = c >= 1 && c < 7 && (c - 1) % 2 == 0;
      double expect = value(dist::rank(), i);
      if (in_view) expect = reduce_ref<double>(dist::Reduce::sum, i);
      CHECK(got[static_cast<size_t>(i)] == doctest::Approx(expect));
    }
  CHECK(P >= 1);
}

TEST_CASE("dist: async all_reduces finish in any order") {
  Tensor a = from_vector(values<float>(dist::rank(), 300), {300});
  Tensor b = from_vector(values<double>(dist::rank(), 200, 300), {200});
  dist::Request ra = dist::all_reduce_async(a, dist::Reduce::sum);
  dist::Request rb = dist::all_reduce_async(b, dist::Reduce::mean);
  rb.wait();
  ra.wait();
  CHECK_FALSE(ra.pending());
  for (int64_t i = 0; i < 300; ++i) CHECK(a.to_vector<float>()[size_t(i)] == doctest::Approx(reduce_ref<float>(dist::Reduce::sum, i)));
  for (int64_t i = 0; i < 200; ++i)
    CHECK(b.to_vector<double>()[size_t(i)] == doctest::Approx(reduce_ref<double>(dist::Reduce::mean, 300 + i)));
}

TEST_CASE("dist: broadcast from every root") {
  for (int root = 0; root < dist::world_size(); ++root) {
    Tensor t = from_vector(values<float>(dist::rank(), 64), {8, 8});
    dist::broadcast(t, root);
    CHECK(t.to_vector<float>() == values<float>(root, 64));
  }
}

TEST_CASE("dist: all_gather stacks every rank's tensor") {
  const int P = dist::world_size();
  Tensor t = from_vector(values<int32_t>(dist::rank(), 15), {3, 5});
  Tensor g = dist::all_gather(t);
  CHECK(g.shape() == Shape{P, 3, 5});
  std::vector<int32_t> expect;
  for (int r = 0; r < P; ++r) {
    std::vector<int32_t> v = values<int32_t>(r, 15);
    expect.insert(expect.end(), v.begin(), v.end());
  }
  CHECK(g.to_vector<int32_t>() == expect);
}

TEST_CASE("dist: reduce_scatter keeps this rank's rows of the reduction") {
  const int P = dist::world_size(), m = 3, cols = 4;
  Tensor t = from_vector(values<double>(dist::rank(), P * m * cols), {P * m, cols});
  Tensor out = dist::reduce_scatter(t, dist::Reduce::sum);
  CHECK(out.shape() == Shape{m, cols});
  const std::vector<double> got = out.to_vector<double>();
  for (int64_t e = 0; e < m * cols; ++e)
    CHECK(got[size_t(e)] == doctest::Approx(reduce_ref<double>(dist::Reduce::sum, dist::rank() * m * cols + e)));
}

TEST_CASE("dist: send and recv around the ring, nonblocking") {
  const int P = dist::world_size(), r = dist::rank();
  if (P < 2) return;  // point-to-point needs a peer
  Tensor out = from_vector(values<float>(r, 100), {100});
  Tensor in = empty({100});
  dist::Request rr = dist::irecv(in, (r + P - 1) % P, 7);
  dist::Request rs = dist::isend(out, (r + 1) % P, 7);
  rs.wait();
  rr.wait();
  CHECK(in.to_vector<float>() == values<float>((r + P - 1) % P, 100));
}

TEST_CASE("dist: bad arguments are errors naming the op") {
  const int P = dist::world_size();
  Tensor f = from_vector(values<float>(0, 6), {6});
  Tensor i = from_vector(values<int64_t>(0, 6), {6});
  Tensor u;
  CHECK_THROWS_WITH_AS(dist::broadcast(f, P), doctest::Contains("[dist.broadcast] root"), Error);
  CHECK_THROWS_WITH_AS(dist::all_reduce(i, dist::Reduce::mean), doctest::Contains("[dist.all_reduce] mean needs a float"),
                       Error);
  CHECK_THROWS_WITH_AS(dist::all_reduce(u), doctest::Contains("[dist.all_reduce] needs a tensor"), Error);
  CHECK_THROWS_WITH_AS(dist::send(f, dist::rank()), doctest::Contains("[dist.send] destination"), Error);
  CHECK_THROWS_WITH_AS(dist::recv(f, P + 3), doctest::Contains("is not a rank"), Error);
  if (P > 1) CHECK_THROWS_WITH_AS(dist::send(f, (dist::rank() + 1) % P, -1), doctest::Contains("tag -1"), Error);
  Tensor odd = from_vector(values<float>(0, 7 * P + (P > 1 ? 1 : 0)), {7 * P + (P > 1 ? 1 : 0)});
  if (P > 1) CHECK_THROWS_WITH_AS(dist::reduce_scatter(odd), doctest::Contains("divisible by the world size"), Error);
  CHECK_THROWS_WITH_AS(dist::parse_reduce("avg"), doctest::Contains("unknown reduction 'avg'"), Error);
  CHECK_THROWS_WITH_AS(dist::set_timeout(0), doctest::Contains("[dist.set_timeout]"), Error);
}

TEST_CASE("dist: world facts") {
  CHECK(dist::rank() >= 0);
  CHECK(dist::rank() < dist::world_size());
  CHECK(dist::local_rank() <= dist::rank());
  CHECK((dist::backend_name() == "mpi") == (dist::world_size() > 1 || std::getenv("OMPI_COMM_WORLD_SIZE")));
  dist::barrier();
}

namespace {

// Two layers that train, and one that the forward never reaches (its gradient counts as zero).
struct Net : nn::Module {
  std::shared_ptr<nn::Linear> a, b, unused;
  explicit Net(uint64_t seed) {
    Generator g(seed);
    a = register_module("a", std::make_shared<nn::Linear>(6, 16, true, nn::ParamOptions{.gen = &g}));
    b = register_module("b", std::make_shared<nn::Linear>(16, 3, true, nn::ParamOptions{.gen = &g}));
    unused = register_module("unused", std::make_shared<nn::Linear>(3, 3, true, nn::ParamOptions{.gen = &g}));
  }
  Tensor forward(const Tensor& x) const { return b->forward(gelu(a->forward(x))); }
};

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, double(std::abs(x)));
  return m;
}

}  // namespace

TEST_CASE("DataParallel: 20 steps equal single-process training on the combined batch") {
  const int P = dist::world_size(), r = dist::rank();
  const int64_t per_rank = 4, B = per_rank * P;
  std::vector<float> xs = values<float>(7, B * 6);
  for (float& x : xs) x /= 8;
  std::vector<int64_t> ys(static_cast<size_t>(B));
  for (int64_t i = 0; i < B; ++i) ys[size_t(i)] = (i * 5 + 1) % 3;
  const Tensor X = from_vector(xs, {B, 6}), Y = from_vector(ys, {B});
  const Tensor Xr = narrow(X, 0, r * per_rank, per_rank), Yr = narrow(Y, 0, r * per_rank, per_rank);  // this rank's shard

  for (int64_t bucket_bytes : {int64_t{16}, int64_t{1} << 20}) {  // many buckets, and one
    Net ref(100), mine(200 + uint64_t(r));  // different starts: DataParallel broadcasts rank 0's
    nn::DataParallel dp(mine, {.bucket_bytes = bucket_bytes});
    CHECK(dp.num_buckets() == (bucket_bytes == 16 ? 4 : 1));
    // rank 0 started from its own seed (200): the reference starts there too
    { Net root(200); ref.load_state_dict(root.state_dict()); }
    // SGD, whose step scales with the gradient (Adam's would not notice a sum in place of the mean)
    optim::SGD opt_ref(ref.parameters(), {.lr = 0.2, .momentum = 0.9, .weight_decay = 0.01}),
        opt(mine.parameters(), {.lr = 0.2, .momentum = 0.9, .weight_decay = 0.01});
    for (int step = 0; step < 20; ++step) {
      opt_ref.zero_grad();
      Tensor loss_ref = cross_entropy(ref.forward(X), Y);
      loss_ref.backward();
      opt_ref.step();

      opt.zero_grad();
      Tensor loss = cross_entropy(mine.forward(Xr), Yr);  // the mean over this rank's shard
      loss.backward();
      dp.synchronize();
      opt.step();
      Tensor global = clone(detach(loss));
      dist::all_reduce(global, dist::Reduce::mean);
      REQUIRE(global.item<float>() == doctest::Approx(loss_ref.item<float>()).epsilon(1e-5));
    }
    CHECK(dp.max_parameter_divergence() == 0);
    for (const auto& np : ref.named_parameters()) {  // not a structured binding: CHECK_MESSAGE captures it
      const std::string& name = np.first;
      const std::vector<float> a = np.second.to_vector<float>(), b = mine.state_dict().at(name).to_vector<float>();
      double diff = 0;
      for (size_t e = 0; e < a.size(); ++e) diff = std::max(diff, double(std::abs(a[e] - b[e])));
      CHECK_MESSAGE(diff <= 1e-5 * std::max(1.0, max_abs(a)), name, " differs by ", diff);
    }
    CHECK(dp.bytes_per_step() == mine.num_parameters() * 4);
  }
}

TEST_CASE("DataParallel: a second backward before synchronize is an error, unless sync is off") {
  Net net(5);
  nn::DataParallel dp(net);
  const Tensor x = from_vector(values<float>(0, 12), {2, 6});
  const Tensor y = from_vector(std::vector<int64_t>{0, 2}, {2});
  dp.set_gradient_sync(false);
  cross_entropy(net.forward(x), y).backward();  // accumulation pass: local only
  dp.set_gradient_sync(true);
  cross_entropy(net.forward(x), y).backward();
  CHECK_THROWS_WITH_AS(cross_entropy(net.forward(x), y).backward(), doctest::Contains("before synchronize()"), Error);
  dp.synchronize();
}

namespace {

double rel_diff(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = to(contiguous(a), DType::float64).to_vector<double>(),
                            y = to(contiguous(b), DType::float64).to_vector<double>();
  REQUIRE(x.size() == y.size());
  double num = 0, den = 1e-30;
  for (size_t i = 0; i < x.size(); ++i) num = std::max(num, std::abs(x[i] - y[i])), den = std::max(den, std::abs(y[i]));
  return num / den;
}

// Ring attention (context_parallel) on this rank's zigzag shard against chunked attention of the
// whole sequence, values and the gradients of q, k, v (each rank's part, summed over the ranks).
void check_ring(int64_t B, int64_t H, int64_t Hkv, int64_t N, int64_t D, bool causal, DType dt, double tol) {
  CAPTURE(N);
  CAPTURE(causal);
  Generator g(42);  // every rank makes the same whole tensors
  Tensor q = randn({B, H, N, D}, dt, &g).set_requires_grad(), k = randn({B, Hkv, N, D}, dt, &g).set_requires_grad(),
         v = randn({B, Hkv, N, D + 1}, dt, &g).set_requires_grad(), w = randn({B, H, N, D + 1}, dt, &g);
  AttentionOptions o{.kind = AttentionKind::chunked, .causal = causal, .q_chunk = 3, .k_chunk = 5};
  Tensor ref = attention(q, k, v, o);
  sum(ref * w).backward();
  const Tensor gq = q.grad(), gk = k.grad(), gv = v.grad();
  for (Tensor* t : {&q, &k, &v}) t->set_grad(Tensor());

  AttentionOptions ring = o;
  ring.context_parallel = true;
  Tensor out = attention(context_parallel_shard(q, 2), context_parallel_shard(k, 2), context_parallel_shard(v, 2), ring);
  CHECK(rel_diff(out, context_parallel_shard(ref, 2)) <= tol);
  sum(out * context_parallel_shard(w, 2)).backward();
  for (auto [t, want] : {std::pair{q, gq}, std::pair{k, gk}, std::pair{v, gv}}) {
    Tensor got = contiguous(t.grad());  // this rank's rows; the others' come from them
    dist::all_reduce(got, dist::Reduce::sum);
    CHECK(rel_diff(got, want) <= tol);
  }
}

}  // namespace

TEST_CASE("ring attention equals single-process chunked attention, values and gradients") {
  for (bool causal : {false, true}) {
    check_ring(2, 2, 2, 37, 4, causal, DType::float32, 2e-5);  // N not divisible by 2P
    check_ring(1, 4, 2, 16, 8, causal, DType::float64, 1e-12);  // GQA, even split
    check_ring(1, 1, 1, 3, 2, causal, DType::float32, 2e-5);    // fewer rows than chunks: empty pieces
  }
}

TEST_CASE("ring attention: bad options and shards are errors naming them") {
  Tensor q = randn({1, 1, 1 + 4 * dist::rank(), 4}), k = q, v = q;  // 1 and 5 rows: not a zigzag split of 6
  AttentionOptions o{.kind = AttentionKind::topk, .context_parallel = true};
  CHECK_THROWS_WITH_AS(attention(q, k, v, o), doctest::Contains("context_parallel needs the chunked kind"), Error);
  o.kind = AttentionKind::chunked;
  o.window_left = 2;
  CHECK_THROWS_WITH_AS(attention(q, k, v, o), doctest::Contains("does not take window_left/right"), Error);
  o.window_left = -1;
  if (dist::world_size() > 1)
    CHECK_THROWS_WITH_AS(attention(q, k, v, o), doctest::Contains("not its zigzag share"), Error);
}

// NCCL (dist/nccl_transport.h) carries CUDA tensors in a build with it; it needs a GPU per rank.
TEST_CASE("dist: CUDA tensors over NCCL equal the CPU collectives") {
  if (!cuda_available() || dist::world_size() < 2 || cuda_device_count() < dist::world_size()) {
    MESSAGE("skipped: NCCL's test needs a GPU per rank (" << cuda_device_count() << " GPUs, "
                                                           << dist::world_size() << " ranks)");
    return;
  }
  const Device gpu = Device::cuda(0);
  const int P = dist::world_size(), r = dist::rank();
  Tensor a = to(from_vector(values<float>(r, 1000), {10, 100}), gpu);
  dist::all_reduce(a, dist::Reduce::mean);
  const std::vector<float> got = to(a, Device::cpu()).to_vector<float>();
  for (int64_t i = 0; i < 1000; ++i) REQUIRE(got[size_t(i)] == doctest::Approx(reduce_ref<float>(dist::Reduce::mean, i)));
  Tensor v = slice(transpose(to(from_vector(values<double>(r, 48), {6, 8}), gpu), 0, 1), 0, 1, 7, 2);  // strided
  dist::all_reduce(v, dist::Reduce::max);
  Tensor ref = from_vector(values<double>(r, 48), {6, 8});
  Tensor ref_view = slice(transpose(ref, 0, 1), 0, 1, 7, 2);
  dist::all_reduce(ref_view, dist::Reduce::max);  // the CPU path
  CHECK(to(v, Device::cpu()).to_vector<double>() == contiguous(ref_view).to_vector<double>());
  Tensor b = to(from_vector(values<float>(r, 64), {8, 8}), gpu);
  dist::broadcast(b, P - 1);
  CHECK(to(b, Device::cpu()).to_vector<float>() == values<float>(P - 1, 64));
  Tensor g = dist::all_gather(to(from_vector(values<int32_t>(r, 15), {3, 5}), gpu));
  CHECK(g.device() == gpu);
  CHECK(to(g, Device::cpu()).to_vector<int32_t>() ==
        dist::all_gather(from_vector(values<int32_t>(r, 15), {3, 5})).to_vector<int32_t>());
  Tensor s = dist::reduce_scatter(to(from_vector(values<double>(r, P * 12), {P * 3, 4}), gpu), dist::Reduce::sum);
  CHECK(to(s, Device::cpu()).to_vector<double>() ==
        dist::reduce_scatter(from_vector(values<double>(r, P * 12), {P * 3, 4}), dist::Reduce::sum).to_vector<double>());
}

namespace {

// Rank r's input of the all_reduce_sum tests: [3, 5] float64 from value(), as a contiguous tensor or
// as a transposed view of a [5, 3] one.
Tensor rank_input(int r, bool view) {
  Tensor base = from_vector(values<double>(r, 15), view ? Shape{5, 3} : Shape{3, 5});
  return view ? transpose(base, 0, 1) : base;
}

// Rank s's loss weights: different on every rank, so that the gradient tells them apart.
Tensor rank_weights(int s) { return from_vector(values<double>(s + 7, 15, 100), {3, 5}); }

}  // namespace

// y = the sum over the ranks; rank r runs backward from L_r = sum(w_r * tanh(y)): x_r's gradient
// must be that of sum_s L_s, computed here in one process with every rank's input as a leaf.
TEST_CASE("all_reduce_sum: values and gradients equal the single-process sum") {
  const int P = dist::world_size(), r = dist::rank();
  for (bool view : {false, true}) {
    CAPTURE(view);
    std::vector<Tensor> xs;  // every rank's input, leaves of the single-process reference
    for (int s = 0; s < P; ++s) xs.push_back(rank_input(s, view).set_requires_grad());
    Tensor y_ref = xs[0];
    for (int s = 1; s < P; ++s) y_ref = y_ref + xs[size_t(s)];
    Tensor total = zeros({}, DType::float64);
    for (int s = 0; s < P; ++s) total = total + sum(rank_weights(s) * tanh(y_ref));
    total.backward();

    Tensor x = rank_input(r, view).set_requires_grad();
    Tensor y = all_reduce_sum(x);  // [3, 5]
    CHECK(y.shape() == Shape{3, 5});
    CHECK(rel_diff(y, y_ref) <= 1e-15);
    sum(rank_weights(r) * tanh(y)).backward();
    REQUIRE(x.grad().defined());
    CHECK(rel_diff(x.grad(), xs[size_t(r)].grad()) <= 1e-12);
  }
}

// The convention behind lra --context-parallel: every rank computes the SAME loss from the
// reduced vector; the mean over the ranks of the gradients (what nn::DataParallel takes) is then
// the single-process gradient, the sum P times it.
TEST_CASE("all_reduce_sum: a replicated loss, gradients averaged over the ranks, is exact") {
  const int P = dist::world_size(), r = dist::rank();
  Tensor wt = from_vector(values<double>(11, 5), {5}).set_requires_grad();  // shared by every rank
  std::vector<Tensor> parts;
  for (int s = 0; s < P; ++s) parts.push_back(from_vector(values<double>(s, 15), {3, 5}));
  Tensor whole = cat(parts, 0);  // [3P, 5]: the sequence the ranks split
  sum(tanh(sum(whole * wt, {0}))).backward();  // the single-process loss
  const Tensor want = clone(wt.grad());
  wt.set_grad(Tensor());
  sum(tanh(all_reduce_sum(sum(parts[size_t(r)] * wt, {0})))).backward();  // the same loss on every rank
  Tensor g = clone(wt.grad());
  dist::all_reduce(g, dist::Reduce::mean);
  CHECK(rel_diff(g, want) <= 1e-12);
}

TEST_CASE("all_reduce_sum: float64 gradcheck in a world of one; requires-grad must agree across ranks") {
  if (dist::world_size() == 1) {
    Tensor x = rank_input(0, true).set_requires_grad();
    const GradcheckResult res = gradcheck(
        [](const std::vector<Tensor>& in) { return std::vector<Tensor>{tanh(all_reduce_sum(in[0]))}; }, {x});
    CHECK_MESSAGE(res.ok, res.message);
    return;
  }
  Tensor x = rank_input(dist::rank(), false);
  if (dist::rank() == 0) x.set_requires_grad();  // rank 0 would wait in backward for the others
  CHECK_THROWS_WITH_AS(all_reduce_sum(x), doctest::Contains("[all_reduce_sum] 1 of"), Error);
  {
    NoGradGuard no_grad;  // without recording there is no backward to agree on
    CHECK(rel_diff(all_reduce_sum(x), all_reduce_sum(detach(x))) == 0);
  }
}

int main(int argc, char** argv) {
  dist::init();
  doctest::Context ctx(argc, argv);
  const int rc = ctx.run();
  dist::barrier();  // no rank leaves while another still needs it
  dist::finalize();
  return rc;
}
