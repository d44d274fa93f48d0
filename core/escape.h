#pragma once
// Bytes from outside (file contents, tensor and file names, user strings) made safe to put in a
// message: every memgrad message is valid UTF-8 without NUL bytes, so that it reaches Python whole
// (a NUL would cut it short, a stray byte would raise UnicodeDecodeError instead of the error).
// Header-only and C++17: core/error.h includes it, and .cu files include error.h.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace memgrad {

namespace detail {

// Length of the well-formed UTF-8 sequence at s[i] (1 to 4), or 0 where there is none (a stray
// continuation byte, a truncated or overlong sequence, a surrogate, a code point above U+10FFFF).
inline size_t utf8_sequence_length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c == 0xE0) n = 3, lo = 0xA0;
  else if (c == 0xED) n = 3, hi = 0x9F;  // no surrogates
  else if (c >= 0xE1 && c <= 0xEF) n = 3;
  else if (c == 0xF0) n = 4, lo = 0x90;
  else if (c == 0xF4) n = 4, hi = 0x8F;
  else if (c >= 0xF1 && c <= 0xF3) n = 4;
  else return 0;
  if (i + n > s.size() || b(1) < lo || b(1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if (b(k) < 0x80 || b(k) > 0xBF) return 0;
  return n;
}

inline void append_hex_escape(std::string& out, unsigned char c) {
  const char* digits = "0123456789abcdef";
  out += "\\x";
  out += digits[c >> 4];
  out += digits[c & 15];
}

// Escapes as \xNN every byte outside well-formed UTF-8 and every control character except those
// `keep` allows; stops (and appends "...") before the output would exceed max_bytes.
template <class Keep>
std::string escape(std::string_view s, size_t max_bytes, Keep keep) {
  std::string out;
  out.reserve(s.size() < max_bytes ? s.size() : max_bytes);
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = utf8_sequence_length(s, i);
    const bool plain = n > 1 || (n == 1 && ((c >= 0x20 && c != 0x7F) || keep(c)));
    const size_t add = plain ? n : 4;
    if (out.size() + add > max_bytes) {
      out += "...";
      break;
    }
    if (plain) out.append(s.data() + i, n);
    else append_hex_escape(out, c);
    i += plain ? n : 1;
  }
  return out;
}

}  // namespace detail

// True when s is well-formed UTF-8 (what JSON strings and Python str need).
inline bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = detail::utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// A value for a message (a name, a path, a piece of a file): bytes that are not well-formed UTF-8
// and control characters (NUL, newline, tab, ESC, DEL, ...) become \xNN; output longer than
// max_bytes is cut at a character and ends with "...".
inline std::string escape_bytes(std::string_view s, size_t max_bytes = 160) {
  return detail::escape(s, max_bytes, [](unsigned char) { return false; });
}

// A whole message (what memgrad::Error and RuntimeError hold): the same escaping, but newlines
// and tabs stay and nothing is cut.
inline std::string sanitize_message(std::string_view s) {
  return detail::escape(s, static_cast<size_t>(-1) / 2, [](unsigned char c) { return c == '\n' || c == '\t'; });
}

}  // namespace memgrad
