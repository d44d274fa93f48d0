#pragma once
// One attention measurement, shared by bench_attention's tables (attention.cpp) and its `--paper`
// table (attention_paper.cpp): exact allocator bytes and the median time of one call.
#include <cstdint>
#include <limits>
#include <string>

#include "autograd/attention.h"

namespace memgrad::bench {

struct Config {
  int64_t B = 1, H = 4, D = 64, top_k = 64;
  int repeats = 5;
  double budget_s = 20;  // stop repeating a measurement once it has taken this long
  // A first call (the one that measures memory) that takes at least this long is the only time
  // sample: at large N a second call would double the run for no better figure.
  double single_call_s = std::numeric_limits<double>::infinity();
  Device device = Device::cpu();
  int warmup = 0;  // extra untimed calls after the first (which measures memory and warms caches)
};

// Bytes are exact allocator counts (memory::PeakMeter) for one call on [B, H, N, D] float32 inputs:
//   peak      the highest live bytes during the call minus the bytes live before it (q, k, v, the
//             output gradient w and whatever the caller holds are "before");
//   results   the bytes of what the call returns: the output O, and for forward+backward the
//             gradients dQ, dK, dV (4 tensors of B·H·N·D floats);
//   overhead  peak - results: scores, probabilities, saved statistics, workspaces. Exact where all
//             results are live at the peak (the chunked and topk kinds, any forward); where some are
//             allocated after it (vanilla's backward peaks before dQ and dK exist), it is lower
//             than the bytes live at the peak by those tensors.
struct Measure {
  double seconds;      // median wall time
  double cpu_seconds;  // median CPU time of the process (all threads)
  int64_t peak;
  int64_t results;
  int64_t overhead;
  int samples;
  bool first_call_timed;  // the memory-measuring call was the only sample (Config::single_call_s)
};

// Median time and peak bytes of one attention call (fwd, or fwd+bwd when `backward`) on random
// [B, H, N, D] float32 q, k, v.
Measure measure(const Config& c, int64_t N, const AttentionOptions& opts, bool backward);

// The same on given inputs: q [B, H, Nq, D], k [B, Hkv, Nk, D], v [B, Hkv, Nk, Dv] and the output
// gradient w [B, H, Nq, Dv]; `results` counts the output and (backward) the three input gradients.
// Options holding tensors (bias, masks, cu_seqlens) are made by the caller before the call.
struct Inputs {
  Tensor q, k, v, w;
};
Inputs random_inputs(const Config& c, const Shape& q, const Shape& kv);
Measure measure(const Config& c, Inputs in, const AttentionOptions& opts, bool backward);

}  // namespace memgrad::bench
