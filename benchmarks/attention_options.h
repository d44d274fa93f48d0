#pragma once
// `bench_attention --options`: the cost of attention's options (issue 15's targets) on this
// machine, each a ratio of two runs measured in the same process (docs/attention.md, "Figures"):
//   causal   causal / non-causal forward+backward at N (target <= 0.55);
//   window   per-token time of a (256, 256) sliding window at N = 65536 over that at N = 4096
//            (target <= 1.2: time O(N W), not O(N^2));
//   packed   sequences of lengths uniform in [N/2, N] packed (cu_seqlens) over the same batch padded
//            (key_lengths) (target <= 0.8);
//   gqa, bias, alibi, relative, dropout: time and peak overhead beside the plain call;
//   sgemm    chunked forward+backward at N = 4096 as a fraction of the sgemm rate measured right
//            before and after it, the higher of the two (>= 0.75).
#include <cstdint>
#include <string>
#include <vector>

#include "benchmarks/attention_measure.h"

namespace memgrad::bench {

struct OptionsBench {
  std::vector<std::string> cases;  // of the names above; empty = all
  std::vector<std::string> kinds;  // attention kinds to run (the targets are chunked's)
  int64_t causal_n = 16384, window = 256, window_small_n = 4096, window_large_n = 65536;
  int64_t packed_n = 4096, packed_sequences = 4, plain_n = 4096;
  double sgemm_gflops = 0;  // this run's cblas_sgemm rate
  std::string out, command;
};

// Measures and prints the table, writes the JSON after every row; returns the exit status.
int run_options(const Config& c, const OptionsBench& o);

}  // namespace memgrad::bench
