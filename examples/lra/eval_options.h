#pragma once
// The command line of `lra eval` and its checks (the other subcommands': options.h). The model and
// the data come from the checkpoint, so the options that would change them (--dim, --layers,
// --max-len, --task, ...) are refused as a usage error naming the option, never silently ignored.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "examples/lra/eval.h"

namespace memgrad::lra {

struct EvalCommandLine {
  std::string from;  // --from
  std::optional<std::string> attention, kinds, trained, top_k, ff_top_k, out_dir, data_dir;
  std::string device = "cpu";
  // The numeric options of eval_numeric_options() given, as typed, in order.
  std::vector<std::pair<std::string, std::string>> numbers;
  // Options of train/compare that eval does not take, in the order given.
  std::vector<std::string> refused;
};

// The entries of numeric_options() that eval takes: --batch (the evaluation batch), --max-eval
// (test examples scored), --threads, --ff-chunk. --top-k and --ff-top-k are lists in eval.
const std::vector<std::string>& eval_numeric_options();

// Checks every option and resolves them (lists parsed, out_dir defaulted to the --from folder or
// the checkpoint file's folder). Throws UsageError naming the option: --from missing or empty,
// --attention and --kinds both given, a kind unknown or given twice, a --top-k item not in
// [1, 2^24] or "all", a --ff-top-k item not in [0, 2^24] or "all", an item given twice, --top-k
// without topk among the kinds, a refused option. Reads and writes no file (it only asks whether
// --from is a folder).
EvalRequest resolve_eval_command_line(const EvalCommandLine& cl);

// A comma-separated list of integers in [lo, hi] and/or "all", each at most once.
std::vector<TopKValue> parse_top_k_list(const std::string& option, const std::string& text, int64_t lo, int64_t hi);

}  // namespace memgrad::lra
