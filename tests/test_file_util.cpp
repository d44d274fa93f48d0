// core/escape.h (bytes from outside made safe for messages) and core/file_util.h (atomic writes that
// clean up after killed writers).
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "core/escape.h"
#include "core/file_util.h"

using namespace memgrad;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path dir;
  TempDir() {
    static int n = 0;
    dir = fs::temp_directory_path() / ("memgrad_fu_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::create_directories(dir);
  }
  ~TempDir() { fs::remove_all(dir); }
  std::string operator/(const std::string& name) const { return (dir / name).string(); }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
};

std::string read(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

void touch(const std::string& path) { std::ofstream(path) << "partial"; }

// The pid of a process that has exited and been reaped: no process has it (until the kernel reuses it).
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  REQUIRE(pid > 0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

}  // namespace

TEST_CASE("escape_bytes shows control characters and stray bytes as \\xNN and cuts long values") {
  CHECK(escape_bytes("plain name.w") == "plain name.w");
  CHECK(escape_bytes(std::string("a\0b", 3)) == "a\\x00b");
  CHECK(escape_bytes("tab\there\nnew \x1b[31m \x7f") == "tab\\x09here\\x0anew \\x1b[31m \\x7f");
  CHECK(escape_bytes("caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80") == "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80");  // valid UTF-8 stays
  CHECK(escape_bytes("\xff\xfe") == "\\xff\\xfe");
  CHECK(escape_bytes("\xc0\xaf") == "\\xc0\\xaf");            // overlong '/'
  CHECK(escape_bytes("\xed\xa0\x80") == "\\xed\\xa0\\x80");    // a UTF-16 surrogate
  CHECK(escape_bytes("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  CHECK(escape_bytes("ok\xe2\x9c") == "ok\\xe2\\x9c");         // truncated at the end
  CHECK(escape_bytes("\x80" "a") == "\\x80a");                 // a stray continuation byte
  const std::string cut = escape_bytes(std::string(1000, 'x'), 50);
  CHECK(cut == std::string(50, 'x') + "...");
  // cut at a character, never inside an escape or a multi-byte sequence
  CHECK(escape_bytes("abc\xff", 5) == "abc...");
  CHECK(escape_bytes("ab\xc3\xa9\xc3\xa9", 5) == "ab\xc3\xa9...");
  CHECK(is_valid_utf8("caf\xc3\xa9"));
  CHECK(!is_valid_utf8("caf\xc3"));
  CHECK(is_valid_utf8(std::string("\0", 1)));  // NUL is valid UTF-8 (escape_bytes still escapes it)
}

TEST_CASE("memgrad errors hold valid UTF-8 without NUL bytes, whatever was formatted in") {
  try {
    fail("op", "name '{}' and '{}'", std::string("a\0b", 3), "\xff\xfe");
    FAIL("no throw");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "[op] name 'a\\x00b' and '\\xff\\xfe'");
  }
  CHECK(std::string(Error("line 1\nline 2\ttab").what()) == "line 1\nline 2\ttab");  // layout stays
  CHECK(std::string(RuntimeError(std::string("x\0y", 3)).what()) == "x\\x00y");
  CHECK(is_valid_utf8(Error("\xc3(").what()));
}

TEST_CASE("AtomicFile replaces the file whole, or leaves it and no temporary behind") {
  TempDir tmp;
  const std::string path = tmp / "out.json";
  write_file_atomic(path, "first", "test");
  CHECK(read(path) == "first");
  {
    AtomicFile f(path, "test");
    f.write("sec");
    CHECK(read(path) == "first");  // readers see the old file until commit
    CHECK(fs::exists(f.temp_path()));
    f.write("ond");
    f.commit();
  }
  CHECK(read(path) == "second");
  {
    AtomicFile f(path, "test");
    f.write("abandoned");
  }  // no commit: the temporary goes, the file stays
  CHECK(read(path) == "second");
  CHECK(tmp.names() == std::vector<std::string>{"out.json"});
  CHECK_THROWS_WITH_AS(write_file_atomic(tmp / "no/such/dir/x", "x", "test"),
                       doctest::Contains(("[test] '" + (tmp / "no/such/dir/x") + "': cannot create").c_str()), Error);
  for (const std::string& bad : {std::string(), tmp / "", tmp / ".", tmp / ".."})
    CHECK_THROWS_WITH_AS(write_file_atomic(bad, "x", "test"), doctest::Contains("': not a file name"), Error);
  // a path that is not UTF-8 appears escaped in the message
  CHECK_THROWS_WITH_AS(write_file_atomic(tmp / "no/\xff/x", "x", "test"), doctest::Contains("no/\\xff/x"), Error);
}

TEST_CASE("a write removes the temporaries of killed writers of the same file, never a live writer's") {
  TempDir tmp;
  const std::string path = tmp / "ckpt.safetensors";
  const std::string dead = std::to_string(dead_pid());
  touch(path + ".tmp." + dead + ".0");
  touch(path + ".tmp." + dead + ".17");
  touch(path + ".tmp.2147483647.0");  // above any pid: no process has it
  const std::string live = path + ".tmp." + std::to_string(::getpid()) + ".999999";  // this process: alive
  touch(live);
  touch(tmp / "other.safetensors.tmp." + dead + ".0");  // another file's temporary
  touch(path + ".tmp." + dead);                          // not of the form <pid>.<n>
  touch(path + ".tmp." + dead + ".0.bak");
  {
    AtomicFile writing(path, "test");  // a live writer of the same file...
    writing.write("x");
    write_file_atomic(path, "new", "test");  // ...is not disturbed by a second one
    CHECK(fs::exists(writing.temp_path()));
    writing.commit();
  }
  CHECK(read(path) == "x");
  std::vector<std::string> left = {"ckpt.safetensors", "ckpt.safetensors.tmp." + dead,
                                   "ckpt.safetensors.tmp." + dead + ".0.bak",
                                   "ckpt.safetensors.tmp." + std::to_string(::getpid()) + ".999999",
                                   "other.safetensors.tmp." + dead + ".0"};
  std::sort(left.begin(), left.end());
  CHECK(tmp.names() == left);
  CHECK(remove_stale_temporaries(path) == 0);
}

TEST_CASE("a writer that dies before commit leaves a temporary that the next write removes") {
  TempDir tmp;
  const std::string path = tmp / "report.json";
  const pid_t pid = ::fork();
  if (pid == 0) {  // the child starts a write and dies without cleaning up, as under SIGKILL
    AtomicFile f(path, "test");
    f.write("half");
    ::_exit(0);
  }
  REQUIRE(pid > 0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(tmp.names().size() == 1);  // the child's temporary
  write_file_atomic(path, "whole", "test");
  CHECK(tmp.names() == std::vector<std::string>{"report.json"});
  CHECK(read(path) == "whole");
}
