#pragma once
// Optimizers: SGD (momentum, dampening, Nesterov, weight decay), Adam (L2 weight decay added to
// the gradient, as torch.optim.Adam) and AdamW (decoupled weight decay). The arithmetic is the
// backend's fused sgd_step / adam_step kernels, with PyTorch's formulas.
//
//   optim::AdamW opt(model.parameters(), {.lr = 3e-4, .weight_decay = 0.01});
//   opt.zero_grad(); loss.backward(); opt.step();
//
// State dicts (for checkpoints: nn/serialization.h) are flat maps of tensors:
//   "step"                    int64 0-d   step() calls so far
//   "group.<g>.lr"            float64 0-d  and "group.<g>.weight_decay"; "group.<g>.params" int64 0-d (count)
//   "<hyper>"                 float64 0-d  e.g. "beta1", "beta2", "eps", "decoupled" / "momentum", "nesterov"
//   "state.<i>.step"          int64 0-d   steps taken by parameter i (numbered across groups, in order)
//   "state.<i>.<buffer>"      the parameter's shape and dtype: "exp_avg", "exp_avg_sq" / "momentum_buffer"
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace memgrad::optim {

// Parameters sharing a learning rate and weight decay (e.g. no decay for biases and norms).
// NaN, the default, takes the optimizer's option.
struct ParamGroup {
  std::vector<Tensor> params;
  double lr = std::numeric_limits<double>::quiet_NaN();
  double weight_decay = std::numeric_limits<double>::quiet_NaN();
};

// What one parameter carries between steps: the steps it took (those where it had a gradient)
// and its buffers, allocated on its first step.
struct ParamState {
  int64_t step = 0;
  std::map<std::string, Tensor> buffers;
};

using StateDict = std::map<std::string, Tensor>;

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  const std::string& name() const { return name_; }

  // Updates every parameter that has a gradient; parameters whose grad() is undefined are skipped.
  void step();
  // Drops every parameter's gradient (undefined, as PyTorch's set_to_none).
  void zero_grad();

  double lr() const { return groups_.front().lr; }  // the first group's
  void set_lr(double lr);                             // every group's (schedules call this each step)

  // Groups may be edited in place (lr, weight_decay); step() validates them again. Adding or
  // removing parameters goes through add_param_group, which keeps state indices stable.
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  void add_param_group(ParamGroup group);

  int64_t step_count() const { return step_count_; }
  size_t num_params() const { return state_.size(); }
  const ParamState& state(size_t param_index) const;

  // The state as described above. Tensors are shared with the optimizer, not copied.
  StateDict state_dict() const;
  // Throws memgrad::Error naming the optimizer and the key when `state` does not fit this optimizer
  // (names, counts, shapes, dtypes, hyper-parameter ranges); changes nothing.
  void validate_state_dict(const StateDict& state) const;
  // Validates everything first, then replaces hyper-parameters, step counts and buffers (copied
  // to each parameter's device). On error the optimizer is unchanged.
  void load_state_dict(const StateDict& state);

 protected:
  using Hyper = std::map<std::string, double>;  // optimizer-wide hyper-parameters by name

  Optimizer(std::string name, std::vector<ParamGroup> groups, double lr, double weight_decay);

  virtual Hyper hyper() const = 0;
  virtual void set_hyper(const Hyper& h) = 0;
  // Throws naming the optimizer when a value is out of range (h has every name hyper() has).
  virtual void check_hyper(const Hyper& h) const = 0;
  // The buffers each parameter carries under these hyper-parameters (allocated as zeros).
  virtual std::vector<std::string> buffer_names(const Hyper& h) const = 0;
  // One parameter's update; s.step already counts this step.
  virtual void update(const ParamGroup& group, Tensor& param, const Tensor& grad, ParamState& s) = 0;

  // Common checks for subclasses' check_hyper.
  void check_range(const char* what, double v, double lo, double hi, bool hi_open) const;

 private:
  // nan_is_default: NaN lr / weight_decay mean "the optimizer's option" (only when groups come in).
  void check_group(const ParamGroup& g, size_t index, bool nan_is_default) const;
  void check_groups() const;

  std::string name_;
  std::vector<ParamGroup> groups_;
  std::vector<ParamState> state_;  // one per parameter, numbered across groups
  int64_t step_count_ = 0;
  double default_lr_, default_wd_;  // for groups added later
};

struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, const SGDOptions& opts = {});
  SGD(std::vector<ParamGroup> groups, const SGDOptions& opts = {});
  const SGDOptions& options() const { return opts_; }  // lr, weight_decay: defaults; the groups hold the live ones

 protected:
  Hyper hyper() const override;
  void set_hyper(const Hyper& h) override;
  void check_hyper(const Hyper& h) const override;
  std::vector<std::string> buffer_names(const Hyper& h) const override;
  void update(const ParamGroup& group, Tensor& param, const Tensor& grad, ParamState& s) override;

 private:
  SGDOptions opts_;  // lr and weight_decay live in the groups
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;  // L2: added to the gradient
};

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;  // decoupled: param *= 1 - lr * weight_decay
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, const AdamOptions& opts = {});
  Adam(std::vector<ParamGroup> groups, const AdamOptions& opts = {});
  const AdamOptions& options() const { return opts_; }  // lr, weight_decay: as for SGD
  bool decoupled() const { return decoupled_; }

 protected:
  Adam(const char* name, std::vector<ParamGroup> groups, const AdamOptions& opts, bool decoupled);
  Hyper hyper() const override;
  void set_hyper(const Hyper& h) override;
  void check_hyper(const Hyper& h) const override;
  std::vector<std::string> buffer_names(const Hyper& h) const override;
  void update(const ParamGroup& group, Tensor& param, const Tensor& grad, ParamState& s) override;

 private:
  AdamOptions opts_;
  bool decoupled_;
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, const AdamWOptions& opts = {});
  AdamW(std::vector<ParamGroup> groups, const AdamWOptions& opts = {});
};

}  // namespace memgrad::optim
