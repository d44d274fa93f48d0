#include "examples/lra/memory_trace_files.h"

#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>

extern char** environ;

namespace memgrad::lra {

PhasePeaks phase_peaks(const memory::Trace& t, Device d) {
  PhasePeaks p;
  const auto devs = t.devices();
  size_t dev = devs.size();
  for (size_t i = 0; i < devs.size(); ++i)
    if (devs[i].device == d) dev = i;
  if (dev == devs.size()) return p;
  memory::CategoryBytes live = p.at_start = p.end_of_forward = devs[dev].start;
  bool in_backward = false;
  for (const memory::Event& e : t.events()) {
    if (e.device != dev) continue;
    const std::string& phase = e.op >= 0 ? t.ops()[static_cast<size_t>(e.op)].phase : std::string();
    if (phase == "backward" && !in_backward) in_backward = true, p.end_of_forward = live;
    memory::apply(e, live);
    int64_t total = 0;
    for (int64_t b : live) total += b;
    int64_t* peak = phase == "forward" ? &p.forward : phase == "backward" ? &p.backward
                  : phase == "optimizer" ? &p.optimizer : nullptr;
    if (peak) *peak = std::max(*peak, total);
  }
  return p;
}

std::string write_step_trace(const memory::Trace& t, const std::string& dir, const std::string& kind) {
  const std::string base = (std::filesystem::path(dir) / ("memory_trace_" + kind)).string();
  t.write_json(base + ".json");
  t.write_chrome_trace(base + ".trace.json");
  return base + ".json";
}

namespace {

// Runs argv (no shell), waiting for it; the exit status, or -1 when it could not start.
int run(const std::vector<std::string>& argv) {
  std::vector<char*> a;
  for (const std::string& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  pid_t pid;
  if (posix_spawnp(&pid, a[0], nullptr, nullptr, a.data(), environ) != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

}  // namespace

std::string plot_step_traces(const std::vector<std::string>& trace_files, const std::vector<std::string>& titles,
                             const std::string& dir, FILE* log) {
  const std::string out = (std::filesystem::path(dir) / "memory_trace.png").string();
  // Debian's interpreter first: scripts/install_deps.sh gives it python3-matplotlib, while a
  // `python3` earlier on PATH (pyenv, a venv) may lack it.
  const std::string python = std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  std::vector<std::string> argv{env_or("MEMGRAD_PYTHON", python),
                                env_or("MEMGRAD_PLOT_MEMORY", std::string(MEMGRAD_SOURCE_DIR) + "/scripts/plot_memory.py")};
  argv.insert(argv.end(), trace_files.begin(), trace_files.end());
  std::string joined;
  for (const std::string& t : titles) joined += (joined.empty() ? "" : ",") + t;
  for (const char* a : {"-o", out.c_str(), "--titles", joined.c_str()}) argv.emplace_back(a);
  const int rc = run(argv);
  if (rc == 0) return out;
  std::string cmd;
  for (const std::string& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  std::fprintf(log, "lra: could not draw %s (%s exited with %d; it needs python3 with matplotlib and numpy); "
               "the traces are written, draw them with: %s\n",
               out.c_str(), argv[0].c_str(), rc, cmd.c_str());
  return "";
}

}  // namespace memgrad::lra
