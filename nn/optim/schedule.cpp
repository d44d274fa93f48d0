#include "nn/optim/schedule.h"

#include <cmath>
#include <numbers>

#include "core/error.h"

namespace memgrad::optim {

namespace {

void check_lr(const char* op, const char* what, double lr) {
  MG_CHECK(std::isfinite(lr) && lr >= 0, op, "{} must be a finite number >= 0, got {}", what, lr);
}

void check_step(const char* op, int64_t step) { MG_CHECK(step >= 0, op, "step must be >= 0, got {}", step); }

// The warmup ramp's value at `step` (< warmup).
double ramp(double lr, int64_t step, int64_t warmup) {
  return lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
}

}  // namespace

Constant::Constant(double lr, int64_t warmup_steps) : lr_(lr), warmup_(warmup_steps) {
  check_lr("Constant", "lr", lr);
  MG_CHECK(warmup_steps >= 0, "Constant", "warmup_steps must be >= 0, got {}", warmup_steps);
}

double Constant::operator()(int64_t step) const {
  check_step("Constant", step);
  return step < warmup_ ? ramp(lr_, step, warmup_) : lr_;
}

WarmupCosine::WarmupCosine(double base_lr, int64_t warmup_steps, int64_t total_steps, double min_lr)
    : base_(base_lr), min_(min_lr), warmup_(warmup_steps), total_(total_steps) {
  check_lr("WarmupCosine", "base_lr", base_lr);
  check_lr("WarmupCosine", "min_lr", min_lr);
  MG_CHECK(min_lr <= base_lr, "WarmupCosine", "min_lr ({}) must not exceed base_lr ({})", min_lr, base_lr);
  MG_CHECK(warmup_steps >= 0, "WarmupCosine", "warmup_steps must be >= 0, got {}", warmup_steps);
  MG_CHECK(total_steps >= 1 && total_steps >= warmup_steps, "WarmupCosine",
           "total_steps must be >= 1 and >= warmup_steps ({}), got {}", warmup_steps, total_steps);
}

double WarmupCosine::operator()(int64_t step) const {
  check_step("WarmupCosine", step);
  if (step < warmup_) return ramp(base_, step, warmup_);
  if (step >= total_) return min_;
  const double progress = static_cast<double>(step - warmup_) / static_cast<double>(total_ - warmup_);
  return min_ + 0.5 * (base_ - min_) * (1 + std::cos(std::numbers::pi * progress));
}

WarmupRsqrt::WarmupRsqrt(double base_lr, int64_t warmup_steps) : base_(base_lr), warmup_(warmup_steps) {
  check_lr("WarmupRsqrt", "base_lr", base_lr);
  MG_CHECK(warmup_steps >= 1, "WarmupRsqrt", "warmup_steps must be >= 1, got {}", warmup_steps);
}

double WarmupRsqrt::operator()(int64_t step) const {
  check_step("WarmupRsqrt", step);
  if (step < warmup_) return ramp(base_, step, warmup_);
  return base_ * std::sqrt(static_cast<double>(warmup_) / static_cast<double>(step + 1));
}

}  // namespace memgrad::optim
