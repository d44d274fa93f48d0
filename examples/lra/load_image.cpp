// Loaders of the image LRA files: CIFAR-10 binary batches and the Pathfinder PNG + metadata layout.
#include <algorithm>

#include "examples/lra/io_util.h"
#include "examples/lra/loaders.h"
#include "examples/lra/parsers.h"
#include "examples/lra/rng.h"

namespace memgrad::lra {

using io::fail_at;
using io::fail_file;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kCifarPixels = 1024, kCifarRecord = 1 + 3 * kCifarPixels;

// Metadata files ordered by the number in their name (0.npy, 1.npy, ..., 10.npy), then by name.
bool metadata_less(const fs::path& a, const fs::path& b) {
  int64_t na = -1, nb = -1;
  bool ia = io::parse_int(a.stem().string(), na), ib = io::parse_int(b.stem().string(), nb);
  if (ia && ib && na != nb) return na < nb;
  if (ia != ib) return ia;
  return a.filename() < b.filename();
}

}  // namespace

void parse_cifar_batch(std::string_view data, const fs::path& file, std::vector<Example>& out) {
  if (data.empty()) fail_file(file, "no records");
  const int64_t size = static_cast<int64_t>(data.size());
  for (int64_t r = 0; r * kCifarRecord < size; ++r) {  // records are numbered from 1 in messages
    const int64_t at = r * kCifarRecord, have = std::min(kCifarRecord, size - at);
    if (have < kCifarRecord) fail_file(file, "record {} is short ({} of {} bytes)", r + 1, have, kCifarRecord);
    const auto* p = reinterpret_cast<const unsigned char*>(data.data() + at);
    if (p[0] > 9) fail_file(file, "record {}: label {} is not in [0, 10)", r + 1, static_cast<int>(p[0]));
    Example ex;
    ex.label = p[0];
    ex.tokens.resize(kCifarPixels);
    for (int64_t i = 0; i < kCifarPixels; ++i) {
      int32_t R = p[1 + i], G = p[1 + kCifarPixels + i], B = p[1 + 2 * kCifarPixels + i];
      ex.tokens[static_cast<size_t>(i)] = (299 * R + 587 * G + 114 * B + 500) / 1000 + 1;
    }
    out.push_back(std::move(ex));
  }
}

void parse_pathfinder_metadata(std::string_view text, const fs::path& file, std::vector<PathfinderEntry>& out) {
  auto lines = io::text_lines(text, file);
  for (size_t i = 0; i < lines.size(); ++i) {
    const int64_t ln = static_cast<int64_t>(i) + 1;
    auto f = io::split_blanks(lines[i]);
    if (f.empty()) continue;
    if (f.size() < 4) fail_at(file, ln, "expected at least 4 blank-separated fields (folder, file, -, label), got {}", f.size());
    int64_t label = -1;
    if (!io::parse_int(f[3], label) || (label != 0 && label != 1))
      fail_at(file, ln, "label '{}' (field 4) is not 0 or 1", io::quote(f[3]));
    std::string image = fmt::format("{}/{}", f[0], f[1]);
    io::check_relative_path(image, file, ln);
    out.push_back({std::move(image), ln, static_cast<int32_t>(label)});
  }
}

Dataset load_cifar10(const TaskConfig& cfg) {
  Dataset ds{"image", kByteVocab, 10, kCifarPixels, false, {}, {}, {}};
  fs::path dir = fs::path(cfg.data_dir) / "cifar-10-batches-bin";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) dir = cfg.data_dir;
  std::vector<Example> all;
  for (int b = 1; b <= 5; ++b) {
    const fs::path file = dir / fmt::format("data_batch_{}.bin", b);
    parse_cifar_batch(io::read_file(file), file, all);
  }
  parse_cifar_batch(io::read_file(dir / "test_batch.bin"), dir / "test_batch.bin", ds.test);
  // As LRA (tfds train[:90%] / train[90%:]): val is the tail of the training records.
  const int64_t n = static_cast<int64_t>(all.size());
  int64_t n_val = cfg.n_val >= 0 ? std::min(cfg.n_val, n - 1) : n / 10;
  ds.val.assign(std::make_move_iterator(all.end() - n_val), std::make_move_iterator(all.end()));
  all.resize(static_cast<size_t>(n - n_val));
  ds.train = std::move(all);
  io::keep_examples(ds.train, cfg.n_train, mix_seed(cfg.seed, 0u));
  io::keep_examples(ds.test, cfg.n_test, mix_seed(cfg.seed, 2u));
  return ds;
}

Dataset load_pathfinder(const TaskConfig& cfg, int64_t side) {
  Dataset ds{cfg.task, kByteVocab, 2, side * side, false, {}, {}, {}};
  fs::path base = cfg.data_dir;
  std::error_code ec;
  if (!fs::is_directory(base / "metadata", ec)) base = base / cfg.pathfinder_difficulty;
  io::require_dir(base / "metadata", "Pathfinder metadata: <dir>[/<difficulty>]/metadata/*.npy");
  auto meta_files = io::list_files(base / "metadata", ".npy");
  if (meta_files.empty()) fail_file(base / "metadata", "no .npy metadata files");
  std::sort(meta_files.begin(), meta_files.end(), metadata_less);

  struct Entry {
    PathfinderEntry entry;
    size_t meta;  // index into meta_files
  };
  std::vector<Entry> entries;
  for (size_t m = 0; m < meta_files.size(); ++m) {
    std::vector<PathfinderEntry> listed;
    parse_pathfinder_metadata(io::read_file(meta_files[m]), meta_files[m], listed);
    for (auto& e : listed) entries.push_back({std::move(e), m});
  }
  if (entries.empty()) fail_file(base / "metadata", "no examples in the metadata files");

  // LRA's split of the ordered examples: [:80%], [80%:90%], [90%:].
  const int64_t n = static_cast<int64_t>(entries.size()), a = n * 8 / 10, b = n * 9 / 10;
  const std::pair<int64_t, int64_t> ranges[] = {{0, a}, {a, b}, {b, n}};
  for (Split s : {Split::train, Split::val, Split::test}) {
    auto [lo, hi] = ranges[static_cast<int>(s)];
    int64_t k = s == Split::train ? cfg.n_train : s == Split::val ? cfg.n_val : cfg.n_test;
    auto& out = ds.split(s);
    std::vector<uint8_t> pixels;
    for (int64_t j : io::keep_subset(hi - lo, k, mix_seed(cfg.seed, static_cast<uint64_t>(s)))) {
      const Entry& e = entries[static_cast<size_t>(lo + j)];
      const fs::path& meta = meta_files[e.meta];
      const fs::path image = io::path_inside(base, e.entry.image, meta, e.entry.line);
      std::string bytes;
      try {
        bytes = io::read_file(image);
      } catch (const Error& err) {
        throw Error(fmt::format("{} (listed at {}:{})", err.what(), io::shown_path(meta), e.entry.line));
      }
      if (bytes.empty()) continue;  // LRA filters out empty image files
      std::string reason;
      if (!decode_gray_image(bytes, side, pixels, reason))
        fail_file(image, "{} (listed at {}:{})", reason, io::shown_path(meta), e.entry.line);
      Example ex;
      ex.label = e.entry.label;
      ex.tokens.resize(pixels.size());
      for (size_t i = 0; i < pixels.size(); ++i) ex.tokens[i] = byte_token(pixels[i]);
      out.push_back(std::move(ex));
    }
  }
  return ds;
}

}  // namespace memgrad::lra
