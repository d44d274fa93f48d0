// What each attention kind costs in memory, from the allocator's exact byte counts.
#include <doctest/doctest.h>

#include "autograd/attention.h"
#include "autograd/ops.h"

using namespace memgrad;

namespace {

constexpr int64_t MiB = 1 << 20;

// Peak bytes of one forward+backward above the inputs, the output and the gradients.
// The backward starts from out.backward(w), so the loss adds no tensor of its own.
int64_t attention_overhead(AttentionKind kind, int64_t B, int64_t H, int64_t N, int64_t D, int64_t top_k = 64) {
  Generator g(1);
  Tensor q = randn({B, H, N, D}, DType::float32, &g).set_requires_grad();
  Tensor k = randn({B, H, N, D}, DType::float32, &g).set_requires_grad();
  Tensor v = randn({B, H, N, D}, DType::float32, &g).set_requires_grad();
  Tensor w = randn({B, H, N, D}, DType::float32, &g);
  const int64_t tensor_bytes = B * H * N * D * 4;
  int64_t peak;
  {
    memory::PeakMeter meter;
    Tensor out = attention(q, k, v, {.kind = kind, .top_k = top_k});
    out.backward(w);
    peak = meter.overhead();
  }
  CHECK(q.grad().defined());
  return peak - tensor_bytes /* output */ - 3 * tensor_bytes /* dq, dk, dv */;
}

}  // namespace

TEST_CASE("vanilla really stores the probability matrix; chunked and topk do not") {
  const int64_t B = 1, H = 4, N = 4096, D = 64;
  const int64_t probs_bytes = B * H * N * N * 4;  // 256 MiB
  const int64_t vanilla = attention_overhead(AttentionKind::vanilla, B, H, N, D);
  const int64_t chunked = attention_overhead(AttentionKind::chunked, B, H, N, D);
  const int64_t topk = attention_overhead(AttentionKind::topk, B, H, N, D, 64);
  const int64_t topk_saved = B * H * N * 64 * (4 + 4);  // int32 indices + float probabilities
  MESSAGE("overhead bytes: vanilla " << vanilla << ", chunked " << chunked << ", topk " << topk);
  CHECK(vanilla >= probs_bytes);
  CHECK(chunked < 16 * MiB);
  CHECK(topk < 16 * MiB + topk_saved);
  CHECK(chunked * 50 < vanilla);
}

TEST_CASE("chunked overhead grows only by the O(N) per-row statistics") {
  const int64_t B = 1, H = 1, D = 64;
  const int64_t small = attention_overhead(AttentionKind::chunked, B, H, 2048, D);
  const int64_t large = attention_overhead(AttentionKind::chunked, B, H, 8192, D);
  // logsumexp (saved) and Delta = rowsum(dO * O) (backward): one float each per query row
  const int64_t per_row = 2 * 4 * B * H;
  MESSAGE("chunked overhead: N=2048 " << small << " bytes, N=8192 " << large << " bytes");
  CHECK(large - small <= per_row * (8192 - 2048));
}
