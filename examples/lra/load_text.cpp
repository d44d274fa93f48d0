// Loaders of the text-like LRA files: ListOps TSV, IMDB (aclImdb) folders, AAN pair TSV.
#include <charconv>
#include <cmath>

#include "examples/lra/io_util.h"
#include "examples/lra/listops.h"
#include "examples/lra/loaders.h"
#include "examples/lra/parsers.h"
#include "examples/lra/rng.h"

namespace memgrad::lra {

using io::fail_at;
using io::fail_file;
namespace fs = std::filesystem;

namespace {

bool blank(std::string_view s) { return s.find_first_not_of(" \t") == std::string_view::npos; }

int64_t wanted(const TaskConfig& cfg, Split s) {
  return s == Split::train ? cfg.n_train : s == Split::val ? cfg.n_val : cfg.n_test;
}

}  // namespace

void parse_listops_tsv(std::string_view text, const fs::path& file, int64_t max_len, std::vector<Example>& out) {
  auto lines = io::text_lines(text, file);
  if (lines.empty() || lines[0] != "Source\tTarget")
    fail_at(file, 1, "expected the header 'Source<TAB>Target', got '{}'", io::quote(lines.empty() ? "" : lines[0]));
  for (size_t i = 1; i < lines.size(); ++i) {
    const int64_t ln = static_cast<int64_t>(i) + 1;
    if (blank(lines[i])) continue;
    auto cols = io::split(lines[i], '\t');
    if (cols.size() != 2) fail_at(file, ln, "expected 2 tab-separated columns (Source, Target), got {}", cols.size());
    int64_t label = -1;
    if (!io::parse_int(cols[1], label) || label < 0 || label >= listops::kClasses)
      fail_at(file, ln, "label '{}' is not an integer in [0, {})", io::quote(cols[1]), listops::kClasses);
    Example ex;
    try {
      ex.tokens = listops_tokenize(cols[0]);
    } catch (const Error& e) {
      std::string what = e.what();
      fail_at(file, ln, "{}", what.rfind("[lra] ", 0) == 0 ? what.substr(6) : what);
    }
    if (ex.tokens.empty()) fail_at(file, ln, "the source is empty");
    if (static_cast<int64_t>(ex.tokens.size()) > max_len) ex.tokens.resize(static_cast<size_t>(max_len));
    ex.label = static_cast<int32_t>(label);
    out.push_back(std::move(ex));
  }
}

Dataset load_listops(const TaskConfig& cfg, int64_t max_len) {
  Dataset ds{"listops", listops::kVocab, listops::kClasses, max_len, false, {}, {}, {}};
  for (Split s : {Split::train, Split::val, Split::test}) {
    fs::path file = fs::path(cfg.data_dir) / fmt::format("basic_{}.tsv", split_name(s));
    auto& out = ds.split(s);
    parse_listops_tsv(io::read_file(file), file, max_len, out);
    if (out.empty()) fail_file(file, "no examples");
    io::keep_examples(out, wanted(cfg, s), mix_seed(cfg.seed, static_cast<uint64_t>(s)));
  }
  return ds;
}

Example parse_imdb_review(std::string_view bytes, const fs::path& file, int32_t label, int64_t max_len) {
  bytes = io::strip_bom(bytes, file);
  if (bytes.empty()) fail_file(file, "empty review");
  return {io::byte_tokens(bytes, max_len), {}, label};
}

Dataset load_imdb(const TaskConfig& cfg, int64_t max_len) {
  Dataset ds{"text", kByteVocab, 2, max_len, false, {}, {}, {}};
  fs::path root = fs::path(cfg.data_dir) / "aclImdb";
  std::error_code ec;
  if (!fs::is_directory(root, ec)) root = cfg.data_dir;
  struct Entry {
    fs::path file;
    int32_t label;
  };
  auto entries = [&](const char* split) {
    std::vector<Entry> out;
    for (auto [label, name] : {std::pair{0, "neg"}, std::pair{1, "pos"}}) {
      fs::path dir = root / split / name;
      io::require_dir(dir, "IMDB reviews: aclImdb/{train,test}/{neg,pos}/*.txt");
      auto files = io::list_files(dir, ".txt");
      if (files.empty()) fail_file(dir, "no .txt reviews");
      for (auto& f : files) out.push_back({f, label});
    }
    return out;
  };
  auto read = [&](const std::vector<Entry>& list, const std::vector<int64_t>& idx, std::vector<Example>& out) {
    for (int64_t i : idx) {
      const Entry& e = list[static_cast<size_t>(i)];
      out.push_back(parse_imdb_review(io::read_file(e.file), e.file, e.label, max_len));
    }
  };
  auto train = entries("train"), test = entries("test");
  const int64_t n = static_cast<int64_t>(train.size());
  int64_t n_val = cfg.n_val >= 0 ? std::min(cfg.n_val, n - 1) : n / 10;
  auto val_idx = io::keep_subset(n, n_val, mix_seed(cfg.seed, 0x7a1ull));
  std::vector<char> in_val(static_cast<size_t>(n), 0);
  for (int64_t i : val_idx) in_val[static_cast<size_t>(i)] = 1;
  std::vector<int64_t> rest;
  for (int64_t i = 0; i < n; ++i)
    if (!in_val[static_cast<size_t>(i)]) rest.push_back(i);
  std::vector<int64_t> train_idx;
  for (int64_t j : io::keep_subset(static_cast<int64_t>(rest.size()), cfg.n_train, mix_seed(cfg.seed, 0u)))
    train_idx.push_back(rest[static_cast<size_t>(j)]);
  read(train, train_idx, ds.train);
  read(train, val_idx, ds.val);
  read(test, io::keep_subset(static_cast<int64_t>(test.size()), cfg.n_test, mix_seed(cfg.seed, 2u)), ds.test);
  return ds;
}

void parse_aan_tsv(std::string_view text, const fs::path& file, int64_t max_len, std::vector<Example>& out) {
  auto lines = io::text_lines(text, file);
  for (size_t i = 0; i < lines.size(); ++i) {
    const int64_t ln = static_cast<int64_t>(i) + 1;
    if (blank(lines[i])) continue;
    auto cols = io::split(lines[i], '\t');
    if (cols.size() != 5)
      fail_at(file, ln, "expected 5 tab-separated columns (label, id1, id2, text1, text2), got {}", cols.size());
    double label = -1;
    auto [end, err] = std::from_chars(cols[0].data(), cols[0].data() + cols[0].size(), label);
    if (err != std::errc() || end != cols[0].data() + cols[0].size() || (label != 0.0 && label != 1.0))
      fail_at(file, ln, "label '{}' is not 0 or 1", io::quote(cols[0]));
    if (cols[3].empty()) fail_at(file, ln, "text1 is empty");
    if (cols[4].empty()) fail_at(file, ln, "text2 is empty");
    out.push_back({io::byte_tokens(cols[3], max_len), io::byte_tokens(cols[4], max_len), static_cast<int32_t>(label)});
  }
}

Dataset load_aan(const TaskConfig& cfg, int64_t max_len) {
  Dataset ds{"retrieval", kByteVocab, 2, max_len, true, {}, {}, {}};
  for (Split s : {Split::train, Split::val, Split::test}) {
    const char* part = s == Split::train ? "train" : s == Split::val ? "eval" : "test";
    fs::path file = fs::path(cfg.data_dir) / fmt::format("new_aan_pairs.{}.tsv", part);
    auto& out = ds.split(s);
    parse_aan_tsv(io::read_file(file), file, max_len, out);
    if (out.empty()) fail_file(file, "no examples");
    io::keep_examples(out, wanted(cfg, s), mix_seed(cfg.seed, static_cast<uint64_t>(s)));
  }
  return ds;
}

}  // namespace memgrad::lra
