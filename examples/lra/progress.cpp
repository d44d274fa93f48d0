#include "examples/lra/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace memgrad::lra {

namespace {
constexpr size_t kWindow = 50;  // steps in the running means
constexpr int kBarWidth = 20;
double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

ProgressBar::ProgressBar(std::string label, int64_t total_steps, FILE* out, int interactive)
    : label_(std::move(label)), total_(std::max<int64_t>(total_steps, 1)), out_(out) {
  tty_ = interactive < 0 ? isatty(fileno(out)) != 0 : interactive != 0;
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

ProgressBar::~ProgressBar() {
  if (!finished_ && drawn_ && tty_) std::fputc('\n', out_);
}

std::string ProgressBar::format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "--:--";
  const int64_t t = static_cast<int64_t>(std::llround(s));
  if (t >= 3600) return fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60);
  return fmt::format("{}:{:02}", t / 60, t % 60);
}

void ProgressBar::pause() {
  if (!paused_) paused_ = true, paused_at_ = std::chrono::steady_clock::now();
}

void ProgressBar::resume() {
  if (paused_) paused_ = false, paused_seconds_ += since(paused_at_);
}

std::string ProgressBar::render() const {
  const double paused = paused_seconds_ + (paused_ ? since(paused_at_) : 0.0);
  const double elapsed = std::max(since(start_) - paused, 1e-9);
  const double rate = done_ / elapsed;
  const double eta = rate > 0 ? (total_ - done_) / rate : NAN;
  const size_t n = std::max<size_t>(window_.size(), 1);
  std::string line = fmt::format("{:<8}", label_);
  if (tty_) {
    const int filled = static_cast<int>(kBarWidth * done_ / total_);
    line += fmt::format(" [{}{}]", std::string(filled, '#'), std::string(kBarWidth - filled, '.'));
  }
  line += fmt::format(" step {:>{}}/{}  loss {:.4f}  acc {:.3f}  {:.2f} steps/s  ETA {}", done_,
                      std::to_string(total_).size(), total_, sum_loss_ / n, sum_acc_ / n, rate,
                      done_ >= total_ ? "0:00" : format_duration(eta));
  return line;
}

void ProgressBar::draw(bool final_line) {
  if (tty_) {
    std::fprintf(out_, "\r%s\033[K%s", render().c_str(), final_line ? "\n" : "");
  } else {
    std::fprintf(out_, "%s\n", render().c_str());
  }
  std::fflush(out_);
  drawn_ = !final_line;
  last_draw_ = std::chrono::steady_clock::now();
}

void ProgressBar::step(int64_t done, double loss, double acc) {
  done_ = done;
  window_.emplace_back(loss, acc);
  sum_loss_ += loss, sum_acc_ += acc;
  if (window_.size() > kWindow) {
    sum_loss_ -= window_.front().first, sum_acc_ -= window_.front().second;
    window_.pop_front();
  }
  if (tty_) {
    if (since(last_draw_) >= 0.1 || done_ >= total_) draw(false);
    return;
  }
  const int64_t every = std::max<int64_t>(total_ / 20, 1);  // plain lines: every 5% or 30 s
  if (done_ - last_plain_step_ >= every || since(last_draw_) >= 30 || done_ >= total_) {
    last_plain_step_ = done_;
    draw(false);
  }
}

void ProgressBar::message(const std::string& line) {
  if (tty_ && drawn_) std::fputs("\r\033[K", out_);
  std::fprintf(out_, "%s\n", line.c_str());
  if (tty_ && drawn_) std::fputs(render().c_str(), out_);
  std::fflush(out_);
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  if (tty_) {
    draw(true);
  } else if (last_plain_step_ != done_) {
    draw(false);
  }
  drawn_ = false;
}

}  // namespace memgrad::lra
