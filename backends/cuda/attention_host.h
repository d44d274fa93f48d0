#pragma once
// Host helpers of the block-wise attention paths (cuda_attention_chunked.cpp,
// cuda_attention_topk.cpp): the AttnRule a launch applies, the gradients of the per-pair inputs,
// and batched products over grouped-query heads. Host code only (it includes core/tensor.h).
#include <algorithm>
#include <vector>

#include "backends/attention_mods.h"
#include "backends/backend.h"
#include "backends/cuda/attention_kernels.h"
#include "core/error.h"
#include "core/tensor.h"

namespace memgrad::cuda {

// A block-wise pass's score/probability blocks, counted as attention workspace by the memory
// trace (core/memory_trace.h), as the CPU kernels' thread_workspace is.
inline Tensor attention_workspace(const Shape& shape, DType dtype, Device device) {
  memory::CategoryScope category(memory::Category::attention_workspace);
  return empty(shape, dtype, device);
}

// The rule for q [B, H, Nq, *] against k [B, Hkv, Nk, *]; the segment is the whole row until
// with_segment picks one. The ScoreMods pointers are device pointers (mods live on the GPU); the
// packed sequences' offsets are read on the host (backend.h: cu_seqlens live on the CPU).
template <class T>
AttnRule<T> attn_rule(const AttentionMods& mods, const AttentionParams& p, int64_t H, int64_t Hkv, int64_t Nq,
                      int64_t Nk) {
  MG_CHECK(!mods.cu_seqlens_q.defined() || (mods.cu_seqlens_q.device().is_cpu() && mods.cu_seqlens_k.device().is_cpu()),
           "attention", "cu_seqlens_q / cu_seqlens_k must be CPU tensors (the CUDA kernels read them on the host)");
  AttnRule<T> r;
  r.H = H;
  r.G = Hkv > 0 ? H / Hkv : 1;
  r.Nq = Nq;
  r.Nk = Nk;
  r.seg = Segment{0, Nq, 0, Nk};
  r.vis = p.visibility(Nq, Nk);
  r.mods = score_mods<T>(mods, Nk);
  r.drop = p.dropout;
  return r;
}

// rule restricted to one packed sequence: its own lengths decide causal alignment and window.
template <class T>
AttnRule<T> with_segment(AttnRule<T> r, const Segment& s, const AttentionParams& p) {
  r.seg = s;
  r.vis = p.visibility(s.nq, s.nk);
  return r;
}

// The keys of a block that some pair sees: block-local columns lo .. hi; none when lo > hi.
struct KeySpan {
  int64_t lo = 0, hi = -1;
  bool empty() const { return lo > hi; }
};

// For each block (after the band test), the span of its keys that some pair sees, for some query
// head of the BH = B * H and some row, under key padding and attn_mask (and the band). One block
// covers every head at once (the batched products), so a block is hidden only when it is hidden
// for every (b, h). Without key padding and attn_mask every span is the whole block and nothing
// runs on the device; otherwise one upload of the list, one launch (launch_attn_block_spans) and
// one copy back. `like`: a tensor on the device. Defined in cuda_attention_blocks.cpp.
template <class T>
std::vector<KeySpan> block_key_spans(const std::vector<AttnBlock>& blocks, const AttnRule<T>& rule, int64_t BH,
                                     const Tensor& like, const char* op);

// Pointers and broadcast strides of the wanted per-pair gradients (contiguous, zeroed by the caller).
template <class T>
AttnModGrads<T> attn_mod_grads(const AttentionModGrads& g) {
  AttnModGrads<T> out;
  if (g.dbias.defined()) {
    out.dbias = g.dbias.data<T>();
    for (int d = 0; d < 4; ++d) out.dbias_s[d] = g.dbias.shape()[d] == 1 ? 0 : g.dbias.strides()[d];
  }
  if (g.drel_table.defined()) out.drel_table = g.drel_table.data<T>();
  return out;
}

// Which operands of a product run over query heads (H of them) rather than key/value heads.
struct HeadSides {
  bool a = true, b = true, c = true;
};

// attn_gemm over grouped-query heads: the B x H query heads read key/value head h / G. With G > 1,
// one batched call per group member g, over the heads h = kvh * G + g (query-head operands step
// G heads, key/value-head operands one), so K and V are read in place and dK, dV accumulate over
// the group (so a key/value-head C needs beta = 1). An empty sum (k = 0) zeroes a dense query-head C in one call.
template <class T>
void gqa_gemm(const char* op, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
              const GemmOperand& a, const GemmOperand& b, double beta, const GemmOperand& c, int64_t B, int64_t H,
              int64_t G, HeadSides q_heads) {
  if (G == 1 || k <= 0) {
    attn_gemm<T>(op, trans_a, trans_b, m, n, k, alpha, a, b, beta, c, B, H);
    return;
  }
  auto member = [&](GemmOperand o, bool query_heads, int64_t g) {
    if (!query_heads) return o;
    o.p = static_cast<const T*>(o.p) + g * o.sh;
    o.sh *= G;
    return o;
  };
  for (int64_t g = 0; g < G; ++g)
    attn_gemm<T>(op, trans_a, trans_b, m, n, k, alpha, member(a, q_heads.a, g), member(b, q_heads.b, g), beta,
                 member(c, q_heads.c, g), B, H / G);
}

}  // namespace memgrad::cuda
