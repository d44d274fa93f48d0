#pragma once
// Small file helpers for the loaders. Every error names the file (and the line or record) it
// comes from: "[lra] <file>:<line>: <what>" or "[lra] <file>: <what>".
#include <fmt/format.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "examples/lra/dataset.h"

namespace memgrad::lra::io {

namespace fs = std::filesystem;

template <class... Args>
[[noreturn]] void fail_at(const fs::path& file, int64_t line, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format("[lra] {}:{}: {}", file.string(), line, fmt::format(f, std::forward<Args>(args)...)));
}
template <class... Args>
[[noreturn]] void fail_file(const fs::path& file, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format("[lra] {}: {}", file.string(), fmt::format(f, std::forward<Args>(args)...)));
}

// s for a message: bytes outside printable ASCII as \xNN, cut to `max` bytes with "..." after
// (a field quoted from a file or the command line must not put control bytes on the terminal).
std::string quote(std::string_view s, size_t max = 40);
// The whole file as bytes; throws "[lra] <file>: cannot open (...)" when it cannot be read.
std::string read_file(const fs::path& file);
// Lines without their "\n" or "\r\n"; a final line without a newline counts, an empty tail does not.
std::vector<std::string_view> split_lines(std::string_view text);
// Fields separated by `sep` (empty fields kept).
std::vector<std::string_view> split(std::string_view s, char sep);
// Fields separated by runs of blanks (spaces, tabs).
std::vector<std::string_view> split_blanks(std::string_view s);
// The whole of s as a decimal integer (an optional sign, no spaces).
bool parse_int(std::string_view s, int64_t& out);
// Bytes -> tokens (b + 1), cut to max_len.
std::vector<int32_t> byte_tokens(std::string_view bytes, int64_t max_len);
// A directory that must exist.
void require_dir(const fs::path& dir, std::string_view what);
// Regular files in dir whose name ends with `suffix`, sorted by name.
std::vector<fs::path> list_files(const fs::path& dir, std::string_view suffix);
// Which of n items to keep: all when k < 0 or k >= n, else k indices drawn with `seed`, sorted.
std::vector<int64_t> keep_subset(int64_t n, int64_t k, uint64_t seed);
// Keeps the examples keep_subset(size, k, seed) picks, in their order.
void keep_examples(std::vector<Example>& v, int64_t k, uint64_t seed);

}  // namespace memgrad::lra::io
