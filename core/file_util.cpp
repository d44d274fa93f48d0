// Atomic file writes with cleanup of temporaries left by killed writers (core/file_util.h).
#include "core/file_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace memgrad {

namespace {

struct SplitPath {
  std::string dir;   // "." for a bare file name
  std::string name;  // the last component
};

SplitPath split(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

// The digits of s from i up to the next '.' or the end; false unless there is at least one digit
// and the number fits in a long long.
bool parse_number(const std::string& s, size_t& i, long long& out) {
  const size_t start = i;
  out = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    if (out > (std::numeric_limits<long long>::max() - 9) / 10) return false;
    out = out * 10 + (s[i++] - '0');
  }
  return i > start;
}

// The pid of a temporary named `<name>.tmp.<pid>.<n>`, or -1 when `entry` is not one.
long long temporary_pid(const std::string& entry, const std::string& name) {
  const std::string prefix = name + ".tmp.";
  if (entry.size() <= prefix.size() || entry.compare(0, prefix.size(), prefix) != 0) return -1;
  size_t i = prefix.size();
  long long pid = 0, n = 0;
  if (!parse_number(entry, i, pid) || i >= entry.size() || entry[i] != '.') return -1;
  ++i;
  if (!parse_number(entry, i, n) || i != entry.size()) return -1;
  return pid;
}

bool process_gone(long long pid) {
  if (pid <= 0 || pid > std::numeric_limits<pid_t>::max()) return true;  // never a live process
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

std::string shown(const std::string& path) { return escape_bytes(path); }

}  // namespace

size_t remove_stale_temporaries(const std::string& path) {
  const SplitPath sp = split(path);
  DIR* d = ::opendir(sp.dir.c_str());
  if (!d) return 0;  // the write itself reports a missing folder
  size_t removed = 0;
  while (const dirent* e = ::readdir(d)) {
    const std::string entry = e->d_name;
    const long long pid = temporary_pid(entry, sp.name);
    if (pid < 0 || !process_gone(pid)) continue;
    const std::string full = sp.dir + "/" + entry;
    struct stat st {};
    if (::lstat(full.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::unlink(full.c_str()) == 0) ++removed;
  }
  ::closedir(d);
  return removed;
}

AtomicFile::AtomicFile(std::string path, const char* op) : path_(std::move(path)), op_(op) {
  const std::string name = split(path_).name;
  MG_CHECK(!name.empty() && name != "." && name != "..", op_, "'{}': not a file name", shown(path_));
  remove_stale_temporaries(path_);
  static std::atomic<unsigned long long> counter{0};
  // O_EXCL: a temporary of an earlier process that had this pid is skipped, not overwritten.
  for (int attempt = 0; fd_ < 0; ++attempt) {
    tmp_ = path_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    MG_CHECK(fd_ >= 0 || (errno == EEXIST && attempt < 100), op_, "'{}': cannot create '{}': {}", shown(path_),
             shown(tmp_), std::strerror(errno));
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
  MG_CHECK(fd_ >= 0 && !committed_, op_, "'{}': write after commit", shown(path_));
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd_, p, n);
    if (w < 0 && errno == EINTR) continue;
    MG_CHECK(w > 0, op_, "'{}': write failed: {}", shown(path_), w < 0 ? std::strerror(errno) : "no progress");
    p += w, n -= static_cast<size_t>(w);
  }
}

void AtomicFile::commit() {
  MG_CHECK(fd_ >= 0 && !committed_, op_, "'{}': committed twice", shown(path_));
  MG_CHECK(::fsync(fd_) == 0, op_, "'{}': fsync failed: {}", shown(path_), std::strerror(errno));
  const int fd = fd_;
  fd_ = -1;
  MG_CHECK(::close(fd) == 0, op_, "'{}': close failed: {}", shown(path_), std::strerror(errno));
  MG_CHECK(::rename(tmp_.c_str(), path_.c_str()) == 0, op_, "'{}': cannot rename '{}' over it: {}", shown(path_),
           shown(tmp_), std::strerror(errno));
  committed_ = true;
  if (int dfd = ::open(split(path_).dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void write_file_atomic(const std::string& path, std::string_view content, const char* op) {
  AtomicFile f(path, op);
  f.write(content);
  f.commit();
}

}  // namespace memgrad
