// File helpers shared by the loaders.
#include "examples/lra/io_util.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <numeric>

#include "examples/lra/rng.h"

namespace memgrad::lra::io {

std::string quote(std::string_view s, size_t max) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\') out += "\\\\";
    else if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
    else out += fmt::format("\\x{:02x}", c);
  }
  if (s.size() > max) out += "...";
  return out;
}

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
