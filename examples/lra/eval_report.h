#pragma once
// The results of lra eval: a table on the terminal and eval.json (written atomically, report.h's
// write_file_atomic), which examples/lra/plot_results.py draws as accuracy against k.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "examples/lra/eval.h"

namespace memgrad::lra {

// One line per row: trained kind, evaluated kind, top_k, feed-forward top-k, test accuracy and
// its difference to the trained setting, examples, seconds, peak memory.
void print_eval_table(FILE* out, const EvalReport& report);

nlohmann::json eval_to_json(const EvalReport& report);

// Writes <dir>/eval.json (dir created if missing); returns its path.
std::string write_eval_json(const EvalReport& report, const std::string& dir);

}  // namespace memgrad::lra
