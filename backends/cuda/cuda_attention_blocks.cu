// Which keys of each block of a block-wise attention pass (cuda_attention_chunked.cpp,
// cuda_attention_topk.cpp) some pair sees under key padding and attn_mask: the device half of
// block_key_spans (cuda_attention_blocks.cpp). One thread per (block, batch, head, key column);
// it walks the block's rows that the band lets see its key (Visibility::first_query ..
// last_query) until AttnRule::visible passes, so the causal / window rule, key padding and
// attn_mask are those of the rule headers (attention_visibility.h, attention_scores.h), not
// restated here.
#include <cuda_runtime.h>

#include <cstdint>

#include "backends/attention_visibility.h"
#include "backends/cuda/attention_kernels.h"
#include "backends/cuda/kernel_args.h"

namespace memgrad::cuda {
namespace {

// Work items t = ((blk * nb + b) * nh + h) * width + c. Heads and batches along which neither key
// padding nor attn_mask varies are visited once (nb or nh is 1): any of them stands for all.
template <class T>
__global__ void block_spans_kernel(const AttnBlock* blocks, int64_t n, int64_t width, int64_t nb, int64_t nh,
                                   AttnRule<T> rule, int32_t* span) {
  const int64_t items = n * nb * nh * width;
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < items; t += int64_t{gridDim.x} * blockDim.x) {
    const int64_t c = t % width, h = (t / width) % nh, b = (t / (width * nh)) % nb, blk = t / (width * nh * nb);
    const AttnBlock a = blocks[blk];
    if (c >= a.nk) continue;
    AttnRule<T> r = rule;  // the block's segment and its rule
    r.seg = a.seg;
    r.vis = a.vis;
    const int64_t j = a.j0 + c, jl = j - a.seg.k0, bh = b * rule.H + h;
    // the block's rows (segment-local) that the band lets see key j
    const int64_t lo = a.vis.first_query(jl) > a.i0 - a.seg.q0 ? a.vis.first_query(jl) : a.i0 - a.seg.q0;
    const int64_t last = a.i0 + a.nq - 1 - a.seg.q0;
    const int64_t hi = a.vis.last_query(jl) < last ? a.vis.last_query(jl) : last;
    bool seen = false;
    for (int64_t il = lo; il <= hi && !seen; ++il) {
      seen = r.visible(bh, a.seg.q0 + il, j);
      if (!rule.mods.mask) break;  // without attn_mask, key padding is the same for every row
    }
    if (!seen) continue;
    atomicMax(span + 2 * blk, static_cast<int32_t>(width - c));
    atomicMax(span + 2 * blk + 1, static_cast<int32_t>(c + 1));
  }
}

}  // namespace

template <class T>
void launch_attn_block_spans(const AttnBlock* blocks, int64_t n, int64_t width, int64_t BH, const AttnRule<T>& rule,
                             int32_t* span) {
  const ScoreMods<T>& m = rule.mods;
  const int64_t nb = m.key_valid || (m.mask && m.mask_s[0] != 0) ? BH / rule.H : 1;
  const int64_t nh = m.mask && m.mask_s[1] != 0 ? rule.H : 1;
  const int64_t items = n * nb * nh * width;
  if (items <= 0) return;
  block_spans_kernel<T><<<blocks_for(items), kThreads>>>(blocks, n, width, nb, nh, rule, span);
}

template void launch_attn_block_spans<float>(const AttnBlock*, int64_t, int64_t, int64_t, const AttnRule<float>&,
                                             int32_t*);
template void launch_attn_block_spans<double>(const AttnBlock*, int64_t, int64_t, int64_t, const AttnRule<double>&,
                                              int32_t*);

}  // namespace memgrad::cuda
