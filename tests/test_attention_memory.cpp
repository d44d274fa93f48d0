// What each attention kind costs in memory, from the allocator's exact byte counts.
#include <doctest/doctest.h>
#include <omp.h>

#include <functional>
#include <string>
#include <vector>

#include "autograd/attention.h"
#include "autograd/ops.h"
#include "backends/cpu/chunked_workspace.h"

using namespace memgrad;

namespace {

constexpr int64_t MiB = 1 << 20;

// Peak bytes of one call above what was live before it, less the results: the output, and for
// forward+backward (backward = true) the gradients dq, dk, dv. The backward starts from
// out.backward(w), so the loss adds no tensor of its own. Forward only runs under NoGradGuard.
// What per-thread blocks may hold, independent of N: chunked's backward workspace
// (backends/cpu/chunked_workspace.h: two float [q_chunk, k_chunk] score blocks, a [q_chunk, D] one
// and the packed operands) and byte flags of a block per thread (topk's blocks are smaller at the N
// of these tests), plus 64 KiB for the options' small per-thread parts.
int64_t block_bound(int64_t D) {
  const int64_t per_thread = cpu::chunked_backward_workspace<float>(kDefaultQChunk, kDefaultKChunk, D, D) * 4 +
                             kDefaultQChunk * kDefaultKChunk;
  return omp_get_max_threads() * per_thread + 64 * 1024;
}

int64_t attention_overhead(AttentionKind kind, int64_t B, int64_t H, int64_t N, int64_t D, int64_t top_k = 64,
                           bool backward = true) {
  Generator g(1);
  Tensor q = randn({B, H, N, D}, DType::float32, &g).set_requires_grad(backward);
  Tensor k = randn({B, H, N, D}, DType::float32, &g).set_requires_grad(backward);
  Tensor v = randn({B, H, N, D}, DType::float32, &g).set_requires_grad(backward);
  Tensor w = randn({B, H, N, D}, DType::float32, &g);
  const int64_t tensor_bytes = B * H * N * D * 4;
  int64_t peak;
  {
    memory::PeakMeter meter;
    if (backward) {
      Tensor out = attention(q, k, v, {.kind = kind, .top_k = top_k});
      out.backward(w);
    } else {
      NoGradGuard ng;
      Tensor out = attention(q, k, v, {.kind = kind, .top_k = top_k});
    }
    peak = meter.overhead();
  }
  CHECK(q.grad().defined() == backward);
  return peak - tensor_bytes /* output */ - (backward ? 3 * tensor_bytes /* dq, dk, dv */ : 0);
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

// The claim of Rabe & Staats 2021 in exact bytes (bench_attention --paper makes its table): chunked
// attention's memory beyond inputs and results is per-thread blocks (independent of N) plus one
// or two floats per query row, in inference and in differentiation; vanilla's grows with N².
TEST_CASE("chunked and topk overhead is affine in N (per-thread blocks + per-row bytes), vanilla's quadratic") {
  const int64_t B = 1, H = 1, D = 64, top_k = 64, N = 512;  // N >= the block sizes: blocks do not shrink
  for (bool backward : {false, true}) {
    CAPTURE(backward);
    const std::string pass = backward ? " fwd+bwd" : " fwd";
    auto at = [&](AttentionKind kind, int64_t n) { return attention_overhead(kind, B, H, n, D, top_k, backward); };
    for (AttentionKind kind : {AttentionKind::chunked, AttentionKind::topk}) {
      CAPTURE(to_string(kind));
      const int64_t o1 = at(kind, N), o2 = at(kind, 2 * N), o4 = at(kind, 4 * N);
      MESSAGE(to_string(kind) << pass << " overhead: " << o1 << ", " << o2 << ", " << o4);
      CHECK(o4 - o2 == 2 * (o2 - o1));  // overhead = blocks + slope * N, exactly
      const int64_t slope = (o2 - o1) / N, blocks = o1 - slope * N;
      CHECK(slope * N == o2 - o1);
      CHECK(blocks >= 0);
      CHECK(blocks <= block_bound(D));  // per-thread score blocks, not N-sized
      if (kind == AttentionKind::chunked) {
        // logsumexp (saved, or only written when no grad) and, in backward, Delta = rowsum(dO * O)
        CHECK(slope == (backward ? 2 : 1) * 4 * B * H);
      } else if (backward) {
        CHECK(slope == top_k * (4 + 4) * B * H);  // the saved int32 indices and float probabilities
      } else {
        // the indices and probabilities, plus each thread's row of scores against all N keys and its
        // selection buffer (a float and an int32 per key)
        CHECK(slope <= (top_k * (4 + 4) + omp_get_max_threads() * (kDefaultTopkQChunk * 4 + 8)) * B * H);
      }
    }
    // vanilla: the [N, N] scores, twice in the forward, three times in the backward
    const int64_t v1 = at(AttentionKind::vanilla, N), v2 = at(AttentionKind::vanilla, 2 * N);
    const int64_t scores = B * H * N * N * 4;
    MESSAGE("vanilla" << pass << " overhead: " << v1 << ", " << v2);
    if (!backward) {
      CHECK(v1 == 2 * scores);
      CHECK(v2 == 4 * v1);
    } else {
      CHECK(v1 >= 3 * scores - 2 * B * H * N * D * 4);  // dQ and dK, subtracted, come after the peak
      CHECK(v2 >= 4 * v1 - 64);
      CHECK(v2 <= 4 * v1 + 4 * B * H * N * D * 4);
    }
  }
}

namespace {

// One option set of issue 15 for the chunked kind at sequence length N: H query heads, Hkv key /
// value heads, and a function setting the options (it may keep tensors it makes, e.g. the relative
// table, whose gradient then counts as a result).
struct OptionCase {
  std::string name;
  int64_t H = 2, Hkv = 2;
  std::function<void(AttentionOptions&, int64_t N)> set;
};

// attention_overhead for the chunked kind with a case's options, forward+backward: peak bytes above
// what was live before, less the output and dq, dk, dv (dk, dv with Hkv heads). Option tensors
// (cu_seqlens, the relative table) are made before the meter starts.
int64_t chunked_option_overhead(const OptionCase& c, int64_t N, int64_t D = 64) {
  Generator g(2);
  Tensor q = randn({1, c.H, N, D}, DType::float32, &g).set_requires_grad(true);
  Tensor k = randn({1, c.Hkv, N, D}, DType::float32, &g).set_requires_grad(true);
  Tensor v = randn({1, c.Hkv, N, D}, DType::float32, &g).set_requires_grad(true);
  Tensor w = randn({1, c.H, N, D}, DType::float32, &g);
  AttentionOptions o{.kind = AttentionKind::chunked};
  c.set(o, N);
  Generator drop_gen(3);
  o.generator = &drop_gen;
  int64_t peak;
  {
    memory::PeakMeter meter;
    Tensor out = attention(q, k, v, o);
    out.backward(w);
    peak = meter.overhead();
  }
  CHECK(k.grad().defined());
  return peak - (2 * c.H + 2 * c.Hkv) * N * D * 4;  // out, dq; dk, dv
}

std::vector<OptionCase> option_cases() {
  std::vector<OptionCase> cs;
  cs.push_back({"causal window 128", 2, 2, [](AttentionOptions& o, int64_t) {
                  o.causal = true;
                  o.window_left = 128;
                }});
  cs.push_back({"window (64, 64)", 2, 2, [](AttentionOptions& o, int64_t) { o.window_left = o.window_right = 64; }});
  cs.push_back({"ALiBi", 2, 2, [](AttentionOptions& o, int64_t) { o.position = PositionBias::alibi; }});
  cs.push_back({"relative table with gradient", 2, 2, [](AttentionOptions& o, int64_t) {
                  o.position = PositionBias::relative;
                  o.relative_table = randn({2, 32}).set_requires_grad(true);
                }});
  cs.push_back({"dropout 0.2", 2, 2, [](AttentionOptions& o, int64_t) { o.dropout_p = 0.2; }});
  cs.push_back({"GQA H 4, Hkv 2", 4, 2, [](AttentionOptions&, int64_t) {}});
  cs.push_back({"MQA H 3, Hkv 1, causal", 3, 1, [](AttentionOptions& o, int64_t) { o.causal = true; }});
  cs.push_back({"packed sequences N/4, N/2, N/4", 2, 2, [](AttentionOptions& o, int64_t N) {
                  o.cu_seqlens_q = from_vector<int64_t>({0, N / 4, 3 * N / 4, N});
                  o.cu_seqlens_k = from_vector<int64_t>({0, N / 2, 3 * N / 4, N});
                  o.causal = true;
                }});
  return cs;
}

}  // namespace

// Issue 15: with every option, chunked attention's overhead stays per-thread blocks plus the
// same two floats per query row (the saved logsumexp and backward's Delta): the options add no
// per-pair memory (the position terms, keep pattern and visibility are computed in the kernels).
TEST_CASE("chunked overhead stays affine in N, two floats per query row, with every option") {
  const int64_t N = 512;
  for (const OptionCase& c : option_cases()) {
    CAPTURE(c.name);
    const int64_t o1 = chunked_option_overhead(c, N), o2 = chunked_option_overhead(c, 2 * N),
                  o4 = chunked_option_overhead(c, 4 * N);
    MESSAGE("chunked fwd+bwd, " << c.name << ": overhead " << o1 << ", " << o2 << ", " << o4);
    CHECK(o4 - o2 == 2 * (o2 - o1));
    const int64_t slope = (o2 - o1) / N, blocks = o1 - slope * N;
    CHECK(slope * N == o2 - o1);
    CHECK(slope == 2 * 4 * c.H);  // lse and Delta, one float each per query row of each head
    CHECK(blocks >= 0);
    CHECK(blocks <= block_bound(64));  // chunked_option_overhead's D
  }
}
