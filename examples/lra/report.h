#pragma once
// The results of a run: the comparison table on the terminal, results.json (everything, curves
// and sweep included: plot_results.py reads it) and results.csv (one row per kind). Files are
// written atomically: a temporary file in the same folder, flushed and fsync'ed, then renamed.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "examples/lra/presets.h"
#include "examples/lra/results.h"

namespace memgrad::lra {

// Per kind: test accuracy, time per step, tokens/s, measured and predicted peak memory; then the
// chunked/vanilla and topk/vanilla ratios and the majority-class rate.
void print_table(FILE* out, const RunReport& report);

nlohmann::json to_json(const RunReport& report);
std::string to_csv(const RunReport& report);

// Writes results.json and results.csv under dir (created if missing); returns their paths.
std::pair<std::string, std::string> write_reports(const RunReport& report, const std::string& dir);

// Temporary file + fsync + rename over `path`: readers see the old file or the new one.
void write_file_atomic(const std::string& path, const std::string& content);

// "Intel(R) Xeon(R) Processor, 2 cores, 23.4 GiB, OPENBLAS_CORETYPE=SkylakeX".
std::string machine_description();
// The 1-minute load average from /proc/loadavg (-1 when unreadable).
double load_average();
// The "machine" of a run's reports: machine_description(), the OpenMP threads, and on a GPU
// "<activity> on cuda:0" ("training on cuda:0").
std::string run_machine(Device device, const std::string& activity);
// Prints a note when several OpenMP threads run and the load average reaches the number of cores.
void note_if_busy(FILE* out);
// The current time in UTC, ISO 8601 ("2026-11-22T09:15:00Z").
std::string utc_now();

}  // namespace memgrad::lra
