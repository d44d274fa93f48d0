#pragma once
// Helpers of the LRA loader targets (fuzz/fuzz_{listops,text,retrieval,cifar,pathfinder,png}.cpp):
// a fresh scratch folder per input, for the targets that run a whole loader on files.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "fuzz_util.h"

namespace memgrad::fuzz {

// scratch_dir()/name, emptied: each input starts from nothing.
inline std::filesystem::path fresh_dir(const std::string& name) {
  const std::filesystem::path dir = scratch_dir() / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Writes bytes to path (its folder made), aborting when the harness cannot.
inline void put(const std::filesystem::path& path, std::string_view bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::perror(path.c_str());
    std::abort();  // the harness failed, not the code under test
  }
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace memgrad::fuzz
