#include "backends/profiler.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <tuple>

namespace memgrad::profiler {

namespace detail {
std::atomic<bool> enabled{false};
}

namespace {

struct Stat {
  int64_t calls = 0;
  double seconds = 0;
};

using Key = std::tuple<Source, std::string, std::string>;  // source, phase, name

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

std::map<Key, Stat>& registry() {
  static std::map<Key, Stat> r;
  return r;
}

thread_local double tl_children = 0;  // seconds of the kernel calls made inside the current one

}  // namespace

const char* to_string(Source s) { return s == Source::kernel ? "kernel" : "node"; }

void enable(bool on) { detail::enabled.store(on, std::memory_order_relaxed); }

void reset() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry().clear();
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

void record(Source source, const std::string& name, double seconds) {
  if (!enabled()) return;
  std::lock_guard<std::mutex> lock(registry_mutex());
  Stat& s = registry()[Key{source, current_phase(), name}];
  s.calls += 1;
  s.seconds += seconds;
}

KernelTimer::KernelTimer(const char* name) : name_(name), start_(now()), outer_children_(tl_children) {
  tl_children = 0;
}

KernelTimer::~KernelTimer() {
  const double total = now() - start_;
  record(Source::kernel, name_, total - tl_children);
  tl_children = outer_children_ + total;
}

std::vector<Entry> entries() {
  std::vector<Entry> out;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    for (const auto& [k, s] : registry())
      out.push_back({std::get<0>(k), std::get<1>(k), std::get<2>(k), s.calls, s.seconds});
  }
  std::stable_sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.seconds > b.seconds; });
  return out;
}

double total_seconds(const std::vector<Entry>& e, Source source, const std::string& phase) {
  double t = 0;
  for (const Entry& x : e)
    if (x.source == source && (phase.empty() || x.phase == phase)) t += x.seconds;
  return t;
}

namespace {

// The `top` slowest entries of one source, one line each, per step.
void table(std::string& s, const std::vector<Entry>& e, Source source, double step_seconds, int steps, size_t top) {
  s += fmt::format("  {:<10} {:<34} {:>9} {:>10} {:>7}\n", "phase", source == Source::kernel ? "kernel" : "node",
                   "calls", "ms", "% step");
  size_t shown = 0;
  for (const Entry& x : e) {
    if (x.source != source) continue;
    if (shown++ == top) break;
    const double per_step = x.seconds / steps;
    s += fmt::format("  {:<10} {:<34} {:>9.1f} {:>10.3f} {:>6.1f}%\n", x.phase, x.name,
                     static_cast<double>(x.calls) / steps, 1e3 * per_step, 100 * per_step / step_seconds);
  }
}

}  // namespace

std::string report(const std::vector<Entry>& e, double step_seconds, int steps, size_t top) {
  steps = std::max(steps, 1);
  std::string s = fmt::format("per step ({} recorded; step {:.3f} s): kernels, exclusive times\n", steps, step_seconds);
  table(s, e, Source::kernel, step_seconds, steps, top);
  std::vector<std::string> phases;
  for (const Entry& x : e)
    if (std::find(phases.begin(), phases.end(), x.phase) == phases.end()) phases.push_back(x.phase);
  s += "  kernel totals:";
  for (const std::string& p : phases) {
    const double t = total_seconds(e, Source::kernel, p) / steps;
    s += fmt::format(" {} {:.3f} s ({:.1f}%);", p, t, 100 * t / step_seconds);
  }
  const double all = total_seconds(e, Source::kernel) / steps;
  s += fmt::format(" all {:.3f} s ({:.1f}%); outside kernels {:.3f} s\n", all, 100 * all / step_seconds,
                   step_seconds - all);
  s += "backward nodes, inclusive of their kernels\n";
  table(s, e, Source::node, step_seconds, steps, top);
  const double nodes = total_seconds(e, Source::node) / steps;
  s += fmt::format("  node total: {:.3f} s ({:.1f}%)\n", nodes, 100 * nodes / step_seconds);
  return s;
}

}  // namespace memgrad::profiler
