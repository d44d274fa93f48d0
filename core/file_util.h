#pragma once
// Atomic file writes, the project's one way to write a file that readers may look at meanwhile or
// that a killed process may leave half-written: safetensors and checkpoints (nn/serialization),
// the LRA reports (examples/lra/report.cpp) and the benchmark JSON (benchmarks/bench_common.h).
//
// The data goes to a temporary `<path>.tmp.<pid>.<n>` in the target's folder, which is flushed
// and fsync'ed and then renamed over `path`, and the folder is fsync'ed so that the rename
// survives a crash of the machine: readers see the old file or the new one, never a part. A writer
// that is killed leaves its temporary behind; the next write of the same `path` removes every
// `<path>.tmp.<pid>.<n>` whose process no longer exists (in this PID namespace), and never one of
// a live writer. Errors are memgrad::Error naming the op and the file.
#include <cstddef>
#include <string>
#include <string_view>

namespace memgrad {

class AtomicFile {
 public:
  // Removes stale temporaries of `path`, then creates a fresh temporary (the folder must exist).
  // `op` names the caller in error messages ("save_safetensors").
  AtomicFile(std::string path, const char* op);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  // Without commit(): closes and removes the temporary; `path` is left as it was.
  ~AtomicFile();

  void write(const void* data, size_t n);
  void write(std::string_view text) { write(text.data(), text.size()); }
  // fsync, close, rename over `path`, fsync the folder (best effort: not every file system allows it).
  void commit();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return tmp_; }

 private:
  std::string path_, tmp_;
  const char* op_;
  int fd_ = -1;
  bool committed_ = false;
};

// The whole file at once through AtomicFile.
void write_file_atomic(const std::string& path, std::string_view content, const char* op);

// Removes the temporaries `<path>.tmp.<pid>.<n>` beside `path` whose process <pid> is gone (kill(pid,
// 0) says ESRCH), and returns how many. A temporary of a live process, this one's included, stays.
size_t remove_stale_temporaries(const std::string& path);

}  // namespace memgrad
