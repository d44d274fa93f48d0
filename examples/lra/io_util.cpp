// File helpers shared by the loaders.
#include "examples/lra/io_util.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <numeric>

#include "core/escape.h"
#include "examples/lra/rng.h"

namespace memgrad::lra::io {

std::string quote(std::string_view s, size_t max) { return escape_bytes(s, max); }

std::string shown_path(const fs::path& p) { return escape_bytes(p.string(), 4096); }

std::string read_file(const fs::path& file) {
  std::error_code ec;
  if (fs::is_directory(file, ec)) fail_file(file, "cannot open (it is a directory)");
  std::ifstream in(file, std::ios::binary);
  if (!in) fail_file(file, "cannot open ({})", std::strerror(errno));
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail_file(file, "read error");
  return data;
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    size_t stop = end == std::string_view::npos ? text.size() : end;
    std::string_view line = text.substr(start, stop - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return lines;
}

std::string_view strip_bom(std::string_view text, const fs::path& file) {
  if (text.starts_with("\xEF\xBB\xBF")) return text.substr(3);
  if (text.starts_with(std::string_view("\xFF\xFE\0\0", 4)) || text.starts_with(std::string_view("\0\0\xFE\xFF", 4)))
    fail_file(file, "the file is UTF-32 (it starts with a UTF-32 byte-order mark); save it as UTF-8");
  if (text.starts_with("\xFF\xFE") || text.starts_with("\xFE\xFF"))
    fail_file(file, "the file is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8");
  return text;
}

std::vector<std::string_view> text_lines(std::string_view text, const fs::path& file) {
  return split_lines(strip_bom(text, file));
}

void check_relative_path(std::string_view relative, const fs::path& meta, int64_t line) {
  if (relative.empty()) fail_at(meta, line, "the image path is empty");
  if (relative.find('\0') != std::string_view::npos)
    fail_at(meta, line, "the image path '{}' holds a NUL byte", quote(relative, 200));
  if (relative.front() == '/')
    fail_at(meta, line, "the image path '{}' is absolute; paths must be relative to the data folder",
            quote(relative, 200));
  for (std::string_view part : split(relative, '/'))
    if (part == "..")
      fail_at(meta, line, "the image path '{}' has a '..' component; paths must stay inside the data folder",
              quote(relative, 200));
}

fs::path path_inside(const fs::path& base, std::string_view relative, const fs::path& meta, int64_t line) {
  check_relative_path(relative, meta, line);
  const fs::path path = base / fs::path(std::string(relative));
  std::error_code ec;
  const fs::path real_base = fs::weakly_canonical(base, ec);
  const fs::path real = ec ? fs::path() : fs::weakly_canonical(path, ec);
  if (ec) fail_at(meta, line, "cannot resolve the image path '{}' ({})", quote(relative, 200), ec.message());
  // Component-wise prefix: /data/x is inside /data, /data2/x is not.
  auto b = real_base.begin(), r = real.begin();
  for (; b != real_base.end() && r != real.end() && *b == *r; ++b, ++r) {
  }
  const bool trailing_empty = b != real_base.end() && b->empty() && std::next(b) == real_base.end();
  if (b != real_base.end() && !trailing_empty)
    fail_at(meta, line, "the image path '{}' leads to {}, outside the data folder {} (through a symbolic link)",
            quote(relative, 200), shown_path(real), shown_path(real_base));
  return path;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t end = s.find(sep, start);
    if (end == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
}

std::vector<std::string_view> split_blanks(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

bool parse_int(std::string_view s, int64_t& out) {
  if (s.empty()) return false;
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size() || s.size() - i > 18) return false;
  int64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = s[0] == '-' ? -v : v;
  return true;
}

std::vector<int32_t> byte_tokens(std::string_view bytes, int64_t max_len) {
  size_t n = std::min(bytes.size(), static_cast<size_t>(std::max<int64_t>(max_len, 0)));
  std::vector<int32_t> t(n);
  for (size_t i = 0; i < n; ++i) t[i] = static_cast<int32_t>(static_cast<unsigned char>(bytes[i])) + 1;
  return t;
}

void require_dir(const fs::path& dir, std::string_view what) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail_file(dir, "missing directory ({})", what);
}

std::vector<fs::path> list_files(const fs::path& dir, std::string_view suffix) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (it->is_regular_file(ec) && name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      files.push_back(it->path());
  }
  if (ec) fail_file(dir, "cannot list ({})", ec.message());
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<int64_t> keep_subset(int64_t n, int64_t k, uint64_t seed) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  if (k < 0 || k >= n) return idx;
  Rng rng(mix_seed(seed, 0x5b5e7ull, static_cast<uint64_t>(n)));
  rng.shuffle(idx);
  idx.resize(static_cast<size_t>(k));
  std::sort(idx.begin(), idx.end());
  return idx;
}

void keep_examples(std::vector<Example>& v, int64_t k, uint64_t seed) {
  auto idx = keep_subset(static_cast<int64_t>(v.size()), k, seed);
  if (idx.size() == v.size()) return;
  std::vector<Example> out;
  out.reserve(idx.size());
  for (int64_t i : idx) out.push_back(std::move(v[static_cast<size_t>(i)]));
  v = std::move(out);
}

}  // namespace memgrad::lra::io
