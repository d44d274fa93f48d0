// Host half of the block test of the block-wise attention paths (attention_host.h's
// block_key_spans; the kernel: cuda_attention_blocks.cu). One list upload, one launch and one small
// copy back per call, made only when key padding or attn_mask is given.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "backends/cuda/attention_host.h"
#include "backends/cuda/attention_kernels.h"
#include "backends/cuda/cuda_check.h"
#include "core/dtype.h"
#include "core/tensor.h"

namespace memgrad::cuda {

template <class T>
std::vector<KeySpan> block_key_spans(const std::vector<AttnBlock>& blocks, const AttnRule<T>& rule, int64_t BH,
                                     const Tensor& like, const char* op) {
  const int64_t n = static_cast<int64_t>(blocks.size());
  std::vector<KeySpan> out(blocks.size());
  int64_t width = 0;
  for (size_t i = 0; i < blocks.size(); ++i) {
    out[i] = KeySpan{0, blocks[i].nk - 1};
    width = std::max(width, blocks[i].nk);
  }
  if (!rule.mods.any_pair_mask() || n == 0 || width == 0) return out;
  // one device buffer: the blocks, then the spans (int32 [2 n], zeroed)
  static_assert(sizeof(AttnBlock) % sizeof(int64_t) == 0);
  const int64_t block_words = n * static_cast<int64_t>(sizeof(AttnBlock) / sizeof(int64_t));
  Tensor buf = empty({block_words + n}, DType::int64, like.device());
  auto* dev_blocks = static_cast<AttnBlock*>(buf.raw_data());
  auto* dev_span = reinterpret_cast<int32_t*>(buf.data<int64_t>() + block_words);
  MG_CUDA_CHECK(op, cudaMemcpy(dev_blocks, blocks.data(), n * sizeof(AttnBlock), cudaMemcpyHostToDevice));
  MG_CUDA_CHECK(op, cudaMemsetAsync(dev_span, 0, 2 * n * sizeof(int32_t), 0));
  launch_attn_block_spans<T>(dev_blocks, n, width, BH, rule, dev_span);
  check_launch(op);
  std::vector<int32_t> span(2 * n);
  MG_CUDA_CHECK(op, cudaMemcpy(span.data(), dev_span, span.size() * sizeof(int32_t), cudaMemcpyDeviceToHost));
  for (int64_t i = 0; i < n; ++i)  // span holds max(width - c) and max(c + 1): 0 and 0 for no pair
    out[i] = KeySpan{width - span[2 * i], span[2 * i + 1] - 1};
  return out;
}

template std::vector<KeySpan> block_key_spans<float>(const std::vector<AttnBlock>&, const AttnRule<float>&, int64_t,
                                                     const Tensor&, const char*);
template std::vector<KeySpan> block_key_spans<double>(const std::vector<AttnBlock>&, const AttnRule<double>&,
                                                      int64_t, const Tensor&, const char*);

}  // namespace memgrad::cuda
