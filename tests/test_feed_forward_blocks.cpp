// feed_forward()'s backward runs over blocks of rows (autograd/ops/linear.cpp): checked where it
// takes several blocks (the op table's shapes fit in one), against the composition of layer_norm,
// linear and the activation, and for its memory: one block of [rows, hidden] transients.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/ops.h"
#include "core/allocator.h"
#include "nn/layers.h"

using namespace memgrad;

namespace {

// x [3, 100, 8], hidden 2048, out 5, float64: blocks of 64 rows (1 MiB of [rows, 2048] doubles),
// so 300 rows take 5 blocks, the last one partial.
constexpr int64_t kIn = 8, kHidden = 2048, kOut = 5;

struct Params {
  Tensor x, w1, b1, w2, b2, nw, nb;
  std::vector<Tensor> all() const { return {x, w1, b1, w2, b2, nw, nb}; }
};

Params make_params(uint64_t seed) {
  Generator g(seed);
  auto r = [&](Shape s) { return randn(s, DType::float64, &g).set_requires_grad(); };
  return {r({3, 100, kIn}), r({kHidden, kIn}), r({kHidden}), r({kOut, kHidden}), r({kOut}), r({kIn}), r({kIn})};
}

}  // namespace

TEST_CASE("feed_forward backward by row blocks: the gradients of layer_norm -> linear -> act -> linear") {
  for (bool with_norm : {false, true})
    for (Activation act : {Activation::gelu, Activation::relu, Activation::none}) {
      CAPTURE(with_norm);
      CAPTURE(static_cast<int>(act));
      const Params f = make_params(7), c = make_params(7);  // the same values, separate leaves
      const Tensor w = randn({3, 100, kOut}, DType::float64);  // weights of the upstream gradient
      const InputNorm norm = with_norm ? InputNorm{.on = true, .weight = f.nw, .bias = f.nb} : InputNorm{};
      sum(feed_forward(f.x, f.w1, f.b1, f.w2, f.b2, act, norm) * w).backward();
      const Tensor xn = with_norm ? layer_norm(c.x, c.nw, c.nb) : c.x;
      sum(linear(nn::activate(linear(xn, c.w1, c.b1), act), c.w2, c.b2) * w).backward();
      const std::vector<Tensor> fp = f.all(), cp = c.all();
      for (size_t i = 0; i < fp.size(); ++i) {
        CAPTURE(i);
        if (!with_norm && i >= 5) {  // the norm's parameters take no part
          CHECK(!fp[i].grad().defined());
          continue;
        }
        REQUIRE(fp[i].grad().defined());
        const double scale = amax(abs(cp[i].grad())).item<double>();
        const double diff = amax(abs(fp[i].grad() - cp[i].grad())).item<double>();
        CHECK(diff <= 1e-12 * std::max(scale, 1.0));
      }
    }
}

TEST_CASE("feed_forward backward by row blocks: holds one block of [rows, hidden] transients") {
  const Params p = make_params(3);
  const InputNorm norm{.on = true, .weight = p.nw, .bias = p.nb};
  Tensor loss = sum(feed_forward(p.x, p.w1, p.b1, p.w2, p.b2, Activation::gelu, norm));
  const int64_t full = 300 * kHidden * 8;  // one whole [rows, hidden] float64 tensor: 4.9 MB
  memory::PeakMeter meter;
  loss.backward();
  MESSAGE("backward overhead " << meter.overhead() << " bytes against " << full << " for one [rows, hidden]");
  // a block (1 MiB), the gradients of the weights (partial and sum, 128 KiB each) and [rows, in] ones
  CHECK(meter.overhead() < full / 2);
  CHECK(p.w1.grad().defined());
}
