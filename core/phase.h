#pragma once
// The phase of a training step that the running code belongs to ("forward", "backward",
// "optimizer"; "other" outside any), one per thread. Two observers read it: the profiler
// attributes kernel times to it (backends/profiler.h) and the memory trace attributes allocations
// to it (core/memory_trace.h). Who sets it: the autograd engine ("backward", for the whole pass),
// Optimizer::step ("optimizer"), nn modules ("forward", when called outside any phase: see
// memory::ModuleScope) and whoever drives a step (benchmarks, the lra trainer, Python's
// memgrad.memory.phase).
namespace memgrad {

// Names the phase on this thread for the scope's lifetime (nests: the previous phase comes back at
// the end). `name` must outlive the scope (a literal).
class PhaseScope {
 public:
  explicit PhaseScope(const char* name);
  ~PhaseScope();
  PhaseScope(const PhaseScope&) = delete;
  PhaseScope& operator=(const PhaseScope&) = delete;

 private:
  const char* previous_;
};

// This thread's phase: the innermost PhaseScope's name, or "other".
const char* current_phase();

}  // namespace memgrad
