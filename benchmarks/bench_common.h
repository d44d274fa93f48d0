#pragma once
// Shared pieces of the benchmark programs: the machine description, medians, byte counts for
// tables, the --device option, and atomic JSON output.
#include <omp.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/allocator.h"
#include "core/device.h"
#include "core/file_util.h"

extern "C" char* openblas_get_corename(void);
extern "C" int openblas_get_num_threads(void);

namespace memgrad::bench {

inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  return "unknown";
}

inline nlohmann::json machine() {
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  return {{"cpu_model", cpu_model()},
          {"nproc", std::thread::hardware_concurrency()},
          {"omp_max_threads", omp_get_max_threads()},
          {"openblas_num_threads", openblas_get_num_threads()},
          {"OPENBLAS_CORETYPE", coretype ? coretype : ""},
          {"openblas_corename", openblas_get_corename()}};
}

inline std::string describe(const nlohmann::json& m) {
  std::string ct = m["OPENBLAS_CORETYPE"];
  return m["cpu_model"].get<std::string>() + ", " + std::to_string(m["nproc"].get<unsigned>()) +
         " cpus, OPENBLAS_CORETYPE=" + (ct.empty() ? "<unset>" : ct) + ", OpenBLAS core " +
         m["openblas_corename"].get<std::string>();
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

template <class F>
double seconds(F&& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU seconds this process has used (all threads): less sensitive than wall time to other
// programs on a shared machine (use with OMP_WAIT_POLICY=passive so idle threads do not spin).
inline double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

inline std::string utc_timestamp() {
  char stamp[32];
  std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return stamp;
}

inline std::string command_line(int argc, char** argv) {
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  return command;
}

// "12.3 MiB": bytes for a table (JSON keeps the exact count).
inline std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB"};
  int u = 0;
  while (b >= 1024 && u < 3) b /= 1024, ++u;
  return fmt::format("{:.1f} {}", b, units[u]);
}

// The --device option's value as a Device; false (after printing the error) when it is not one,
// or names a GPU this machine does not have. The caller exits with status 2.
inline bool parse_device(const std::string& text, Device& out) {
  try {
    out = Device::parse(text);
    if (out.is_cuda()) (void)memory::stats(out);  // fails clearly when there is no GPU
    return true;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return false;
  }
}

// Writes `out` atomically (core/file_util.h), creating its folder first.
inline void write_atomically(const std::filesystem::path& out, const std::string& text) {
  if (out.has_parent_path()) std::filesystem::create_directories(out.parent_path());
  memgrad::write_file_atomic(out.string(), text, "bench");
}

}  // namespace memgrad::bench
