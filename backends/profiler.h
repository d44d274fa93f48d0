#pragma once
// An opt-in profiler: where the time of a training step goes, by kernel and by backward node.
//
//   memgrad::profiler::enable();
//   { profiler::Phase p("forward");   loss = cross_entropy(model(x), y); }
//   loss.backward();                               // the engine sets the phase "backward" itself
//   { profiler::Phase p("optimizer"); opt.step(); }
//   profiler::disable();
//   std::fputs(profiler::report(profiler::entries(), step_seconds).c_str(), stdout);
//
// Two sources record into it while it is enabled:
//  - Source::kernel: every call of a Backend method. backend_for hands out a timing decorator
//    (backends/profiling_backend.h) that attributes each call to the method's name, with the op
//    for the elementwise and reduction families ("matmul", "binary.add", "unary.gelu",
//    "reduce.sum", "attention_chunked_backward"), and to the current phase. Times are exclusive:
//    a kernel that calls another through backend_for (attention_input's copy of a strided input)
//    does not count the inner call, which is recorded under its own name; so the kernel entries
//    of one phase add up to at most that phase's wall time. GPU calls are synchronised before the
//    clock stops (so they are timed to completion: profiling changes the overlap it measures).
//  - Source::node: the autograd engine times each backward node's apply() (autograd/engine.cpp),
//    attributed to the node's name ("linear", "attention", "layer_norm"), phase "backward". Node
//    times include the node's kernels: node and kernel entries are two views of the same time,
//    never to be added together.
//
// Disabled (the default), nothing is recorded, and the cost is one relaxed atomic load and a
// branch per backend_for call and per backward node. Layering: this registry and the decorator
// live in backends (they know kernels, not graphs); the node hook lives in autograd; core knows
// neither.
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "core/phase.h"

namespace memgrad::profiler {

enum class Source { kernel, node };
const char* to_string(Source s);

namespace detail {
extern std::atomic<bool> enabled;
}

// The one switch. enable() does not clear what was recorded (reset() does).
inline bool enabled() { return detail::enabled.load(std::memory_order_relaxed); }
void enable(bool on = true);
inline void disable() { enable(false); }
// Drops every entry recorded so far.
void reset();

// The phase that kernel times are attributed to is this thread's phase (core/phase.h, shared with
// the memory trace): Phase names it for the scope's lifetime (nests), "other" outside any.
using Phase = memgrad::PhaseScope;
using memgrad::current_phase;

// Adds one call of `seconds` to the entry (source, current phase, name). Called by the decorator
// and the engine; a no-op when disabled. Thread-safe.
void record(Source source, const std::string& name, double seconds);

// Exclusive timing of one kernel call (RAII): on destruction records its wall time minus the time
// of the kernel calls made inside it on this thread.
class KernelTimer {
 public:
  explicit KernelTimer(const char* name);
  ~KernelTimer();
  KernelTimer(const KernelTimer&) = delete;
  KernelTimer& operator=(const KernelTimer&) = delete;

 private:
  const char* name_;
  double start_;
  double outer_children_;  // the enclosing call's child time, restored (plus ours) at the end
};

// Seconds on a monotonic clock (steady_clock).
double now();

struct Entry {
  Source source;
  std::string phase;
  std::string name;
  int64_t calls = 0;
  double seconds = 0;
};

// Everything recorded since the last reset(), slowest first.
std::vector<Entry> entries();

// Sum of the entries' seconds from `source` (in `phase` when given).
double total_seconds(const std::vector<Entry>& e, Source source, const std::string& phase = "");

// A table of the `top` slowest kernel entries and the `top` slowest nodes, per step: seconds and
// calls divided by `steps` (the steps that were recorded), with each entry's % of `step_seconds`
// (the step's wall time), followed by the totals per phase.
std::string report(const std::vector<Entry>& e, double step_seconds, int steps = 1, size_t top = 15);

}  // namespace memgrad::profiler
