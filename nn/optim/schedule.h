#pragma once
// Learning-rate schedules: step -> lr, where step counts the optimizer steps already taken (the
// first step is 0). Use: opt.set_lr(schedule(opt.step_count())) before each opt.step().
// Warmup is linear: lr * (step + 1) / warmup_steps, so the first step is not wasted at lr 0 and
// the last warmup step reaches the peak. Constructors validate their arguments (memgrad::Error).
#include <cstdint>
#include <functional>

namespace memgrad::optim {

using Schedule = std::function<double(int64_t step)>;

// lr, after an optional linear warmup.
class Constant {
 public:
  explicit Constant(double lr, int64_t warmup_steps = 0);
  double operator()(int64_t step) const;

 private:
  double lr_;
  int64_t warmup_;
};

// Linear warmup to base_lr over warmup_steps, then half a cosine from base_lr down to min_lr at
// total_steps; min_lr from then on.
class WarmupCosine {
 public:
  WarmupCosine(double base_lr, int64_t warmup_steps, int64_t total_steps, double min_lr = 0);
  double operator()(int64_t step) const;

 private:
  double base_, min_;
  int64_t warmup_, total_;
};

// Linear warmup to base_lr over warmup_steps (>= 1), then base_lr * sqrt(warmup_steps / (step + 1))
// ("Attention is all you need", up to the constant).
class WarmupRsqrt {
 public:
  WarmupRsqrt(double base_lr, int64_t warmup_steps);
  double operator()(int64_t step) const;

 private:
  double base_;
  int64_t warmup_;
};

}  // namespace memgrad::optim
