#pragma once
// One exception type for bad input: the message names the op and the shapes,
// e.g. "[matmul] shapes [2, 3] and [4, 5] cannot be multiplied".
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stdexcept>
#include <string>

#include "core/escape.h"

namespace memgrad {

// Both exception types keep their message as valid UTF-8 without NUL bytes (sanitize_message):
// whatever bytes a file or a name put into it, what() is the whole message and Python can decode
// it. Values from outside should still go through escape_bytes() where they are formatted in, which
// also keeps them short.

// Bad arguments (shapes, dtypes, devices, options, files). Python sees ValueError.
class Error : public std::invalid_argument {
 public:
  explicit Error(const std::string& what) : std::invalid_argument(sanitize_message(what)) {}
  explicit Error(const char* what) : Error(std::string(what)) {}
};

// Failures that are not the caller's fault (out of memory, a backend error). Python: RuntimeError.
class RuntimeError : public std::runtime_error {
 public:
  explicit RuntimeError(const std::string& what) : std::runtime_error(sanitize_message(what)) {}
  explicit RuntimeError(const char* what) : RuntimeError(std::string(what)) {}
};

template <class... Args>
[[noreturn]] void fail(const char* op, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format("[{}] {}", op, fmt::format(f, std::forward<Args>(args)...)));
}

}  // namespace memgrad

#define MG_CHECK(cond, op, ...)                      \
  do {                                               \
    if (!(cond)) ::memgrad::fail(op, __VA_ARGS__);   \
  } while (0)
