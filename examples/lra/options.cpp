// The lra program's options: the table of numeric options and the checks of a command line.
#include "examples/lra/options.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "dist/dist.h"
#include "examples/lra/io_util.h"
#include "examples/lra/memory_estimate.h"
#include "examples/lra/trainer.h"

namespace memgrad::lra {

namespace {

template <class... Args>
[[noreturn]] void usage(fmt::format_string<Args...> f, Args&&... args) {
  throw UsageError(fmt::format("[lra] {}", fmt::format(f, std::forward<Args>(args)...)));
}

// Upper bounds far above any run this program can make, low enough that no single option
// overflows the arithmetic that uses it (products are checked separately, by the estimate).
constexpr double kMaxSteps = 1e9, kMaxBatch = 1 << 20, kMaxLen = 1 << 24, kMaxCount = 1e9;
constexpr double kMaxDim = 1 << 20, kMaxLayers = 10000, kMaxFF = 1 << 24, kMaxThreads = 1024;
constexpr double kMaxDepth = 1000;  // the ListOps generator recurses once per level

using O = NumericOption;
#define MG_INT(expr) [](RunConfig & c) -> int64_t& { return expr; }
#define MG_REAL(expr) [](RunConfig & c) -> double& { return expr; }
#define MG_SEED(expr) [](RunConfig & c) -> uint64_t& { return expr; }

// An Error's message without the "[op] " it starts with, to be wrapped in another.
std::string inner(const Error& e) {
  std::string m = e.what();
  const size_t end = m.find("] ");
  return m.starts_with('[') && end != std::string::npos ? m.substr(end + 2) : m;
}

std::string describe_int(double lo) {
  return lo == 1 ? "a positive integer" : lo == 0 ? "a non-negative integer" : "an integer";
}

}  // namespace

std::string NumericOption::range() const {
  if (kind == seed) return fmt::format("[0, {}]", std::numeric_limits<uint64_t>::max());
  if (kind == integer) return fmt::format("[{}, {}]", static_cast<int64_t>(lo), static_cast<int64_t>(hi));
  return fmt::format("{}{}, {}{}", lo_open ? "(" : "[", lo, hi, hi_open ? ")" : "]");
}

const std::vector<NumericOption>& numeric_options() {
  static const std::vector<NumericOption> table = {
      {.name = "--steps", .help = "optimizer steps", .kind = O::integer, .lo = 1, .hi = kMaxSteps,
       .int_field = MG_INT(c.train.steps)},
      {.name = "--batch", .help = "sequences per step", .kind = O::integer, .lo = 1, .hi = kMaxBatch,
       .int_field = MG_INT(c.train.batch)},
      {.name = "--lr", .help = "peak learning rate (AdamW, warmup + cosine)", .kind = O::real, .lo = 0, .hi = 10,
       .lo_open = true, .real_field = MG_REAL(c.train.lr)},
      {.name = "--weight-decay", .help = "AdamW's decoupled weight decay", .kind = O::real, .lo = 0, .hi = 100,
       .real_field = MG_REAL(c.train.weight_decay)},
      {.name = "--seed", .help = "model initialisation, dropout and batch order", .kind = O::seed,
       .seed_field = MG_SEED(c.seed)},
      {.name = "--data-seed", .help = "seed of the generated data", .kind = O::seed,
       .seed_field = MG_SEED(c.data.seed)},
      {.name = "--max-len", .help = "longest sequence in tokens (per document for retrieval)", .kind = O::integer,
       .lo = 1, .hi = kMaxLen, .int_field = MG_INT(c.data.max_len)},
      {.name = "--min-len", .help = "shortest generated sequence (0: the task's default)", .kind = O::integer,
       .lo = 0, .hi = kMaxLen, .int_field = MG_INT(c.data.min_len)},
      {.name = "--listops-depth", .help = "ListOps: deepest nesting", .kind = O::integer, .lo = 1, .hi = kMaxDepth,
       .int_field = MG_INT(c.data.listops_max_depth)},
      {.name = "--listops-args", .help = "ListOps: most arguments of an operator", .kind = O::integer, .lo = 2,
       .hi = 64, .int_field = MG_INT(c.data.listops_max_args)},
      {.name = "--n-train", .help = "training examples", .kind = O::integer, .lo = 0, .hi = kMaxCount,
       .int_field = MG_INT(c.data.n_train)},
      {.name = "--n-val", .help = "validation examples", .kind = O::integer, .lo = 0, .hi = kMaxCount,
       .int_field = MG_INT(c.data.n_val)},
      {.name = "--n-test", .help = "test examples", .kind = O::integer, .lo = 0, .hi = kMaxCount,
       .int_field = MG_INT(c.data.n_test)},
      {.name = "--dim", .help = "model width (a multiple of --heads)", .kind = O::integer, .lo = 1, .hi = kMaxDim,
       .int_field = MG_INT(c.model.encoder.dim)},
      {.name = "--layers", .help = "encoder layers", .kind = O::integer, .lo = 1, .hi = kMaxLayers,
       .int_field = MG_INT(c.model.encoder.layers)},
      {.name = "--heads", .help = "attention heads", .kind = O::integer, .lo = 1, .hi = kMaxDim,
       .int_field = MG_INT(c.model.encoder.heads)},
      {.name = "--ff", .help = "feed-forward hidden width", .kind = O::integer, .lo = 1, .hi = kMaxFF,
       .int_field = MG_INT(c.model.encoder.ff_hidden)},
      {.name = "--dropout", .help = "dropout probability", .kind = O::real, .lo = 0, .hi = 1, .hi_open = true,
       .real_field = MG_REAL(c.model.encoder.dropout)},
      {.name = "--top-k", .help = "keys per query of topk attention", .kind = O::integer, .lo = 1, .hi = kMaxLen,
       .int_field = MG_INT(c.model.encoder.attention.top_k)},
      {.name = "--ff-top-k", .help = "top-k feed-forward: hidden units kept per token (0: dense)", .kind = O::integer,
       .lo = 0, .hi = kMaxFF, .int_field = MG_INT(c.model.encoder.ff_topk.top_k)},
      {.name = "--ff-chunk", .help = "tokens per chunk of the top-k feed-forward", .kind = O::integer, .lo = 1,
       .hi = kMaxCount, .int_field = MG_INT(c.model.encoder.ff_topk.chunk)},
      {.name = "--eval-every", .help = "steps between validation passes (0: only at the end)", .kind = O::integer,
       .lo = 0, .hi = kMaxSteps, .int_field = MG_INT(c.train.eval_every)},
      {.name = "--max-eval", .help = "validation examples per pass (0: all)", .kind = O::integer, .lo = 0,
       .hi = kMaxCount, .int_field = MG_INT(c.train.max_eval)},
      {.name = "--patience", .help = "early stopping after this many evaluations without gain (0: off)",
       .kind = O::integer, .lo = 0, .hi = kMaxSteps, .int_field = MG_INT(c.train.patience)},
      {.name = "--threads", .help = "OpenMP threads (default: all cores; 1 is faster on a busy machine)",
       .kind = O::integer, .lo = 1, .hi = kMaxThreads, .int_field = MG_INT(c.threads)},
      {.name = "--kv-heads", .help = "key/value heads: grouped-query attention (0: one per head; must divide --heads)",
       .kind = O::integer, .lo = 0, .hi = kMaxDim, .int_field = MG_INT(c.model.encoder.kv_heads)},
      {.name = "--attn-dropout", .help = "dropout on the attention probabilities (training only)", .kind = O::real,
       .lo = 0, .hi = 1, .hi_open = true, .real_field = MG_REAL(c.model.encoder.attention.dropout_p)},
      {.name = "--bucket", .help = "length bucketing: sort pools of this many batches by length (0: off)",
       .kind = O::integer, .lo = 0, .hi = kMaxCount, .int_field = MG_INT(c.train.bucket)},
  };
  return table;
}

#undef MG_INT
#undef MG_REAL
#undef MG_SEED

int64_t parse_int_option(const std::string& option, const std::string& text, int64_t lo, int64_t hi) {
  const char* first = text.data();
  const char* last = first + text.size();
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(first, last, v);  // decimal only: no "0x", "010" is ten, no spaces
  const bool digits = !text.empty() && end == last && text.find_first_not_of("-0123456789") == std::string::npos;
  if (!digits || (ec != std::errc() && ec != std::errc::result_out_of_range))
    usage("{}: '{}' is not {} (allowed: [{}, {}])", option, io::quote(text), describe_int(static_cast<double>(lo)),
          lo, hi);
  if (ec == std::errc::result_out_of_range || v < lo || v > hi)
    usage("{}: {} is out of range (allowed: [{}, {}])", option, io::quote(text), lo, hi);
  return v;
}

std::vector<int64_t> parse_int_list_option(const std::string& option, const std::string& text, int64_t lo,
                                           int64_t hi) {
  std::vector<int64_t> out;
  for (std::string_view item : io::split(text, ',')) out.push_back(parse_int_option(option, std::string(item), lo, hi));
  return out;
}

std::pair<int64_t, int64_t> parse_window_option(const std::string& option, const std::string& text, int64_t max) {
  const std::vector<int64_t> w = parse_int_list_option(option, text, 0, max);
  if (w.size() > 2) usage("{}: '{}' has {} numbers (allowed: left,right or one number for both)", option,
                          io::quote(text), w.size());
  return {w[0], w.back()};
}

const NumericOption& numeric_option(const std::string& name) {
  for (const auto& o : numeric_options())
    if (name == o.name) return o;
  usage("unknown numeric option '{}'", name);
}

std::vector<AttentionKind> parse_kind_list(const std::string& option, const std::string& list) {
  std::vector<AttentionKind> kinds;
  for (std::string_view item : io::split(list, ',')) {
    AttentionKind k;
    try {
      k = parse_attention_kind(std::string(item));
    } catch (const Error&) {
      usage("{}: '{}' is not an attention kind (allowed: vanilla, chunked, topk, comma-separated)", option,
            io::quote(item));
    }
    if (std::find(kinds.begin(), kinds.end(), k) != kinds.end()) usage("{}: '{}' is given twice", option, item);
    kinds.push_back(k);
  }
  return kinds;
}

namespace {

uint64_t parse_seed(const NumericOption& o, const std::string& text) {
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  if (!digits || end != text.data() + text.size()) usage("{}: '{}' is not {} (allowed: {})", o.name, io::quote(text), "a non-negative integer", o.range());
  if (ec != std::errc()) usage("{}: {} is out of range (allowed: {})", o.name, io::quote(text), o.range());
  return v;
}

double parse_real(const NumericOption& o, const std::string& text) {
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || end != text.data() + text.size() || ec != std::errc() || !std::isfinite(v))
    usage("{}: '{}' is not a finite number (allowed: {})", o.name, io::quote(text), o.range());
  const bool below = o.lo_open ? v <= o.lo : v < o.lo, above = o.hi_open ? v >= o.hi : v > o.hi;
  if (below || above) usage("{}: {} is out of range (allowed: {})", o.name, io::quote(text), o.range());
  return v;
}

// A path option that is given must not be empty.
void check_path(const char* option, const std::optional<std::string>& p) {
  if (p && p->empty()) usage("{}: the path is empty", option);
}

// The shapes the run will use, before any data or tensor exists: the task's vocabulary, classes
// and longest sequence from the config, through the memory estimate's checked arithmetic.
void check_sizes(const RunConfig& c, const std::vector<AttentionKind>& kinds) {
  const auto [min_len, max_len] = task_lengths(c.data);
  (void)min_len;
  ModelConfig m = c.model;
  m.vocab = kByteVocab;  // the larger vocabulary (ListOps has 16)
  m.classes = 10;
  m.max_len = max_len;
  m.pair = c.data.task == "retrieval";
  for (AttentionKind k : kinds) {
    m.encoder.attention.kind = k;
    try {
      (void)estimate_train_step(m, c.train, c.train.pack ? c.train.batch * max_len : max_len);
      for (int64_t n : c.sweep_lengths) {
        ModelConfig ms = m;
        ms.max_len = std::max(m.max_len, *std::max_element(c.sweep_lengths.begin(), c.sweep_lengths.end()));
        (void)estimate_train_step(ms, c.train, c.train.pack ? c.train.batch * n : n);
      }
    } catch (const Error& e) {
      usage("{} (from --batch, --max-len, --dim, --ff, --heads, --kv-heads, --layers, --top-k, --ff-top-k, --ff-chunk, "
            "--sweep-lengths, --pack)",
            inner(e));
    }
  }
}

// --position, --window, --kv-heads against --heads, --pack against --fixed-padding.
void resolve_attention_options(const CommandLine& cl, RunConfig& c) {
  if (cl.position) {
    try {
      c.model.position = parse_position_kind(*cl.position);
    } catch (const Error&) {
      usage("--position: '{}' is not learned, sinusoidal, alibi or relative", io::quote(*cl.position));
    }
  }
  if (cl.window)
    std::tie(c.model.encoder.attention.window_left, c.model.encoder.attention.window_right) =
        parse_window_option("--window", *cl.window, static_cast<int64_t>(kMaxLen));
  const auto& e = c.model.encoder;
  if (e.kv_heads > 0 && e.heads % e.kv_heads != 0)
    usage("--heads {} is not divisible by --kv-heads {}", e.heads, e.kv_heads);
  if (cl.pack && cl.fixed_padding) usage("--pack and --fixed-padding contradict each other (packed batches have no padding)");
  if (cl.pack) c.train.pack = true;
  if (cl.trace_memory) c.train.trace_memory = true;
}

// --data-parallel: the global batch must split evenly among the ranks.
void resolve_data_parallel(const CommandLine& cl, RunConfig& c) {
  if (!cl.data_parallel) return;
  c.train.data_parallel = true;
  const int ranks = dist::world_size();
  if (c.train.batch % ranks != 0)
    usage("--data-parallel: --batch {} does not split evenly among {} ranks", c.train.batch, ranks);
}

// --context-parallel: ring attention takes the chunked kind with none of the options it refuses
// (autograd/ops/attention_ring.cpp), and sequences of one length (no key padding, not packed).
void resolve_context_parallel(const CommandLine& cl, RunConfig& c, const std::vector<AttentionKind>& kinds) {
  if (!cl.context_parallel) return;
  c.train.context_parallel = true;
  const char* opt = "--context-parallel";
  if (cl.mode == "compare") usage("{} runs with lra train (or estimate), not compare (its sweep runs in one process)", opt);
  if (cl.data_parallel) usage("{} and --data-parallel cannot be combined yet (give one)", opt);
  for (AttentionKind k : kinds)
    if (k != AttentionKind::chunked)
      usage("{} needs --attention chunked (ring attention is written for the chunked kind), not {}", opt,
            to_string(k));
  const auto& a = c.model.encoder.attention;
  if (a.window_left >= 0 || a.window_right >= 0) usage("{} does not take --window yet (ring attention has no windows)", opt);
  if (a.dropout_p > 0) usage("{} does not take --attn-dropout yet (ring attention has no attention dropout)", opt);
  if (c.model.position == PositionKind::alibi || c.model.position == PositionKind::relative)
    usage("{} does not take --position {} (ring attention has no position bias; use learned or sinusoidal)", opt,
          position_name(c.model.position));
  if (c.train.pack) usage("{} does not take --pack (ring attention splits one sequence, not packed rows)", opt);
  const auto [min_len, max_len] = task_lengths(c.data);
  if (min_len != max_len)
    usage("{} needs sequences of one length (image, pathfinder, pathx: ring attention takes no key padding), but {} "
          "has lengths {} to {}",
          opt, c.data.task, min_len, max_len);
}

}  // namespace

ResolvedRun resolve_command_line(const CommandLine& cl) {
  ResolvedRun r;
  RunConfig& c = r.cfg;
  try {
    c = make_preset(cl.preset, cl.task);
    const bool train = cl.mode == "train";
    r.kinds = parse_kind_list(train ? "--attention" : "--kinds", train ? cl.attention : cl.kinds);
    c.device = Device::parse(cl.device);
  } catch (const UsageError&) {
    throw;
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  if (cl.mode == "train" && r.kinds.size() != 1) usage("--attention: give one kind (compare runs several)");

  bool min_len_given = false, max_len_given = false;
  for (const auto& [name, text] : cl.numbers) {
    const NumericOption& o = numeric_option(name);
    if (o.kind == NumericOption::integer)
      o.int_field(c) = parse_int_option(o.name, text, static_cast<int64_t>(o.lo), static_cast<int64_t>(o.hi));
    else if (o.kind == NumericOption::seed)
      o.seed_field(c) = parse_seed(o, text);
    else
      o.real_field(c) = parse_real(o, text);
    min_len_given |= name == "--min-len";
    max_len_given |= name == "--max-len";
  }
  if (max_len_given && !min_len_given && c.data.min_len > c.data.max_len) c.data.min_len = 0;  // the task's ratio
  if (cl.pooling) {
    if (*cl.pooling != "mean" && *cl.pooling != "cls")
      usage("--pooling: '{}' is not mean or cls", io::quote(*cl.pooling));
    c.model.pooling = *cl.pooling == "cls" ? nn::Pooling::cls : nn::Pooling::mean;
  }
  check_path("--out-dir", cl.out_dir);
  check_path("--data-dir", cl.data_dir);
  check_path("--init-from", cl.init_from);
  if (cl.data_dir) c.data.data_dir = *cl.data_dir;
  if (cl.init_from) c.init_from = *cl.init_from;
  if (cl.checkpoint_layers) c.model.encoder.checkpoint = true;
  if (cl.fixed_padding) c.train.dynamic_padding = false;
  if (cl.no_sweep) c.sweep_lengths.clear();
  if (cl.sweep_lengths) {
    if (cl.no_sweep) usage("--sweep-lengths and --no-sweep contradict each other");
    c.sweep_lengths = parse_int_list_option("--sweep-lengths", *cl.sweep_lengths, 1, static_cast<int64_t>(kMaxLen));
  }
  if (c.model.encoder.dim % c.model.encoder.heads != 0)
    usage("--dim {} is not divisible by --heads {}", c.model.encoder.dim, c.model.encoder.heads);
  resolve_attention_options(cl, c);
  resolve_data_parallel(cl, c);
  try {
    (void)task_lengths(c.data);
  } catch (const Error& e) {
    usage("{} (--min-len, --max-len)", inner(e));
  }
  resolve_context_parallel(cl, c, r.kinds);
  check_sizes(c, r.kinds);
  if (cl.out_dir) c.out_dir = *cl.out_dir;
  else if (cl.mode == "train") c.out_dir = fmt::format("results/{}-{}-{}", c.data.task, c.preset, to_string(r.kinds[0]));
  else c.out_dir = fmt::format("results/{}-{}", c.data.task, c.preset);
  return r;
}

}  // namespace memgrad::lra
