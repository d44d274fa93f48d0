// Inputs large enough for the kernels' multi-threaded and blocked paths (several column blocks,
// many rows per thread), against references and compositions of primitive ops. The op table
// (tests/op_table.h) runs every op at small sizes.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "autograd/ops.h"
#include "ops_test_util.h"

using namespace memgrad;
using namespace memgrad::optest;

namespace {
// Reduces v (of shape s) over dims (empty = all) with op 's' sum, 'a' mean, 'M' max, 'm' min.
// The result is in the row-major order of the kept shape (equal to that of the squeezed shape).
Vec ref_reduce(const Vec& v, const Shape& s, std::vector<int64_t> dims, char op) {
  if (dims.empty())
    for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) dims.push_back(d);
  for (auto& d : dims) d = d < 0 ? d + static_cast<int64_t>(s.size()) : d;
  Shape ks = s;
  int64_t count = 1;
  for (int64_t d : dims) ks[d] = 1, count *= s[d];
  double init = op == 'M' ? -INFINITY : op == 'm' ? INFINITY : 0.0;
  Vec out(static_cast<size_t>(numel(ks)), init);
  for (int64_t i = 0; i < numel(s); ++i) {
    double x = v[i];
    double& o = out[bcast_index(unravel(i, s), ks)];
    o = op == 'M' ? std::max(o, x) : op == 'm' ? std::min(o, x) : o + x;
  }
  if (op == 'a')
    for (double& o : out) o /= static_cast<double>(count);
  return out;
}

}  // namespace

TEST_CASE("ops large: reductions of wide and long inputs (several column blocks, threads)") {
  for (DType dt : {DType::float64, DType::int64}) {
    CAPTURE(to_string(dt));
    for (const Shape& s : {Shape{5, 600}, Shape{4, 7, 300}, Shape{300, 260}}) {
      Tensor x = rnd(s, dt, 30);
      Vec xv = vals(x);
      for (std::vector<int64_t> dims : {std::vector<int64_t>{0}, {1}, {0, static_cast<int64_t>(s.size()) - 1}}) {
        CAPTURE(str(s));
        CAPTURE(str(dims));
        CHECK_VALUES(sum(x, dims), ref_reduce(xv, s, dims, 's'), 1e-10);
        CHECK_VALUES(amax(x, dims), ref_reduce(xv, s, dims, 'M'), 0);
        CHECK_VALUES(amin(x, dims), ref_reduce(xv, s, dims, 'm'), 0);
      }
    }
  }
}

namespace {
// Gradients of sum(f(inputs) * w) with respect to each input, for a fixed random w.
std::vector<Vec> grads_of(const std::function<Tensor(const std::vector<Tensor>&)>& f, std::vector<Tensor> inputs) {
  for (auto& t : inputs) t.set_grad(Tensor());
  Tensor y = f(inputs);
  Generator g(999);
  sum(y * randn(y.shape(), DType::float64, &g)).backward();
  std::vector<Vec> out;
  for (auto& t : inputs) out.push_back(vals(t.grad()));
  return out;
}

void check_same_grads(const std::vector<Vec>& a, const std::vector<Vec>& b, double tolerance) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    std::string m = mismatch(a[i], b[i], tolerance, tolerance);
    INFO(m);
    CHECK(m.empty());
  }
}
}  // namespace

TEST_CASE("ops large: gradients of large inputs match compositions of primitive ops") {
  SUBCASE("layer_norm") {
    const int64_t R = 300, C = 200;
    Tensor x = randn64({R, C}, 60), w = randn64({C}, 61), b = randn64({C}, 62);
    const double eps = 1e-5;
    auto fused = [&](const std::vector<Tensor>& v) { return layer_norm(v[0], v[1], v[2], eps); };
    auto composed = [&](const std::vector<Tensor>& v) {
      Tensor mu = mean(v[0], {-1}, true);
      Tensor var = mean(pow(v[0] - mu, 2.0), {-1}, true);
      return (v[0] - mu) / sqrt(var + eps) * v[1] + v[2];
    };
    std::vector<Tensor> in = {x, w, b};
    check_same_grads(grads_of(fused, in), grads_of(composed, in), 1e-9);
  }
  SUBCASE("softmax and log_softmax over a long and a short dim") {
    Tensor x = randn64({300, 200}, 63);
    for (int64_t dim : {0, 1})
      for (bool use_log : {false, true}) {
        CAPTURE(dim);
        CAPTURE(use_log);
        auto fused = [&](const std::vector<Tensor>& v) { return use_log ? log_softmax(v[0], dim) : softmax(v[0], dim); };
        auto composed = [&](const std::vector<Tensor>& v) {
          Tensor z = v[0] - amax(v[0], {dim}, true);
          Tensor lse = log(sum(exp(z), {dim}, true));
          return use_log ? z - lse : exp(z - lse);
        };
        check_same_grads(grads_of(fused, {x}), grads_of(composed, {x}), 1e-10);
      }
  }
  SUBCASE("cross_entropy with ignored rows and label smoothing") {
    const int64_t N = 2000, C = 40;
    Tensor logits = randn64({N, C}, 64);
    Generator g(65);
    Tensor target = randint(-1, C, {N}, DType::int64, &g);  // -1: ignored
    const double ls = 0.1;
    CrossEntropyOptions o;
    o.ignore_index = -1;
    o.label_smoothing = ls;
    auto fused = [&](const std::vector<Tensor>& v) { return cross_entropy(v[0], target, o); };
    auto composed = [&](const std::vector<Tensor>& v) {
      Tensor valid = ne(target, scalar(-1.0, DType::int64));
      Tensor safe = where(valid, target, zeros_like(target));
      Tensor lsm = log_softmax(v[0], 1);
      Tensor picked = squeeze(gather(lsm, 1, unsqueeze(safe, 1)), 1);
      Tensor per_row = (picked * (1 - ls) + mean(lsm, {1}) * ls) * -1.0;
      Tensor w = to(valid, DType::float64);
      return sum(per_row * w) / sum(w);
    };
    std::vector<Vec> a = grads_of(fused, {logits}), b = grads_of(composed, {logits});
    check_same_grads(a, b, 1e-10);
  }
  SUBCASE("index_select, gather, max(dim)") {
    const int64_t R = 300, C = 200;
    Tensor x = randn64({R, C}, 66);
    Generator g(67);
    Tensor idx = randint(0, R, {400}, DType::int64, &g);
    // index_select (index_add backward) against a one-hot matrix product
    Tensor onehot = to(eq(unsqueeze(idx, 1), unsqueeze(arange(R), 0)), DType::float64);  // [400, R]
    check_same_grads(grads_of([&](const std::vector<Tensor>& v) { return index_select(v[0], 0, idx); }, {x}),
                     grads_of([&](const std::vector<Tensor>& v) { return matmul(onehot, v[0]); }, {x}), 1e-12);
    // gather along dim 0 (scatter_add backward) against index_select of the flattened input
    Tensor gidx = randint(0, R, {400, C}, DType::int64, &g);
    Tensor lin = reshape(gidx * static_cast<double>(C) + arange(C), {-1});
    check_same_grads(grads_of([&](const std::vector<Tensor>& v) { return gather(v[0], 0, gidx); }, {x}),
                     grads_of([&](const std::vector<Tensor>& v) {
                       return reshape(index_select(reshape(v[0], {-1}), 0, lin), {400, C});
                     }, {x}),
                     1e-12);
    // max over a dim against amax (random input: no ties)
    for (int64_t dim : {0, 1}) {
      CAPTURE(dim);
      check_same_grads(grads_of([&](const std::vector<Tensor>& v) { return max(v[0], dim).values; }, {x}),
                       grads_of([&](const std::vector<Tensor>& v) { return amax(v[0], {dim}); }, {x}), 1e-12);
    }
  }
}


TEST_CASE("ops large: elementwise ops on one long row run in pieces over the threads and cover every element once") {
  // contiguous tensors coalesce into one row, which for_each_row (backends/cpu/strided_loop.h) cuts
  // into pieces of whole 64-element runs; odd lengths leave a short last piece
  for (const Shape& s : {Shape{1000003}, Shape{2, 300007}, Shape{1, 65, 1001}}) {
    CAPTURE(str(s));
    const Tensor a = rnd(s, DType::float32, 1), b = rnd(s, DType::float32, 2);
    CHECK(optest::mismatch(vals(a + b), ref_binary(a, b, [](double x, double y) { return double(float(x) + float(y)); }), 0, 0) == "");
    CHECK(optest::mismatch(vals(a * 2.0), ref_unary(a, [](double x) { return double(float(x) * 2.0f); }), 0, 0) == "");
    Tensor f = full(s, 3.5, DType::float32);
    CHECK(optest::mismatch(vals(f), Vec(static_cast<size_t>(numel(s)), 3.5), 0, 0) == "");
    const Tensor c = contiguous(transpose(transpose(a, 0, -1), 0, -1) + 0.0);  // a copy through the pieces
    CHECK(optest::mismatch(vals(c), vals(a), 0, 0) == "");
  }
}
