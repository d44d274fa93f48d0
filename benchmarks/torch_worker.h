#pragma once
// PyTorch's side of bench_train_step in a child process that keeps its model between steps
// (benchmarks/train_step_torch.py --serve), so that the two libraries' steps can alternate one by
// one: this VM's speed drifts by 20% and more between minutes, and a ratio of two medians taken
// minutes apart moved by up to 0.35 for the same binaries. Alternating, a drift slows both sides of
// each pair alike, and the ratio is the median of the pairs' ratios.
//
// Protocol (one JSON object per line on the child's stdout; requests on its stdin):
//   start       the child builds the model, runs its first step and prints
//               {"torch_version", "threads", "rss_increase_bytes", "loss"}
//   "step\n"    one timed step: {"seconds", "cpu_seconds", "loss"}
//   EOF         the child exits (the destructor closes its stdin and waits)
// Each request is answered before the next is sent, so the two processes never compute at once.
// Anything the child prints to stderr goes to this process's stderr.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

extern char** environ;

namespace memgrad::bench {

class TorchWorker {
 public:
  // Starts `argv` (argv[0] is looked up in PATH) and reads its first line; ok() tells whether both
  // worked, and error() why not.
  explicit TorchWorker(const std::vector<std::string>& argv) {
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0) {
      fail("pipe: " + std::string(std::strerror(errno)));
      return;
    }
    if (pipe(from_child) != 0) {
      close(to_child[0]), close(to_child[1]);
      fail("pipe: " + std::string(std::strerror(errno)));
      return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, to_child[0], 0);
    posix_spawn_file_actions_adddup2(&fa, from_child[1], 1);
    for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]}) posix_spawn_file_actions_addclose(&fa, fd);
    signal(SIGPIPE, SIG_IGN);  // a child that died is an error reply, not the end of this process
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::fflush(stdout);
    const int rc = posix_spawnp(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(to_child[0]), close(from_child[1]);
    if (rc != 0) {
      close(to_child[1]), close(from_child[0]);
      pid_ = -1;
      fail("cannot start " + argv[0] + ": " + std::strerror(rc));
      return;
    }
    to_ = fdopen(to_child[1], "w");
    from_ = fdopen(from_child[0], "r");
    first_ = read_reply();
  }
  ~TorchWorker() {
    if (to_) std::fclose(to_);  // EOF on the child's stdin: it exits
    if (from_) std::fclose(from_);
    if (pid_ > 0) {
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }
  TorchWorker(const TorchWorker&) = delete;
  TorchWorker& operator=(const TorchWorker&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  // The first step's line (memory, version); null when the start failed.
  const nlohmann::json& first() const { return first_; }
  // One timed step; null (and ok() false) when the child did not answer with a JSON object.
  nlohmann::json step() {
    if (!ok()) return nullptr;
    std::fputs("step\n", to_);
    std::fflush(to_);
    return read_reply();
  }

 private:
  void fail(std::string why) { error_ = std::move(why); }
  // The next line of the child's stdout as JSON, skipping lines that are not objects.
  nlohmann::json read_reply() {
    char buf[8192];
    while (from_ && std::fgets(buf, sizeof buf, from_)) {
      if (buf[0] != '{') continue;
      try {
        return nlohmann::json::parse(buf);
      } catch (const std::exception& e) {
        fail(std::string("unreadable reply: ") + e.what());
        return nullptr;
      }
    }
    fail("the PyTorch process ended without a reply (its error is above)");
    return nullptr;
  }

  pid_t pid_ = -1;
  FILE* to_ = nullptr;
  FILE* from_ = nullptr;
  nlohmann::json first_;
  std::string error_;
};

}  // namespace memgrad::bench
