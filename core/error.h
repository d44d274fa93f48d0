#pragma once
// One exception type for bad input: the message names the op and the shapes,
// e.g. "[matmul] shapes [2, 3] and [4, 5] cannot be multiplied".
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stdexcept>
#include <string>

namespace memgrad {

// Bad arguments (shapes, dtypes, devices, options). Python sees ValueError.
class Error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Failures that are not the caller's fault (out of memory, a backend error). Python: RuntimeError.
class RuntimeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
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
