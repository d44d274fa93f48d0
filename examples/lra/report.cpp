#include "examples/lra/report.h"

#include <fcntl.h>
#include <omp.h>
#include <sys/stat.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/error.h"
#include "core/file_util.h"
#include "examples/lra/memory_estimate.h"

namespace memgrad::lra {

namespace {

const KindResult* find_kind(const RunReport& r, const std::string& kind) {
  for (const auto& k : r.kinds)
    if (k.kind == kind) return &k;
  return nullptr;
}

// NaN (no value) as JSON null.
nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

std::string csv_number(double v, int digits) { return std::isfinite(v) ? fmt::format("{:.{}f}", v, digits) : ""; }

double ratio(double a, double b) { return b > 0 ? a / b : kNoValue; }

}  // namespace

void print_table(FILE* out, const RunReport& r) {
  std::fprintf(out, "\n%s, preset %s: batch %lld, max length %lld\n", r.task.c_str(), r.preset.c_str(),
               static_cast<long long>(r.batch), static_cast<long long>(r.max_len));
  std::fprintf(out, "%-8s %8s %8s %6s %9s %11s %11s %11s %9s\n", "kind", "test acc", "val acc", "steps", "s/step",
               "tokens/s", "peak mem", "predicted", "pred/meas");
  for (const auto& k : r.kinds) {
    const double pm = ratio(static_cast<double>(k.predicted_at_peak_len), static_cast<double>(k.peak_bytes));
    std::fprintf(out, "%-8s %8.4f %8.4f %6lld %9.4f %11.0f %11s %11s %9.3f\n", k.kind.c_str(), k.test_acc,
                 k.best_val_acc, static_cast<long long>(k.steps), k.sec_per_step, k.tokens_per_sec,
                 format_bytes(static_cast<double>(k.peak_bytes)).c_str(),
                 format_bytes(static_cast<double>(k.predicted_at_peak_len)).c_str(), pm);
  }
  if (const KindResult* v = find_kind(r, "vanilla")) {
    for (const char* other : {"chunked", "topk"}) {
      const KindResult* o = find_kind(r, other);
      if (!o) continue;
      std::fprintf(out, "%s/vanilla: peak memory %.3fx, time per step %.3fx, test accuracy %+.4f\n", other,
                   ratio(static_cast<double>(o->peak_bytes), static_cast<double>(v->peak_bytes)),
                   ratio(o->sec_per_step, v->sec_per_step), o->test_acc - v->test_acc);
    }
  }
  std::fprintf(out, "majority-class rate (test): %.4f (always answering label %lld)\n", r.majority_rate,
               static_cast<long long>(r.majority_class));
}

nlohmann::json to_json(const RunReport& r) {
  nlohmann::json kinds = nlohmann::json::array();
  for (const auto& k : r.kinds) {
    nlohmann::json curve = nlohmann::json::array();
    for (const auto& p : k.curve)
      curve.push_back({{"step", p.step}, {"loss", number(p.loss)}, {"train_acc", number(p.train_acc)},
                       {"val_acc", number(p.val_acc)}, {"lr", p.lr}, {"seconds", p.seconds}});
    kinds.push_back({{"kind", k.kind}, {"params", k.params}, {"steps", k.steps}, {"stopped_early", k.stopped_early},
                     {"best_step", k.best_step}, {"best_val_acc", number(k.best_val_acc)},
                     {"test_acc", number(k.test_acc)}, {"train_seconds", k.train_seconds},
                     {"sec_per_step", k.sec_per_step}, {"tokens_per_sec", k.tokens_per_sec},
                     {"peak_bytes", k.peak_bytes}, {"peak_seq_len", k.peak_seq_len},
                     {"predicted_bytes", k.predicted_bytes}, {"predicted_at_peak_len", k.predicted_at_peak_len},
                     {"predicted_phase", k.predicted_phase}, {"checkpoint", k.checkpoint}, {"curve", curve}});
  }
  nlohmann::json ratios = nlohmann::json::object();
  if (const KindResult* v = find_kind(r, "vanilla"))
    for (const char* other : {"chunked", "topk"})
      if (const KindResult* o = find_kind(r, other))
        ratios[std::string(other) + "/vanilla"] = {
            {"peak_bytes", number(ratio(static_cast<double>(o->peak_bytes), static_cast<double>(v->peak_bytes)))},
            {"sec_per_step", number(ratio(o->sec_per_step, v->sec_per_step))},
            {"tokens_per_sec", number(ratio(o->tokens_per_sec, v->tokens_per_sec))},
            {"test_acc_diff", number(o->test_acc - v->test_acc)}};
  nlohmann::json sweep = nlohmann::json::array();
  for (const auto& p : r.sweep)
    sweep.push_back({{"kind", p.kind}, {"seq_len", p.seq_len}, {"batch", p.batch},
                     {"predicted_bytes", p.predicted_bytes}, {"peak_bytes", p.peak_bytes},
                     {"sec_per_step", p.sec_per_step}, {"note", p.note}});
  nlohmann::json config = r.config_json.empty() ? nlohmann::json::object() : nlohmann::json::parse(r.config_json);
  return {{"program", "memgrad lra"}, {"command", r.command},   {"mode", r.mode},
          {"task", r.task},           {"preset", r.preset},     {"machine", r.machine},
          {"started", r.started},     {"wall_seconds", r.wall_seconds}, {"batch", r.batch},
          {"max_len", r.max_len},     {"majority_rate", number(r.majority_rate)},
          {"majority_class", r.majority_class}, {"config", config}, {"kinds", kinds},
          {"ratios", ratios},         {"sweep", sweep}};
}

std::string to_csv(const RunReport& r) {
  std::string s =
      "task,preset,kind,params,steps,best_step,best_val_acc,test_acc,majority_rate,sec_per_step,tokens_per_sec,"
      "peak_bytes,predicted_bytes,predicted_over_measured,peak_vs_vanilla,time_vs_vanilla\n";
  const KindResult* v = find_kind(r, "vanilla");
  auto bytes_ratio = [](int64_t a, int64_t b) { return ratio(static_cast<double>(a), static_cast<double>(b)); };
  for (const auto& k : r.kinds) {
    s += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", r.task, r.preset, k.kind, k.params, k.steps,
                     k.best_step, csv_number(k.best_val_acc, 4), csv_number(k.test_acc, 4),
                     csv_number(r.majority_rate, 4), csv_number(k.sec_per_step, 5), csv_number(k.tokens_per_sec, 1),
                     k.peak_bytes, k.predicted_at_peak_len,
                     csv_number(bytes_ratio(k.predicted_at_peak_len, k.peak_bytes), 4),
                     v ? csv_number(bytes_ratio(k.peak_bytes, v->peak_bytes), 4) : "",
                     v ? csv_number(ratio(k.sec_per_step, v->sec_per_step), 4) : "");
  }
  return s;
}

void write_file_atomic(const std::string& path, const std::string& content) {
  const std::filesystem::path target(path);
  if (target.has_parent_path()) std::filesystem::create_directories(target.parent_path());
  memgrad::write_file_atomic(path, content, "lra");  // core/file_util.h
}

std::pair<std::string, std::string> write_reports(const RunReport& r, const std::string& dir) {
  const std::string json_path = (std::filesystem::path(dir) / "results.json").string();
  const std::string csv_path = (std::filesystem::path(dir) / "results.csv").string();
  write_file_atomic(json_path, to_json(r).dump(1) + "\n");
  write_file_atomic(csv_path, to_csv(r));
  return {json_path, csv_path};
}

std::string machine_description() {
  std::string cpu = "unknown CPU";
  std::ifstream info("/proc/cpuinfo");
  for (std::string line; std::getline(info, line);)
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  int64_t total_kib = 0;
  std::ifstream mem("/proc/meminfo");
  for (std::string line; std::getline(mem, line);)
    if (line.rfind("MemTotal:", 0) == 0) total_kib = std::atoll(line.c_str() + 9);
  const char* core = std::getenv("OPENBLAS_CORETYPE");
  return fmt::format("{}, {} cores, {} memory, OPENBLAS_CORETYPE={}", cpu, std::thread::hardware_concurrency(),
                     format_bytes(static_cast<double>(total_kib) * 1024), core ? core : "(unset)");
}

double load_average() {
  std::ifstream in("/proc/loadavg");
  double load = -1;
  in >> load;
  return in ? load : -1;
}

std::string run_machine(Device device, const std::string& activity) {
  return fmt::format("{}, OpenMP threads: {}{}", machine_description(), omp_get_max_threads(),
                     device.is_cpu() ? "" : fmt::format(", {} on {}", activity, device.str()));
}

void note_if_busy(FILE* out) {
  const double load = load_average();
  if (omp_get_max_threads() > 1 && load >= omp_get_num_procs())
    std::fprintf(out,
                 "note: the machine is busy (load %.1f on %d cores): OpenMP threads wait for each other when one is "
                 "descheduled, so steps may run several times slower; --threads 1 avoids that.\n",
                 load, omp_get_num_procs());
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace memgrad::lra
