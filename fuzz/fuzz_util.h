#pragma once
// Helpers for the libFuzzer targets in fuzz/ (docs/fuzzing.md). Convention: each target
// fuzz/fuzz_<name>.cpp defines LLVMFuzzerTestOneInput, feeds the bytes to one reader and catches
// memgrad::Error only: any other exception, a crash, a leak or undefined behaviour is a finding.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace memgrad::fuzz {

// A folder of this process's own under $TMPDIR (default /tmp), made on first use and removed at a
// normal exit. scripts/fuzz.sh points TMPDIR at a fresh folder in /dev/shm (memory) per run and
// removes it afterwards, so that a crashed run leaves nothing behind.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    const char* t = std::getenv("TMPDIR");
    std::filesystem::path d = std::filesystem::path(t && *t ? t : "/tmp") /
                              ("memgrad-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return d;
  }();
  return dir;
}

// Writes the bytes to scratch_dir()/name, replacing what was there; returns the path.
inline std::string write_file(const std::string& name, const uint8_t* data, size_t size) {
  std::string path = (scratch_dir() / name).string();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || (size > 0 && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
    std::perror(path.c_str());
    std::abort();  // the harness itself failed, not the code under test
  }
  return path;
}

}  // namespace memgrad::fuzz
