// lra's model under context parallelism (examples/lra/model.h, ModelConfig::context_parallel) with
// the gradient average of lra train --context-parallel (nn::DataParallel, trainer.cpp): the
// logits, the loss and every parameter's gradient equal one process's on the whole sequences, in
// float64. This is what makes the training steps equal (tests/lra_context_parallel_test.sh checks
// the loss curves of the program): AdamW hides a gradient off by a constant factor (its step does
// not see the scale), so the scale is checked here. One program for any world size: ctest runs it
// alone and under mpiexec -np 2 (examples/CMakeLists.txt).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/ops.h"
#include "dist/dist.h"
#include "examples/lra/batch.h"
#include "examples/lra/model.h"
#include "nn/data_parallel.h"
#include "nn/loss.h"

using namespace memgrad;
using namespace memgrad::lra;

namespace {

// max |a - b| / max |b|, in float64.
double rel_diff(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = to(contiguous(a), DType::float64).to_vector<double>(),
                            y = to(contiguous(b), DType::float64).to_vector<double>();
  REQUIRE(x.size() == y.size());
  double num = 0, den = 1e-300;
  for (size_t i = 0; i < x.size(); ++i) num = std::max(num, std::abs(x[i] - y[i])), den = std::max(den, std::abs(y[i]));
  return num / den;
}

// A batch of B sequences of N tokens, all of one length (what context parallelism takes).
Batch fixed_batch(int64_t B, int64_t N, int64_t vocab, int64_t classes) {
  Generator g(5);  // every rank the same batch
  Batch b;
  b.tokens = to(randint(1, vocab, {B, N}, DType::int64, &g), DType::int32);  // [B, N]
  b.lengths = full({B}, static_cast<double>(N), DType::int64);  // [B]
  b.labels = randint(0, classes, {B}, DType::int64, &g);                      // [B]
  return b;
}

ModelConfig small_config(nn::Pooling pooling, PositionKind position) {
  ModelConfig c;
  c.vocab = 12, c.classes = 3, c.max_len = 37;  // 37 (+1 CLS) positions: not a multiple of 2P
  c.pooling = pooling, c.position = position;
  c.encoder.dim = 16, c.encoder.heads = 4, c.encoder.kv_heads = 2, c.encoder.layers = 2, c.encoder.ff_hidden = 24;
  c.encoder.dropout = 0;
  c.encoder.attention.kind = AttentionKind::chunked;
  c.encoder.attention.q_chunk = 5, c.encoder.attention.k_chunk = 7;  // several blocks per piece
  return c;
}

// The model of `c`, initialised from seed 7, in float64.
std::unique_ptr<SequenceModel> model_of(const ModelConfig& c) {
  manual_seed(7);
  std::unique_ptr<SequenceModel> m = make_model(c);
  m->to(DType::float64);
  return m;
}

}  // namespace

TEST_CASE("lra model, context parallel: logits, loss and averaged gradients equal one process's") {
  for (nn::Pooling pooling : {nn::Pooling::mean, nn::Pooling::cls})
    for (PositionKind position : {PositionKind::learned, PositionKind::sinusoidal}) {
      CAPTURE(static_cast<int>(pooling));
      CAPTURE(position_name(position));
      ModelConfig c = small_config(pooling, position);
      const Batch b = fixed_batch(3, c.max_len, c.vocab, c.classes);
      std::unique_ptr<SequenceModel> ref = model_of(c);
      const Tensor ref_logits = ref->forward(b);  // [B, classes]
      const Tensor ref_loss = cross_entropy(ref_logits, b.labels);
      ref_loss.backward();

      c.context_parallel = true;
      std::unique_ptr<SequenceModel> cp = model_of(c);
      nn::DataParallel dp(*cp);
      const Tensor logits = cp->forward(b);
      const Tensor loss = cross_entropy(logits, b.labels);
      loss.backward();
      dp.synchronize();
      CHECK(rel_diff(logits, ref_logits) <= 1e-12);
      CHECK(rel_diff(loss, ref_loss) <= 1e-12);
      const auto want = ref->named_parameters(), got = cp->named_parameters();
      REQUIRE(want.size() == got.size());
      for (size_t i = 0; i < want.size(); ++i) {
        CAPTURE(want[i].first);
        REQUIRE(got[i].second.grad().defined());
        CHECK(rel_diff(got[i].second.grad(), want[i].second.grad()) <= 1e-10);
        Tensor root = clone(got[i].second.grad());  // rank 0's: every rank must step alike, bit for bit
        dist::broadcast(root, 0);
        CHECK(rel_diff(got[i].second.grad(), root) == 0);
      }
    }
}

TEST_CASE("lra model, context parallel: a padded sequence is an error naming the rule") {
  ModelConfig c = small_config(nn::Pooling::mean, PositionKind::learned);
  c.context_parallel = true;
  std::unique_ptr<SequenceModel> m = model_of(c);
  Batch b = fixed_batch(2, c.max_len, c.vocab, c.classes);
  b.lengths = from_vector(std::vector<int64_t>{c.max_len, c.max_len - 3}, {2});
  CHECK_THROWS_WITH_AS(m->forward(b), doctest::Contains("context parallelism needs sequences of one length"), Error);
}

int main(int argc, char** argv) {
  dist::init();
  doctest::Context ctx(argc, argv);
  const int rc = ctx.run();
  dist::barrier();  // no rank leaves while another still needs it
  return rc;
}
