// The task registry: defaults, the choice between generator and loader, and seeded generation.
#include <algorithm>
#include <exception>
#include <unordered_set>

#include "core/error.h"
#include "examples/lra/generators.h"
#include "examples/lra/listops.h"
#include "examples/lra/loaders.h"

namespace memgrad::lra {

const char* split_name(Split s) { return s == Split::train ? "train" : s == Split::val ? "val" : "test"; }

Split parse_split(const std::string& name) {
  if (name == "train") return Split::train;
  if (name == "val" || name == "valid" || name == "eval") return Split::val;
  if (name == "test") return Split::test;
  fail("lra", "unknown split '{}' (expected train, val or test)", name);
}

const std::vector<Example>& Dataset::split(Split s) const { return s == Split::train ? train : s == Split::val ? val : test; }
std::vector<Example>& Dataset::split(Split s) { return s == Split::train ? train : s == Split::val ? val : test; }

const std::vector<std::string>& task_names() {
  static const std::vector<std::string> names = {"listops", "text", "retrieval", "image", "pathfinder", "pathx"};
  return names;
}

namespace {

constexpr int64_t kDefaultTrain = 2000, kDefaultEval = 250;

struct Resolved {
  int task;  // index into task_names()
  int64_t min_len, max_len, side;
};

Resolved resolve(const TaskConfig& cfg) {
  const auto& names = task_names();
  auto it = std::find(names.begin(), names.end(), cfg.task);
  MG_CHECK(it != names.end(), "lra", "unknown task '{}' (expected one of {})", cfg.task, fmt::join(names, ", "));
  Resolved r{static_cast<int>(it - names.begin()), cfg.min_len, cfg.max_len, cfg.image_side};
  MG_CHECK(cfg.min_len >= 0 && cfg.max_len >= 0 && cfg.image_side >= 0, "lra",
           "{}: min_len {}, max_len {} and image_side {} must not be negative", cfg.task, cfg.min_len, cfg.max_len,
           cfg.image_side);
  // Defaults (LRA's lengths); a max_len given without min_len gets min_len = max_len / 4
  // (listops) or max_len / 2 (text, retrieval).
  static const int64_t def_max[] = {2000, 1000, 4000}, def_min[] = {500, 500, 2000}, min_div[] = {4, 2, 2};
  if (r.task < 3) {
    if (r.max_len == 0) r.max_len = def_max[r.task];
    if (r.min_len == 0) r.min_len = cfg.max_len == 0 ? def_min[r.task] : std::max<int64_t>(1, r.max_len / min_div[r.task]);
    MG_CHECK(r.min_len <= r.max_len, "lra", "{}: min_len {} is above max_len {}", cfg.task, r.min_len, r.max_len);
  } else {
    if (r.side == 0) r.side = r.task == 5 ? 128 : 32;
    r.min_len = r.max_len = r.side * r.side;
  }
  return r;
}

uint64_t hash_tokens(const std::vector<int32_t>& t) {
  uint64_t h = 0x6a09e667f3bcc908ull ^ t.size();
  for (int32_t v : t) h = splitmix64(h ^ static_cast<uint64_t>(v));
  return h;
}

void generate_split(const TaskConfig& cfg, const Resolved& r, Split split, int64_t n, std::vector<Example>& out,
                    std::unordered_set<uint64_t>& seen) {
  MG_CHECK(n >= 0, "lra", "{}: {} size {} is negative", cfg.task, split_name(split), n);
  const uint64_t key = mix_seed(cfg.seed, static_cast<uint64_t>(r.task) + 1, static_cast<uint64_t>(split) + 1);
  // Balanced labels in a seeded order (ListOps labels are the trees' values instead).
  const int classes = r.task == 3 ? kImageClasses : 2;
  std::vector<int32_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) labels[static_cast<size_t>(i)] = static_cast<int32_t>(i % classes);
  Rng label_rng(mix_seed(key, 0x1abe1ull));
  label_rng.shuffle(labels);

  ListOpsParams lp{r.min_len, r.max_len, cfg.listops_max_depth, cfg.listops_max_args};
  auto make = [&](int64_t i, uint64_t attempt) {
    Rng rng(mix_seed(key, static_cast<uint64_t>(i), attempt));
    int32_t label = labels[static_cast<size_t>(i)];
    switch (r.task) {
      case 0: {
        ListOpsTree t = generate_listops(rng, lp);
        return Example{std::move(t.tokens), {}, t.value};
      }
      case 1: return generate_text(rng, label, r.min_len, r.max_len);
      case 2: return generate_retrieval(rng, label, r.min_len, r.max_len);
      case 3: return generate_image(rng, label, r.side);
      default: return generate_pathfinder(rng, label, r.side);
    }
  };
  if (n > 0) make(0, 0);  // a bad config throws here, outside the parallel loop
  out.assign(static_cast<size_t>(n), Example{});
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic, 8)
  for (int64_t i = 0; i < n; ++i) {
    try {
      out[static_cast<size_t>(i)] = make(i, 0);
    } catch (...) {
#pragma omp critical(lra_generate_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  if (r.task != 0) return;
  // ListOps, as LRA, holds distinct trees across all splits: redraw a duplicate with a new stream.
  for (int64_t i = 0; i < n; ++i) {
    Example& ex = out[static_cast<size_t>(i)];
    for (uint64_t attempt = 1; !seen.insert(hash_tokens(ex.tokens)).second; ++attempt) {
      MG_CHECK(attempt < 1000, "lra", "listops: cannot draw {} distinct trees with lengths in [{}, {}]", n,
               r.min_len, r.max_len);
      ex = make(i, attempt);
    }
  }
}

}  // namespace

std::pair<int64_t, int64_t> task_lengths(const TaskConfig& cfg) {
  const Resolved r = resolve(cfg);
  return {r.min_len, r.max_len};
}

int64_t generated_split_size(const TaskConfig& cfg, Split s) {
  const int64_t n = s == Split::train ? cfg.n_train : s == Split::val ? cfg.n_val : cfg.n_test;
  return n < 0 ? (s == Split::train ? kDefaultTrain : kDefaultEval) : n;
}

Dataset make_task(const TaskConfig& cfg) {
  const Resolved r = resolve(cfg);
  if (!cfg.data_dir.empty()) {
    switch (r.task) {
      case 0: return load_listops(cfg, r.max_len);
      case 1: return load_imdb(cfg, r.max_len);
      case 2: return load_aan(cfg, r.max_len);
      case 3: return load_cifar10(cfg);
      default: return load_pathfinder(cfg, r.side);
    }
  }
  static const int64_t vocab[] = {listops::kVocab, kByteVocab, kByteVocab, kByteVocab, kByteVocab, kByteVocab};
  static const int64_t classes[] = {listops::kClasses, 2, 2, kImageClasses, 2, 2};
  Dataset ds{cfg.task, vocab[r.task], classes[r.task], r.max_len, r.task == 2, {}, {}, {}};
  std::unordered_set<uint64_t> seen;
  // test and val first, so that they do not depend on n_train (ListOps drops duplicates in order).
  for (Split s : {Split::test, Split::val, Split::train})
    generate_split(cfg, r, s, generated_split_size(cfg, s), ds.split(s), seen);
  return ds;
}

}  // namespace memgrad::lra
