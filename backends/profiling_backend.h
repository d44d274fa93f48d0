#pragma once
// The profiler's kernel half (backends/profiler.h): a Backend that forwards every call to the
// device's backend and times it, attributed to the method's name. backend_for hands it out
// instead of the device's backend while the profiler is enabled.
#include "backends/backend.h"

namespace memgrad {

// The timing decorator of `inner` (one per backend, made on first use, kept for the process).
// Calls on a GPU device are synchronised before the clock stops.
Backend& profiling_backend(Backend& inner, Device d);

}  // namespace memgrad
