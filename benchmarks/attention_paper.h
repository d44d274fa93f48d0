#pragma once
// `bench_attention --paper`: the memory tables of Rabe & Staats 2021, "Self-attention Does Not
// Need O(n^2) Memory" (arXiv 2112.05682), made on this machine (docs/benchmarks.md, "--paper").
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "benchmarks/attention_measure.h"

namespace memgrad::bench {

struct PaperOptions {
  std::vector<int64_t> sizes;      // sequence lengths N (default 2^10 .. 2^18)
  std::vector<std::string> kinds;  // of vanilla, chunked, topk
  std::optional<int64_t> q_chunk, k_chunk;  // chunked block sizes; unset: the library defaults
  double headroom = 1.1;  // vanilla runs only where headroom · its predicted peak <= MemAvailable
  std::string out;        // JSON path
  std::string command;    // the command line, for the JSON
};

// The sizes of the default table: N = 2^10 .. 2^18.
std::vector<int64_t> paper_default_sizes();

// Vanilla attention's predicted peak bytes above what is live before the call (its results
// included), from what autograd/ops/attention.cpp's vanilla path allocates (attention_paper.cpp).
int64_t vanilla_predicted_peak(int64_t B, int64_t H, int64_t N, int64_t D, bool backward);

// Measures and prints the table, writes the JSON after every row; returns the exit status.
int run_paper(const Config& c, const PaperOptions& o);

}  // namespace memgrad::bench
