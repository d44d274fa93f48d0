// The command line of lra eval (eval_options.h).
#include "examples/lra/eval_options.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "examples/lra/io_util.h"
#include "examples/lra/options.h"

namespace memgrad::lra {

namespace {

template <class... Args>
[[noreturn]] void usage(fmt::format_string<Args...> f, Args&&... args) {
  throw UsageError(fmt::format("[lra] {}", fmt::format(f, std::forward<Args>(args)...)));
}

void check_path(const char* option, const std::optional<std::string>& p) {
  if (p && p->empty()) usage("{}: the path is empty", option);
}

// The range of a numeric option's table entry (options.cpp), as integers.
std::pair<int64_t, int64_t> range_of(const char* name) {
  const NumericOption& o = numeric_option(name);
  return {static_cast<int64_t>(o.lo), static_cast<int64_t>(o.hi)};
}

}  // namespace

const std::vector<std::string>& eval_numeric_options() {
  static const std::vector<std::string> names = {"--batch", "--max-eval", "--threads", "--ff-chunk"};
  return names;
}

std::vector<TopKValue> parse_top_k_list(const std::string& option, const std::string& text, int64_t lo, int64_t hi) {
  std::vector<TopKValue> out;
  for (std::string_view item : io::split(text, ',')) {
    TopKValue v{.k = 0, .all = item == "all"};
    if (!v.all) {
      try {
        v.k = parse_int_option(option, std::string(item), lo, hi);
      } catch (const UsageError&) {
        usage("{}: '{}' is not an integer in [{}, {}] or 'all' (a comma-separated list)", option, io::quote(item), lo,
              hi);
      }
    }
    if (std::find(out.begin(), out.end(), v) != out.end()) usage("{}: '{}' is given twice", option, io::quote(item));
    out.push_back(v);
  }
  return out;
}

EvalRequest resolve_eval_command_line(const EvalCommandLine& cl) {
  if (!cl.refused.empty())
    usage("{} cannot be given to lra eval: the model and its data come from the checkpoint's stored configuration "
          "(eval takes --from, --attention/--kinds, --trained, --top-k, --ff-top-k, --ff-chunk, --batch, --max-eval, "
          "--threads, --data-dir, --out-dir, --device)",
          cl.refused.front());
  if (cl.from.empty()) usage("--from: give the results folder or checkpoint file to evaluate");
  check_path("--out-dir", cl.out_dir);
  check_path("--data-dir", cl.data_dir);
  EvalRequest r;
  r.from = cl.from;
  if (cl.attention && cl.kinds) usage("--attention and --kinds contradict each other: give one");
  if (cl.attention) {
    r.kinds = parse_kind_list("--attention", *cl.attention);
    if (r.kinds.size() != 1) usage("--attention: give one kind (--kinds takes several)");
  }
  if (cl.kinds) r.kinds = parse_kind_list("--kinds", *cl.kinds);
  if (cl.trained) r.trained = parse_kind_list("--trained", *cl.trained);
  if (cl.top_k) {
    const auto [lo, hi] = range_of("--top-k");
    r.top_k = parse_top_k_list("--top-k", *cl.top_k, lo, hi);
  }
  if (cl.ff_top_k) {
    const auto [lo, hi] = range_of("--ff-top-k");
    r.ff_top_k = parse_top_k_list("--ff-top-k", *cl.ff_top_k, lo, hi);
    for (TopKValue& v : r.ff_top_k) v = {.k = v.all ? 0 : v.k, .all = false};  // all: the dense layer, as 0
    for (size_t i = 0; i < r.ff_top_k.size(); ++i)
      if (std::find(r.ff_top_k.begin(), r.ff_top_k.begin() + static_cast<std::ptrdiff_t>(i), r.ff_top_k[i]) !=
          r.ff_top_k.begin() + static_cast<std::ptrdiff_t>(i))
        usage("--ff-top-k: 0 and all both mean the dense layer: give one");
  }
  const bool topk = std::find(r.kinds.begin(), r.kinds.end(), AttentionKind::topk) != r.kinds.end();
  if (!r.top_k.empty() && !topk) usage("--top-k is for topk attention, which --attention / --kinds leaves out");
  for (const auto& [name, text] : cl.numbers) {
    const auto& allowed = eval_numeric_options();
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) usage("lra eval takes no {}", name);
    const auto [lo, hi] = range_of(name.c_str());
    const int64_t v = parse_int_option(name, text, lo, hi);
    if (name == "--batch") r.batch = v;
    else if (name == "--max-eval") r.max_eval = v;
    else if (name == "--ff-chunk") r.ff_chunk = v;
    else r.threads = v;
  }
  try {
    r.device = Device::parse(cl.device);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  r.data_dir = cl.data_dir;
  namespace fs = std::filesystem;
  if (cl.out_dir) r.out_dir = *cl.out_dir;
  else if (fs::is_directory(cl.from)) r.out_dir = cl.from;
  else r.out_dir = fs::path(cl.from).has_parent_path() ? fs::path(cl.from).parent_path().string() : ".";
  return r;
}

}  // namespace memgrad::lra
