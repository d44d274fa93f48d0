#pragma once
// What attention()'s pieces share (autograd/ops/attention*.cpp): the checked dimensions and the
// prepared per-pair inputs of one call.
#include <vector>

#include "autograd/attention.h"
#include "backends/backend.h"

namespace memgrad::attn {

struct Dims {
  int64_t B, H, Hkv, Nq, Nk, D, Dv;
};

// One call's inputs for the kernels: m and p as the backends take them, plus the autograd-tracked
// tensors whose gradients the kernels produce (bias4: the bias as a 4-d view; table: the relative
// position table), undefined when absent.
struct Prepared {
  Dims d;
  AttentionMods m;
  AttentionParams p;
  Tensor bias4, table;
};

Prepared prepare(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& o);

// Ring attention over memgrad::dist's ranks (AttentionOptions::context_parallel; attention_ring.cpp).
Tensor ring_chunked(const Tensor& q, const Tensor& k, const Tensor& v, const Prepared& pr, const AttentionOptions& o);

// The vanilla composition (autograd/ops/attention_vanilla.cpp): out, and when asked the
// probabilities [B, H, Nq, Nk] before dropout and the logsumexp [B, H, Nq] (no gradient).
struct VanillaOut {
  Tensor out, probs, lse;
};
VanillaOut vanilla(const Tensor& q, const Tensor& k, const Tensor& v, const Prepared& pr, bool want_stats);

// Per-pair facts of the visibility rule for dense compositions (host, [Nq, Nk] row-major): whether
// query i may see key j by causal, window and packed sequences, and j's segment-local relative
// position to i (0 where not seen).
struct DenseRule {
  std::vector<uint8_t> sees;
  std::vector<int64_t> rel;
};
DenseRule dense_rule(const Prepared& pr);

}  // namespace memgrad::attn
