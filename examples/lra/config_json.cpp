// The run configuration to and from JSON (results.json, checkpoint metadata).
#include "examples/lra/config_json.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <string_view>

#include "core/error.h"
#include "examples/lra/options.h"

namespace memgrad::lra {

nlohmann::json config_to_json(const RunConfig& c) {
  const auto& e = c.model.encoder;
  const auto& t = c.train;
  return {
      {"preset", c.preset},
      {"seed", c.seed},
      {"init_from", c.init_from},
      {"data",
       {{"task", c.data.task}, {"n_train", c.data.n_train}, {"n_val", c.data.n_val}, {"n_test", c.data.n_test},
        {"min_len", c.data.min_len}, {"max_len", c.data.max_len}, {"image_side", c.data.image_side},
        {"listops_max_depth", c.data.listops_max_depth}, {"listops_max_args", c.data.listops_max_args},
        {"data_seed", c.data.seed}, {"data_dir", c.data.data_dir},
        {"pathfinder_difficulty", c.data.pathfinder_difficulty}}},
      {"model",
       {{"vocab", c.model.vocab}, {"classes", c.model.classes}, {"max_len", c.model.max_len}, {"pair", c.model.pair},
        {"head_hidden", c.model.head_hidden}, {"dim", e.dim}, {"heads", e.heads}, {"layers", e.layers},
        {"ff_hidden", e.ff_hidden}, {"ff_top_k", e.ff_topk.top_k}, {"ff_chunk", e.ff_topk.chunk},
        {"dropout", e.dropout}, {"activation", e.activation == nn::Activation::gelu ? "gelu" : "relu"},
        {"top_k", e.attention.top_k}, {"checkpoint_layers", e.checkpoint},
        {"pooling", c.model.pooling == nn::Pooling::cls ? "cls" : "mean"},
        {"positions", position_name(c.model.position)}, {"kv_heads", e.kv_heads},
        {"relative_buckets", e.relative_buckets}, {"relative_max_distance", e.attention.relative_max_distance},
        {"window_left", e.attention.window_left}, {"window_right", e.attention.window_right},
        {"attn_dropout", e.attention.dropout_p}}},
      {"train",
       {{"steps", t.steps}, {"batch", t.batch}, {"lr", t.lr}, {"weight_decay", t.weight_decay},
        {"warmup_frac", t.warmup_frac}, {"min_lr_frac", t.min_lr_frac}, {"clip", t.clip},
        {"eval_every", t.eval_every}, {"patience", t.patience}, {"eval_batch", t.eval_batch},
        {"max_eval", t.max_eval}, {"dynamic_padding", t.dynamic_padding}, {"bucket", t.bucket}, {"pack", t.pack}, {"data_parallel", t.data_parallel},
        {"context_parallel", t.context_parallel}, {"optimizer", "AdamW"},
        {"schedule", "linear warmup + cosine"}}},
      {"sweep_lengths", c.sweep_lengths},
      {"sweep_steps", c.sweep_steps},
  };
}

namespace {

constexpr const char* kOp = "lra config";

// Reads typed values at dotted keys ("model.dim") of one JSON object; every failure names the
// source file and the key.
class Reader {
 public:
  Reader(const nlohmann::json& root, const std::string& source) : root_(root), source_(source) {
    if (!root.is_object()) fail(kOp, "{}: the stored run configuration is not a JSON object", source_);
  }

  // Whether the key exists: the keys added after the first checkpoints (issue 15's attention
  // options) are optional, their absence meaning the old behaviour.
  bool has(std::string_view key) const {
    const nlohmann::json* node = &root_;
    size_t begin = 0;
    while (true) {
      const size_t dot = key.find('.', begin);
      const std::string part(key.substr(begin, dot == std::string_view::npos ? key.size() - begin : dot - begin));
      if (!node->is_object() || !node->contains(part)) return false;
      node = &(*node)[part];
      if (dot == std::string_view::npos) return true;
      begin = dot + 1;
    }
  }

  const nlohmann::json& at(std::string_view key) const {
    const nlohmann::json* node = &root_;
    size_t begin = 0;
    while (true) {
      const size_t dot = key.find('.', begin);
      const std::string part(key.substr(begin, dot == std::string_view::npos ? key.size() - begin : dot - begin));
      if (!node->is_object() || !node->contains(part)) bad(key, "is missing");
      node = &(*node)[part];
      if (dot == std::string_view::npos) return *node;
      begin = dot + 1;
    }
  }

  int64_t integer(std::string_view key, int64_t lo = std::numeric_limits<int64_t>::min(),
                  int64_t hi = std::numeric_limits<int64_t>::max()) const {
    const nlohmann::json& v = at(key);
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)))
      bad(key, fmt::format("is {}, not an integer", shown(v)));
    const int64_t x = v.get<int64_t>();
    if (x < lo || x > hi) bad(key, fmt::format("is {}, out of range (allowed: [{}, {}])", x, lo, hi));
    return x;
  }
  // An integer in the range of the command-line option that sets it (options.h).
  int64_t integer_of(std::string_view key, const char* option) const {
    const NumericOption& o = numeric_option(option);
    return integer(key, static_cast<int64_t>(o.lo), static_cast<int64_t>(o.hi));
  }
  uint64_t seed(std::string_view key) const {
    const nlohmann::json& v = at(key);
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
      bad(key, fmt::format("is {}, not a non-negative integer", shown(v)));
    return v.get<uint64_t>();
  }
  double real(std::string_view key) const {
    const nlohmann::json& v = at(key);
    if (!v.is_number() || !std::isfinite(v.get<double>()))
      bad(key, fmt::format("is {}, not a finite number", shown(v)));
    return v.get<double>();
  }
  bool flag(std::string_view key) const {
    const nlohmann::json& v = at(key);
    if (!v.is_boolean()) bad(key, fmt::format("is {}, not true or false", shown(v)));
    return v.get<bool>();
  }
  std::string text(std::string_view key) const {
    const nlohmann::json& v = at(key);
    if (!v.is_string()) bad(key, fmt::format("is {}, not a string", shown(v)));
    return v.get<std::string>();
  }
  // A string that must be one of `choices`.
  std::string choice(std::string_view key, std::initializer_list<const char*> choices) const {
    const std::string s = text(key);
    for (const char* c : choices)
      if (s == c) return s;
    bad(key, fmt::format("is {}, not one of {}", shown(at(key)), fmt::join(choices, ", ")));
  }
  std::vector<int64_t> integers(std::string_view key) const {
    const nlohmann::json& v = at(key);
    if (!v.is_array()) bad(key, fmt::format("is {}, not a list of integers", shown(v)));
    std::vector<int64_t> out;
    for (const auto& x : v) {
      if (!x.is_number_integer()) bad(key, fmt::format("holds {}, not an integer", shown(x)));
      out.push_back(x.get<int64_t>());
    }
    return out;
  }

  [[noreturn]] void bad(std::string_view key, const std::string& what) const {
    fail(kOp, "{}: the stored run configuration's '{}' {}", source_, key, what);
  }

 private:
  // A value from the file as a message shows it: JSON text, escaped and cut short.
  static std::string shown(const nlohmann::json& v) { return escape_bytes(v.dump(), 60); }

  const nlohmann::json& root_;
  const std::string& source_;
};

void read_data(const Reader& r, TaskConfig& d) {
  d.task = r.text("data.task");
  d.n_train = r.integer("data.n_train", -1);
  d.n_val = r.integer("data.n_val", -1);
  d.n_test = r.integer("data.n_test", -1);
  d.min_len = r.integer("data.min_len", 0);
  d.max_len = r.integer("data.max_len", 0);
  d.image_side = r.integer("data.image_side", 0);
  d.listops_max_depth = r.integer_of("data.listops_max_depth", "--listops-depth");
  d.listops_max_args = r.integer_of("data.listops_max_args", "--listops-args");
  d.seed = r.seed("data.data_seed");
  d.data_dir = r.text("data.data_dir");
  d.pathfinder_difficulty = r.text("data.pathfinder_difficulty");
}

// The attention options of issue 15; each absent key (an earlier checkpoint) keeps its default.
void read_attention_options(const Reader& r, ModelConfig& m) {
  auto& e = m.encoder;
  const int64_t max_len = static_cast<int64_t>(numeric_option("--max-len").hi);
  if (r.has("model.kv_heads")) e.kv_heads = r.integer_of("model.kv_heads", "--kv-heads");
  if (e.kv_heads > 0 && e.heads % e.kv_heads != 0)
    r.bad("model.kv_heads", fmt::format("{} does not divide model.heads {}", e.kv_heads, e.heads));
  if (r.has("model.relative_buckets")) e.relative_buckets = r.integer("model.relative_buckets", 2, 1 << 20);
  if (r.has("model.relative_max_distance"))
    e.attention.relative_max_distance = r.integer("model.relative_max_distance", 1, max_len);
  if (r.has("model.window_left")) e.attention.window_left = r.integer("model.window_left", -1, max_len);
  if (r.has("model.window_right")) e.attention.window_right = r.integer("model.window_right", -1, max_len);
  if (r.has("model.attn_dropout")) e.attention.dropout_p = r.real("model.attn_dropout");
  if (e.attention.dropout_p < 0 || e.attention.dropout_p >= 1)
    r.bad("model.attn_dropout", fmt::format("is {}, out of range (allowed: [0, 1))", e.attention.dropout_p));
}

void read_model(const Reader& r, ModelConfig& m) {
  m.vocab = r.integer("model.vocab", 1);
  m.classes = r.integer("model.classes", 2);
  m.max_len = r.integer_of("model.max_len", "--max-len");
  m.pair = r.flag("model.pair");
  m.head_hidden = r.integer("model.head_hidden", 0, static_cast<int64_t>(numeric_option("--dim").hi));
  m.pooling = r.choice("model.pooling", {"mean", "cls"}) == "cls" ? nn::Pooling::cls : nn::Pooling::mean;
  m.position = parse_position_kind(r.choice("model.positions", {"learned", "sinusoidal", "alibi", "relative"}));
  auto& e = m.encoder;
  e.dim = r.integer_of("model.dim", "--dim");
  e.heads = r.integer_of("model.heads", "--heads");
  e.layers = r.integer_of("model.layers", "--layers");
  e.ff_hidden = r.integer_of("model.ff_hidden", "--ff");
  e.ff_topk.top_k = r.integer_of("model.ff_top_k", "--ff-top-k");
  e.ff_topk.chunk = r.integer_of("model.ff_chunk", "--ff-chunk");
  e.dropout = r.real("model.dropout");
  if (e.dropout < 0 || e.dropout >= 1)
    r.bad("model.dropout", fmt::format("is {}, out of range (allowed: [0, 1))", e.dropout));
  e.activation = r.choice("model.activation", {"gelu", "relu"}) == "gelu" ? nn::Activation::gelu : nn::Activation::relu;
  e.attention.top_k = r.integer_of("model.top_k", "--top-k");
  e.checkpoint = r.flag("model.checkpoint_layers");
  if (e.dim % e.heads != 0) r.bad("model.dim", fmt::format("{} is not divisible by model.heads {}", e.dim, e.heads));
  read_attention_options(r, m);
}

void read_train(const Reader& r, TrainOptions& t) {
  t.steps = r.integer("train.steps", 0);
  t.batch = r.integer("train.batch", 1);
  t.lr = r.real("train.lr");
  t.weight_decay = r.real("train.weight_decay");
  t.warmup_frac = r.real("train.warmup_frac");
  t.min_lr_frac = r.real("train.min_lr_frac");
  t.clip = r.real("train.clip");
  t.eval_every = r.integer("train.eval_every", 0);
  t.patience = r.integer("train.patience", 0);
  t.eval_batch = r.integer("train.eval_batch", 1);
  t.max_eval = r.integer("train.max_eval", 0);
  t.dynamic_padding = r.flag("train.dynamic_padding");
  t.bucket = r.integer("train.bucket", 0);
  if (r.has("train.pack")) t.pack = r.flag("train.pack");
  if (r.has("train.data_parallel")) t.data_parallel = r.flag("train.data_parallel");
  if (r.has("train.context_parallel")) t.context_parallel = r.flag("train.context_parallel");
}

}  // namespace

RunConfig config_from_json(const nlohmann::json& j, const std::string& source) {
  const Reader r(j, source);
  RunConfig c;
  c.preset = r.text("preset");
  c.seed = r.seed("seed");
  c.init_from = r.text("init_from");
  read_data(r, c.data);
  read_model(r, c.model);
  read_train(r, c.train);
  c.sweep_lengths = r.integers("sweep_lengths");
  c.sweep_steps = r.integer("sweep_steps", 0);
  return c;
}

}  // namespace memgrad::lra
