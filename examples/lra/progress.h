#pragma once
// A training progress display: one line redrawn in place (\r) when the stream is a terminal,
// plain periodic lines otherwise (CI logs). Shows step, running-mean loss and accuracy, steps/s
// and the estimated time left.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <string>

namespace memgrad::lra {

class ProgressBar {
 public:
  // `label` prefixes every line (e.g. the attention kind). `interactive`: -1 decides by isatty.
  ProgressBar(std::string label, int64_t total_steps, FILE* out = stdout, int interactive = -1);
  ~ProgressBar();
  // After each training step: its loss and batch accuracy. Cheap: draws at most ~10 times a
  // second (terminal) or every 5% of the steps / 30 s (plain lines).
  void step(int64_t done, double loss, double acc);
  // Time spent outside training steps (evaluation) that steps/s and the ETA must not count.
  void pause();
  void resume();
  // A whole line (e.g. a validation result), printed without breaking the bar.
  void message(const std::string& line);
  void finish();

  static std::string format_duration(double seconds);  // "1:05", "1:02:03"

 private:
  std::string render() const;
  void draw(bool final_line);

  std::string label_;
  int64_t total_, done_ = 0;
  FILE* out_;
  bool tty_;
  std::deque<std::pair<double, double>> window_;  // (loss, acc) of the last steps
  double sum_loss_ = 0, sum_acc_ = 0;
  std::chrono::steady_clock::time_point start_, paused_at_, last_draw_;
  double paused_seconds_ = 0;
  bool paused_ = false, drawn_ = false, finished_ = false;
  int64_t last_plain_step_ = 0;
};

}  // namespace memgrad::lra
