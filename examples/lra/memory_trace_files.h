#pragma once
// The lra program's memory traces (lra train/compare --trace-memory, docs/memory_trace.md): the
// files of one traced step per attention kind, the side-by-side figure, and the per-phase reading
// of a trace that the analytic estimate is checked against (tests/test_lra_estimate.cpp).
#include <cstdio>
#include <string>
#include <vector>

#include "core/memory_trace.h"

namespace memgrad::lra {

// A trace read phase by phase on one device: the highest total live bytes while each phase's
// ops ran, and the live bytes per category when the step began and when the forward ended (at
// the first event of the backward).
struct PhasePeaks {
  int64_t forward = 0, backward = 0, optimizer = 0;
  memory::CategoryBytes at_start{}, end_of_forward{};
};
PhasePeaks phase_peaks(const memory::Trace& t, Device d = Device::cpu());

// Writes <dir>/memory_trace_<kind>.json (compact) and <dir>/memory_trace_<kind>.trace.json (Perfetto),
// atomically; returns the compact file's path.
std::string write_step_trace(const memory::Trace& t, const std::string& dir, const std::string& kind);

// Draws <dir>/memory_trace.png, the kinds side by side on one scale, by running
// scripts/plot_memory.py (matplotlib) on their compact files: the interpreter is $MEMGRAD_PYTHON,
// else Debian's /usr/bin/python3 (scripts/install_deps.sh gives it matplotlib), else python3; the script $MEMGRAD_PLOT_MEMORY or the one in memgrad's source tree. Returns the
// figure's path, or "" after writing to `log` why it could not (no python3 or matplotlib) and the
// command to run by hand: the traces are the result; the figure is a view of them.
std::string plot_step_traces(const std::vector<std::string>& trace_files, const std::vector<std::string>& titles,
                             const std::string& dir, FILE* log);

}  // namespace memgrad::lra
