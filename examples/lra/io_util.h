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

// s for a message, by core's one rule (core/escape.h, escape_bytes): control bytes and bytes
// outside well-formed UTF-8 as \xNN, cut to about `max` bytes with "..." after (a field quoted
// from a file or the command line must not put control bytes on the terminal).
std::string quote(std::string_view s, size_t max = 40);
// A path for a message: the same escaping, cut only beyond 4 KiB.
std::string shown_path(const fs::path& p);

template <class... Args>
[[noreturn]] void fail_at(const fs::path& file, int64_t line, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format("[lra] {}:{}: {}", shown_path(file), line, fmt::format(f, std::forward<Args>(args)...)));
}
template <class... Args>
[[noreturn]] void fail_file(const fs::path& file, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format("[lra] {}: {}", shown_path(file), fmt::format(f, std::forward<Args>(args)...)));
}
// The whole file as bytes; throws "[lra] <file>: cannot open (...)" when it cannot be read.
std::string read_file(const fs::path& file);
// Lines without their "\n" or "\r\n"; a final line without a newline counts, an empty tail does not.
std::vector<std::string_view> split_lines(std::string_view text);
// A text data file's content without its UTF-8 byte-order mark (editors on Windows write one);
// a UTF-16 or UTF-32 mark is an error naming the file (the loaders read UTF-8 or ASCII).
std::string_view strip_bom(std::string_view text, const fs::path& file);
// The lines of a text data file: strip_bom, then split_lines.
std::vector<std::string_view> text_lines(std::string_view text, const fs::path& file);
// A path that `meta` names at `line`, relative to the data folder: refuses an empty path, an
// absolute one, a ".." component and a NUL byte, naming meta and line. Lexical only.
void check_relative_path(std::string_view relative, const fs::path& meta, int64_t line);
// base / relative after check_relative_path, and after resolving symlinks still inside base
// (a link that leads out of the data folder is refused the same way).
fs::path path_inside(const fs::path& base, std::string_view relative, const fs::path& meta, int64_t line);
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
