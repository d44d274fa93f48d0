#pragma once
// The lra program's command line: what the user typed (CommandLine), the numeric options with
// their allowed ranges (numeric_options, one table that both registers the options and checks
// them), and the run configuration they give (resolve_command_line: the preset, then each option
// given, each checked). Outside lra_main.cpp so that tests check every rule without running the
// program (tests/test_lra_options.cpp); tests/lra_cli_test.sh checks the built program's exit
// statuses.
//
// Exit statuses of `lra` (also in docs/lra.md and `lra --help`):
//   0  done (or --help)
//   1  an error while running: a data file, --init-from file, results folder or checkpoint (lra
//      eval --from) that cannot be used, a failed training step
//   2  the command line is wrong: an unknown option or subcommand, a value that is not a number,
//      out of its range, or options that contradict each other (e.g. --dim not divisible by --heads)
//   3  refused: the predicted memory of the data or of a training step exceeds the available memory
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "autograd/attention.h"
#include "core/error.h"
#include "examples/lra/presets.h"

namespace memgrad::lra {

constexpr int kExitOk = 0, kExitError = 1, kExitUsage = 2, kExitMemory = 3;

// An option, or a combination of options, that is not valid: lra exits with kExitUsage.
class UsageError : public Error {
 public:
  using Error::Error;
};

// The memory check refused to start: lra exits with kExitMemory.
class MemoryRefusal : public Error {
 public:
  using Error::Error;
};

// What the user typed; unset options keep the preset's values.
struct CommandLine {
  std::string mode = "train";  // train | compare | estimate
  std::string task = "listops", preset = "demo", attention = "chunked", kinds = "vanilla,chunked,topk";
  std::string device = "cpu";
  // The numeric options given, as typed, in order: {"--steps", "100"} (see numeric_options()).
  std::vector<std::pair<std::string, std::string>> numbers;
  std::optional<std::string> out_dir, data_dir, sweep_lengths, pooling, init_from;
  std::optional<std::string> position;  // learned | sinusoidal | alibi | relative
  std::optional<std::string> window;    // "left,right" or "w" (both sides w)
  bool checkpoint_layers = false, fixed_padding = false, no_sweep = false, no_memory_check = false;
  bool pack = false;
  bool data_parallel = false;
  bool trace_memory = false;
  bool context_parallel = false;
};

// A numeric option of every subcommand and the field it sets.
struct NumericOption {
  enum Kind { integer, seed, real };
  const char* name;  // "--steps"
  const char* help;
  Kind kind;
  // Allowed values: integers and seeds [lo, hi]; reals between lo and hi, each end included
  // unless open. Integers and reals must also be finite numbers written in decimal.
  double lo, hi;
  bool lo_open = false, hi_open = false;
  // The field: exactly one is set, by kind (integer, seed, real).
  int64_t& (*int_field)(RunConfig&) = nullptr;
  uint64_t& (*seed_field)(RunConfig&) = nullptr;
  double& (*real_field)(RunConfig&) = nullptr;

  std::string range() const;  // "[1, 4096]", "(0, 10]"
};
const std::vector<NumericOption>& numeric_options();
// The entry of numeric_options() named `name` ("--dim"); UsageError on an unknown name.
const NumericOption& numeric_option(const std::string& name);

// The configuration and attention kinds a command line asks for: the preset, each option checked
// against its range and set, then the checks across options (dim divisible by heads, min-len at
// most max-len, sizes whose byte counts overflow 64 bits). Throws UsageError naming the option
// (or options) and the allowed values; touches no file and allocates no tensor.
struct ResolvedRun {
  RunConfig cfg;
  std::vector<AttentionKind> kinds;  // train: the one --attention, else --kinds
};
ResolvedRun resolve_command_line(const CommandLine& cl);

// The parsers behind resolve_command_line, each throwing UsageError naming `option`:
// a decimal integer in [lo, hi] (no spaces, no other base, no exponent; too large for int64 is
// out of range, never clamped), and a comma-separated list of them.
int64_t parse_int_option(const std::string& option, const std::string& text, int64_t lo, int64_t hi);
std::vector<int64_t> parse_int_list_option(const std::string& option, const std::string& text, int64_t lo,
                                           int64_t hi);
// --window: "left,right" or one number w for both sides (with causal attention the right side is
// moot, so one number is then the left window), each in [0, max]. Returns {left, right}.
std::pair<int64_t, int64_t> parse_window_option(const std::string& option, const std::string& text, int64_t max);
// A comma-separated list of attention kinds, each at most once ("vanilla,topk").
std::vector<AttentionKind> parse_kind_list(const std::string& option, const std::string& list);

}  // namespace memgrad::lra
