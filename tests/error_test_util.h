#pragma once
// check_error: the test helper for "bad input gets a clear error" checks.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/error.h"

// Runs f, which must throw memgrad::Error whose message contains every one of `parts`.
inline void check_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  std::string msg;
  try {
    f();
  } catch (const memgrad::Error& e) {
    msg = e.what();
  }
  REQUIRE_MESSAGE(!msg.empty(), "no memgrad::Error thrown");
  for (const auto& part : parts) CHECK_MESSAGE(msg.find(part) != std::string::npos, "'" << part << "' not in: " << msg);
}
