// The lra program's command line (examples/lra/options.h) checked without running the program:
// every numeric option's range, numbers that do not fit, lists, the checks across options, and
// sizes whose byte counts overflow. tests/lra_cli_test.sh runs the binary for the exit statuses.
#ifdef MEMGRAD_HAVE_LRA_PROGRAM
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "core/allocator.h"
#include "examples/lra/options.h"
#include "tests/error_test_util.h"

using namespace memgrad;
using namespace memgrad::lra;

namespace {

CommandLine with(std::vector<std::pair<std::string, std::string>> numbers, const std::string& mode = "estimate") {
  CommandLine cl;
  cl.mode = mode;
  cl.numbers = std::move(numbers);
  return cl;
}

// The configuration a command line resolves to (a named value: the option table's fields take one).
RunConfig resolved(const CommandLine& cl) { return resolve_command_line(cl).cfg; }

// Resolving must throw UsageError (lra exits 2) whose message holds every part.
void check_usage(const CommandLine& cl, std::initializer_list<std::string> parts) {
  bool usage = false;
  check_error(
      [&] {
        try {
          resolve_command_line(cl);
        } catch (const UsageError&) {
          usage = true;
          throw;
        }
      },
      parts);
  CHECK_MESSAGE(usage, "not a UsageError");
}

}  // namespace

TEST_CASE("lra options: every numeric option rejects values outside its range, naming option and range") {
  for (const NumericOption& o : numeric_options()) {
    CAPTURE(o.name);
    const std::string range = o.range();
    for (const char* bad : {"", "abc", "1x", " 1", "0x10", "1e400"}) check_usage(with({{o.name, bad}}), {o.name, range});
    if (o.kind == NumericOption::seed) {
      check_usage(with({{o.name, "-1"}}), {o.name, "not a non-negative integer"});
      check_usage(with({{o.name, "18446744073709551616"}}), {o.name, "out of range"});
      RunConfig c = resolved(with({{o.name, "18446744073709551615"}}));
      CHECK(o.seed_field(c) ==
            std::numeric_limits<uint64_t>::max());
      continue;
    }
    if (o.kind == NumericOption::integer) {
      const auto lo = static_cast<int64_t>(o.lo), hi = static_cast<int64_t>(o.hi);
      check_usage(with({{o.name, std::to_string(lo - 1)}}), {o.name, "out of range", range});
      check_usage(with({{o.name, std::to_string(hi + 1)}}), {o.name, "out of range", range});
      check_usage(with({{o.name, "1.5"}}), {o.name, "is not"});
      // Within range: the field takes the value (a width that keeps dim divisible by heads).
      const bool width = std::string(o.name) == "--dim" || std::string(o.name) == "--heads";
      const int64_t v = width ? 1 : lo;
      std::vector<std::pair<std::string, std::string>> n = {{o.name, std::to_string(v)}};
      if (width) n.emplace_back(std::string(o.name) == "--dim" ? "--heads" : "--dim", "1");
      RunConfig c = resolved(with(n));
      CHECK(o.int_field(c) == v);
    } else {
      for (const char* bad : {"nan", "inf", "-inf"}) check_usage(with({{o.name, bad}}), {o.name, "not a finite number"});
      const double below = o.lo_open ? o.lo : o.lo - 1e-9, above = o.hi_open ? o.hi : o.hi * 1.001;
      check_usage(with({{o.name, fmt::format("{}", below)}}), {o.name, "out of range", range});
      check_usage(with({{o.name, fmt::format("{}", above)}}), {o.name, "out of range", range});
      const double inside = o.lo_open ? o.lo + (o.hi - o.lo) / 2 : o.lo;
      RunConfig c = resolved(with({{o.name, fmt::format("{}", inside)}}));
      CHECK(o.real_field(c) == inside);
    }
  }
}

TEST_CASE("lra options: integers are decimal and never clamped") {
  check_usage(with({{"--steps", "99999999999999999999"}}), {"--steps: 99999999999999999999 is out of range"});
  check_usage(with({{"--batch", "4611686018427387904"}}), {"--batch: 4611686018427387904 is out of range"});
  check_usage(with({{"--steps", "-9223372036854775809"}}), {"--steps", "out of range"});
  check_usage(with({{"--steps", "+5"}}), {"--steps: '+5' is not a positive integer"});
  check_usage(with({{"--n-train", "-1"}}), {"--n-train: -1 is out of range (allowed: [0, 1000000000])"});
  CHECK(resolve_command_line(with({{"--steps", "010"}})).cfg.train.steps == 10);  // not octal 8
  CHECK(resolve_command_line(with({{"--eval-every", "0"}, {"--patience", "0"}})).cfg.train.patience == 0);
  check_usage(with({{"--lr", "0"}}), {"--lr: 0 is out of range (allowed: (0, 10])"});
  check_usage(with({{"--dropout", "1"}}), {"--dropout: 1 is out of range (allowed: [0, 1))"});
  check_usage(with({{"--weight-decay", "-0.1"}}), {"--weight-decay", "out of range"});
  check_usage(with({{"--threads", "100000"}}), {"--threads: 100000 is out of range (allowed: [1, 1024])"});
  // Quoted text is escaped: a control byte typed on the command line does not reach the terminal.
  check_usage(with({{"--steps", "1\x1b[2J"}}), {"'1\\x1b[2J'"});
}

TEST_CASE("lra options: lists of lengths and kinds") {
  CommandLine cl;
  cl.mode = "compare";
  cl.sweep_lengths = "64,128";
  CHECK(resolve_command_line(cl).cfg.sweep_lengths == std::vector<int64_t>{64, 128});
  for (const char* bad : {"abc", "64,abc", "64,,128", "", "64 "}) {
    cl.sweep_lengths = bad;
    check_usage(cl, {"--sweep-lengths: '", "is not a positive integer"});
  }
  cl.sweep_lengths = "0";
  check_usage(cl, {"--sweep-lengths: 0 is out of range"});
  cl.sweep_lengths = "64,-64";
  check_usage(cl, {"--sweep-lengths: -64 is out of range"});
  cl.sweep_lengths = "64";
  cl.no_sweep = true;
  check_usage(cl, {"--sweep-lengths and --no-sweep"});
  cl = CommandLine{};
  cl.mode = "compare";
  cl.kinds = "vanilla,vanilla";
  check_usage(cl, {"--kinds: 'vanilla' is given twice"});
  cl.kinds = "vanilla,,topk";
  check_usage(cl, {"--kinds: '' is not an attention kind"});
  cl.kinds = "flash";
  check_usage(cl, {"--kinds: 'flash' is not an attention kind"});
  cl.kinds = "topk,chunked";
  CHECK(resolve_command_line(cl).kinds == std::vector<AttentionKind>{AttentionKind::topk, AttentionKind::chunked});
  cl = CommandLine{};
  cl.attention = "vanilla,topk";  // train: one kind
  check_usage(cl, {"--attention: give one kind"});
}

TEST_CASE("lra options: checks across options, names and paths") {
  check_usage(with({{"--heads", "3"}}), {"--dim 64 is not divisible by --heads 3"});
  check_usage(with({{"--min-len", "300"}, {"--max-len", "100"}}), {"min_len 300 is above max_len 100", "--min-len"});
  // --max-len alone below the preset's min-len takes the task's ratio, as before.
  CHECK(resolve_command_line(with({{"--max-len", "20"}})).cfg.data.min_len == 0);
  CommandLine cl;
  cl.out_dir = "";
  check_usage(cl, {"--out-dir: the path is empty"});
  cl = CommandLine{};
  cl.data_dir = "";
  check_usage(cl, {"--data-dir: the path is empty"});
  cl = CommandLine{};
  cl.init_from = "";
  check_usage(cl, {"--init-from: the path is empty"});
  cl = CommandLine{};
  cl.pooling = "max";
  check_usage(cl, {"--pooling: 'max' is not mean or cls"});
  cl = CommandLine{};
  cl.task = "cifar";
  check_usage(cl, {"unknown task 'cifar'"});
  cl = CommandLine{};
  cl.preset = "big";
  check_usage(cl, {"unknown preset 'big'"});
  cl = CommandLine{};
  cl.device = "gpu";
  check_usage(cl, {"cannot parse device 'gpu'"});
}

TEST_CASE("lra options: sizes whose byte counts overflow are refused before anything is allocated") {
  const int64_t held = memory::stats(Device::cpu()).current;
  check_usage(with({{"--batch", "1048576"}, {"--max-len", "16777216"}, {"--dim", "1048576"}, {"--heads", "1"}}),
              {"overflow", "--batch"});
  CommandLine cl = with({{"--max-len", "16777216"}, {"--batch", "1048576"}}, "compare");
  cl.kinds = "vanilla";  // [B, H, N, N] probabilities: 2^20 * 4 * 2^48 * 4 bytes
  check_usage(cl, {"overflow"});
  cl.kinds = "chunked";  // linear in N: a count that fits (the memory check refuses it later)
  CHECK_NOTHROW(resolve_command_line(cl));
  CHECK(memory::stats(Device::cpu()).current == held);
}

TEST_CASE("lra options: every preset resolves for every task and mode") {
  for (const std::string& preset : preset_names())
    for (const std::string& task : task_names())
      for (const char* mode : {"train", "compare", "estimate"}) {
        CAPTURE(preset);
        CAPTURE(task);
        CAPTURE(mode);
        CommandLine cl;
        cl.mode = mode, cl.preset = preset, cl.task = task;
        const ResolvedRun r = resolve_command_line(cl);
        CHECK(r.cfg.out_dir.find(task) != std::string::npos);
        CHECK(r.kinds.size() == (std::string(mode) == "train" ? 1u : 3u));
      }
}

#endif  // MEMGRAD_HAVE_LRA_PROGRAM
