// Top-k attention on the GPU, as on the CPU (cpu_attention_topk.cpp): scores for a block of query
// rows against every key they may see ([B * H, rows, k_end], a cuBLAS product), then one kernel
// that selects each row's top kk keys, softmaxes them and gathers V. Only indices and
// probabilities are kept for backward, which scatter-adds into dK and dV. Every option of
// autograd/attention.h (kCudaAttentionFeatures) through AttnRule (attention_kernels.h): score blocks
// cover only the keys of a query block's band that some (b, h) may see under key padding and
// attn_mask (the first .. last such key), grouped-query heads read K and V in place, packed
// sequences run as tasks over their segments. With p.fused, top_k <= 256 and options the fused
// kernels take (kTopkFusedFeatures), both passes are single fused kernels instead (cuda_topk_fused.cpp).
#include <algorithm>
#include <vector>

#include "backends/attention_mods.h"
#include "backends/attention_visibility.h"
#include "backends/cuda/attention_host.h"
#include "backends/cuda/attention_kernels.h"
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/topk_fused_kernels.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/tensor.h"

namespace memgrad::cuda {
namespace {

// Score-block budget (elements) over all heads: query blocks grow past q_chunk rows while the
// block stays below it. A constant, so memory stays O(N).
constexpr int64_t kBlockElems = int64_t{1} << 22;

// The query blocks of R rows, segment by segment, each with the keys it scores (j0 .. j0 + nk - 1,
// whole-row indices): first_key of its first row .. last_key of its last (the segment's band; keys
// outside it are masked). With key padding or attn_mask the range narrows further to the first ..
// last key that some pair of the block sees for some (b, h) (block_key_spans: one launch and one
// copy back per call), so padded or masked heads and tails of the band are never scored; one block
// covers all B * H heads, so a key stays while any (b, h) sees it. A block may end with no key
// (nk = 0): its rows still get their empty results from the selection kernel.
template <class T>
std::vector<AttnBlock> scored_blocks(const std::vector<Segment>& segs, const AttnRule<T>& rule,
                                     const AttentionParams& p, int64_t R, int64_t BH, const Tensor& like) {
  std::vector<AttnBlock> blocks;
  for (const Segment& sg : segs) {
    const Visibility vis = with_segment(rule, sg, p).vis;
    for (int64_t i0 = sg.q0; i0 < sg.q0 + sg.nq; i0 += R) {
      const int64_t nq = std::min(R, sg.q0 + sg.nq - i0);
      const int64_t kb = vis.first_key(i0 - sg.q0), ke = vis.last_key(i0 + nq - 1 - sg.q0) + 1;
      blocks.push_back(AttnBlock{sg, vis, i0, nq, sg.k0 + std::min(kb, sg.nk), std::max<int64_t>(0, ke - kb)});
    }
  }
  if (!rule.mods.any_pair_mask()) return blocks;
  const std::vector<KeySpan> spans = block_key_spans<T>(blocks, rule, BH, like, "attention_topk");
  for (size_t b = 0; b < blocks.size(); ++b) {
    blocks[b].j0 += spans[b].empty() ? 0 : spans[b].lo;
    blocks[b].nk = spans[b].empty() ? 0 : spans[b].hi - spans[b].lo + 1;
  }
  return blocks;
}

}  // namespace

// Block-wise forward: per segment (packed sequence, or the whole row) and block of query rows, the
// scores against the keys the block may see (scored_blocks: the band, narrowed by key padding and
// attn_mask), then the selection kernel.
void CudaBackend::attention_topk_forward(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in,
                                         const AttentionMods& mods, const AttentionParams& p, Tensor& out, Tensor& idx,
                                         Tensor& probs, Tensor& lse) {
  if (!out.is_contiguous()) {  // autograd's [B, Nq, H, Dv] storage: these kernels write [B, H, Nq, Dv], then a copy
    Tensor o = empty(out.shape(), out.dtype(), out.device());
    attention_topk_forward(q_in, k_in, v_in, mods, p, o, idx, probs, lse);
    copy(o, out);
    return;
  }
  check_attention_supported(mods, p, q_in, k_in, kCudaAttentionFeatures, "the CUDA kernels", "attention_topk");
  MG_CHECK(!lse.defined() || lse.is_contiguous(), "attention_topk", "lse must be contiguous");
  if (topk_fused_forward(q_in, k_in, v_in, mods, p, out, idx, probs, lse)) return;  // one fused kernel
  const int64_t B = q_in.shape()[0], H = q_in.shape()[1], Nq = q_in.shape()[2], D = q_in.shape()[3];
  const int64_t Hkv = k_in.shape()[1], Nk = k_in.shape()[2], Dv = v_in.shape()[3], kk = idx.shape()[3], BH = B * H;
  dispatch_float(q_in.dtype(), "attention_topk", [&]<class T>() {
    if (BH == 0 || Nq == 0) return;
    MG_CHECK(Nk <= INT32_MAX, "attention_topk", "{} keys exceed the int32 indices", Nk);
    const Tensor q = attention_input(q_in), k = attention_input(k_in), v = attention_input(v_in);
    const std::vector<Segment> segs = attention_segments(mods, Nq, Nk);
    int64_t max_nq = 1, max_nk = 1;
    for (const Segment& sg : segs) max_nq = std::max(max_nq, sg.nq), max_nk = std::max(max_nk, sg.nk);
    const int64_t Cq = std::min(p.q_chunk, max_nq);
    const int64_t R = std::max<int64_t>(1, std::min(max_nq, std::max(Cq, kBlockElems / std::max<int64_t>(BH * max_nk, 1))));
    const AttnRule<T> rule = attn_rule<T>(mods, p, H, Hkv, Nq, Nk);
    // scores of R query rows against the keys they may see  [BH, R, <= max_nk]
    Tensor S_t = attention_workspace({BH, R, max_nk}, q.dtype(), q.device());
    T* S = S_t.data<T>();
    for (const AttnBlock& blk : scored_blocks<T>(segs, rule, p, R, BH, q)) {
      const AttnRule<T> rs = with_segment(rule, blk.seg, p);
      const int64_t i0 = blk.i0, nq = blk.nq, jb = blk.j0, ld = blk.nk;
      // S = scale * Q_i K^T  [BH, nq, ld]
      if (ld > 0)
        gqa_gemm<T>("attention_topk", false, true, nq, ld, D, p.scale, head_operand(q, i0), head_operand(k, jb), 0,
                    GemmOperand{S, ld, H * nq * ld, nq * ld}, B, H, rule.G, {true, false, true});
      launch_topk_select<T>(S, BH, nq, ld, i0, jb, rs, v.data<T>(), head_layout(v), Dv, kk, out.data<T>(),
                            idx.data<int32_t>(), probs.data<T>(), lse.defined() ? lse.data<T>() : nullptr);
      check_launch("attention_topk");
    }
  });
}

void CudaBackend::attention_topk_backward(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in,
                                          const AttentionMods& mods, const Tensor& idx_in, const Tensor& probs_in,
                                          const Tensor& grad_out_in, const AttentionParams& p, Tensor& dq, Tensor& dk,
                                          Tensor& dv, AttentionModGrads& g) {
  check_attention_supported(mods, p, q_in, k_in, kCudaAttentionFeatures, "the CUDA kernels", "attention_topk_backward");
  if (topk_fused_backward(q_in, k_in, v_in, mods, idx_in, probs_in, grad_out_in, p, dq, dk, dv)) return;
  const int64_t B = q_in.shape()[0], H = q_in.shape()[1], Nq = q_in.shape()[2], D = q_in.shape()[3];
  const int64_t Hkv = k_in.shape()[1], Nk = k_in.shape()[2], Dv = v_in.shape()[3], kk = idx_in.shape()[3], BH = B * H;
  dispatch_float(q_in.dtype(), "attention_topk_backward", [&]<class T>() {
    if (BH == 0 || Nq == 0 || kk == 0) return;  // no key picked: every gradient stays 0
    MG_CHECK(dq.is_contiguous() && dk.is_contiguous() && dv.is_contiguous(), "attention_topk_backward",
             "dq, dk, dv must be contiguous");
    const Tensor q = attention_input(q_in), k = attention_input(k_in), v = attention_input(v_in);
    const Tensor grad_out = contiguous_copy(grad_out_in);  // [B, H, Nq, Dv]
    const Tensor idx = contiguous_copy(idx_in), probs = contiguous_copy(probs_in);  // [B, H, Nq, kk]
    const AttnRule<T> rule = attn_rule<T>(mods, p, H, Hkv, Nq, Nk);
    const AttnModGrads<T> gr = attn_mod_grads<T>(g);
    for (const Segment& sg : attention_segments(mods, Nq, Nk)) {  // the segment decides relative positions
      launch_topk_backward<T>(q.data<T>(), head_layout(q), k.data<T>(), head_layout(k), v.data<T>(), head_layout(v),
                              idx.data<int32_t>(), probs.data<T>(), grad_out.data<T>(), dq.data<T>(), dk.data<T>(),
                              dv.data<T>(), BH, sg.q0, sg.nq, with_segment(rule, sg, p), gr, D, Dv, kk, p.scale);
      check_launch("attention_topk_backward");
    }
  });
}

}  // namespace memgrad::cuda
