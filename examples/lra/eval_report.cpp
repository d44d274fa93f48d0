// The table and eval.json of lra eval (eval_report.h).
#include "examples/lra/eval_report.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>

#include "examples/lra/memory_estimate.h"
#include "examples/lra/report.h"

namespace memgrad::lra {

namespace {

const EvalSource* source_of(const EvalReport& r, const std::string& trained) {
  for (const auto& s : r.sources)
    if (s.trained == trained) return &s;
  return nullptr;
}

std::string top_k_text(const EvalRow& r) {
  if (!r.top_k) return "-";
  return r.top_k_all ? fmt::format("all ({})", *r.top_k) : std::to_string(*r.top_k);
}

nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

}  // namespace

void print_eval_table(FILE* out, const EvalReport& r) {
  std::fprintf(out, "\n%s, preset %s: %lld test examples, batch %lld; majority-class rate %.4f\n", r.task.c_str(),
               r.preset.c_str(), static_cast<long long>(r.test_examples), static_cast<long long>(r.batch),
               r.majority_rate);
  std::fprintf(out, "%-8s %-8s %10s %8s %8s %11s %8s %8s %11s\n", "trained", "kind", "top_k", "ff top-k", "test acc",
               "vs trained", "examples", "seconds", "peak mem");
  for (const EvalRow& row : r.rows) {
    const EvalSource* s = source_of(r, row.trained);
    const double diff = s ? row.test_acc - s->trained_acc : NAN;
    std::fprintf(out, "%-8s %-8s %10s %8s %8.4f %+11.4f %8lld %8.2f %11s\n", row.trained.c_str(), row.kind.c_str(),
                 top_k_text(row).c_str(), row.ff_top_k > 0 ? std::to_string(row.ff_top_k).c_str() : "dense",
                 row.test_acc, diff, static_cast<long long>(row.examples), row.seconds,
                 format_bytes(static_cast<double>(row.peak_bytes)).c_str());
  }
  for (const EvalSource& s : r.sources)
    std::fprintf(out, "trained %s (%s): test acc %.4f as trained\n", s.trained.c_str(), s.checkpoint.c_str(),
                 s.trained_acc);
}

nlohmann::json eval_to_json(const EvalReport& r) {
  nlohmann::json sources = nlohmann::json::array();
  for (const EvalSource& s : r.sources)
    sources.push_back({{"checkpoint", s.checkpoint}, {"trained_kind", s.trained}, {"step", s.step},
                       {"val_acc", s.val_acc}, {"trained_top_k", s.trained_top_k},
                       {"trained_ff_top_k", s.trained_ff_top_k}, {"ff_hidden", s.ff_hidden},
                       {"positions", s.positions}, {"trained_test_acc", number(s.trained_acc)},
                       {"config", nlohmann::json::parse(s.config_json)}});
  nlohmann::json rows = nlohmann::json::array();
  for (const EvalRow& row : r.rows)
    rows.push_back({{"trained_kind", row.trained}, {"kind", row.kind},
                    {"top_k", row.top_k ? nlohmann::json(*row.top_k) : nlohmann::json(nullptr)},
                    {"top_k_all", row.top_k_all}, {"ff_top_k", row.ff_top_k}, {"test_acc", number(row.test_acc)},
                    {"examples", row.examples}, {"seconds", row.seconds}, {"peak_bytes", row.peak_bytes}});
  return {{"program", "memgrad lra"},  {"mode", "eval"},     {"command", r.command},
          {"machine", r.machine},      {"started", r.started}, {"wall_seconds", r.wall_seconds},
          {"from", r.from},            {"task", r.task},     {"preset", r.preset},
          {"test_examples", r.test_examples}, {"batch", r.batch}, {"majority_rate", number(r.majority_rate)},
          {"majority_class", r.majority_class}, {"checkpoints", sources}, {"rows", rows}};
}

std::string write_eval_json(const EvalReport& r, const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "eval.json").string();
  write_file_atomic(path, eval_to_json(r).dump(1) + "\n");
  return path;
}

}  // namespace memgrad::lra
