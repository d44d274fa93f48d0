#pragma once
// What the LRA comparison program measures: the plain data the trainer fills, the report prints
// as a table and writes as JSON and CSV, and plot_results.py draws.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace memgrad::lra {

constexpr double kNoValue = std::numeric_limits<double>::quiet_NaN();

// One point of a training curve: means over the steps since the previous point.
struct CurvePoint {
  int64_t step = 0;           // optimizer steps done
  double loss = 0;            // mean training loss
  double train_acc = 0;       // mean training-batch accuracy
  double val_acc = kNoValue;  // validation accuracy, when evaluated at this step
  double lr = 0;
  double seconds = 0;         // training time so far (evaluations excluded)
};

// One attention kind trained on one task.
struct KindResult {
  std::string kind;
  int64_t params = 0;
  int64_t steps = 0;            // steps run (fewer than asked after early stopping)
  bool stopped_early = false;
  int64_t best_step = 0;        // the step of the best validation accuracy (the checkpointed model)
  double best_val_acc = kNoValue;
  double test_acc = kNoValue;   // the checkpointed model on the test split
  double train_seconds = 0;     // training steps only
  double sec_per_step = 0;
  double tokens_per_sec = 0;    // padded positions processed per second (both documents for pairs)
  int64_t peak_bytes = 0;       // measured: the largest memory::PeakMeter peak of a training step
  int64_t peak_seq_len = 0;     // the padded length of the batch at that peak
  int64_t predicted_bytes = 0;  // the estimate for the largest step, printed before training
  int64_t predicted_at_peak_len = 0;  // the estimate for the shape of the measured peak step
  std::string predicted_phase;  // where the estimate places the peak
  std::string checkpoint;       // path of the saved model + optimizer
  std::string memory_trace;     // --trace-memory: the traced step's compact file (empty: none)
  std::vector<CurvePoint> curve;
};

// Memory and time of one training step at one sequence length (the sweep after `compare`).
struct SweepPoint {
  std::string kind;
  int64_t seq_len = 0;
  int64_t batch = 0;
  int64_t predicted_bytes = 0;
  int64_t peak_bytes = 0;       // 0 when skipped
  double sec_per_step = 0;
  std::string note;             // why a point was skipped (e.g. it would not fit in memory)
};

struct RunReport {
  std::string command;          // the command line
  std::string mode;             // "train" or "compare"
  std::string task, preset;
  std::string machine;          // CPU model, cores, memory, OPENBLAS_CORETYPE
  std::string started;          // ISO 8601, UTC
  double wall_seconds = 0;      // the whole run
  int64_t batch = 0, max_len = 0;
  double majority_rate = 0;     // test accuracy of always answering the most frequent training label
  int64_t majority_class = 0;
  std::string config_json;      // the resolved configuration (JSON text)
  std::vector<KindResult> kinds;
  std::vector<SweepPoint> sweep;
};

}  // namespace memgrad::lra
