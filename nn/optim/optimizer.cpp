// The optimizer base: parameter groups, the step loop, per-parameter state and state dicts.
#include "nn/optim/optimizer.h"

#include "core/memory_trace.h"
#include "core/phase.h"

#include <cmath>
#include <set>

#include "autograd/ops.h"

namespace memgrad::optim {

namespace {

Tensor f64(double v) { return scalar(v, DType::float64); }
Tensor i64(int64_t v) { return full({}, static_cast<double>(v), DType::int64); }

// "state.12.exp_avg" -> (12, "exp_avg"); false when `key` is not of that form.
bool parse_indexed(const std::string& key, const std::string& prefix, size_t& index, std::string& rest) {
  if (key.rfind(prefix, 0) != 0) return false;
  size_t dot = key.find('.', prefix.size());
  if (dot == std::string::npos || dot == prefix.size() || dot - prefix.size() > 9) return false;
  index = 0;
  for (size_t i = prefix.size(); i < dot; ++i) {
    if (key[i] < '0' || key[i] > '9') return false;
    index = index * 10 + static_cast<size_t>(key[i] - '0');
  }
  rest = key.substr(dot + 1);
  return !rest.empty();
}

// Gives tensors' blocks their memory-trace category (core/memory_trace.h).
void set_category(const std::vector<Tensor>& ts, memory::Category c) {
  for (const Tensor& t : ts)
    if (t.defined() && t.storage()) t.storage()->set_category(c);
}

}  // namespace

Optimizer::Optimizer(std::string name, std::vector<ParamGroup> groups, double lr, double weight_decay)
    : name_(std::move(name)), default_lr_(lr), default_wd_(weight_decay) {
  MG_CHECK(!groups.empty(), name_.c_str(), "got no parameter groups");
  for (size_t g = 0; g < groups.size(); ++g) check_group(groups[g], g, true);
  for (auto& g : groups) {
    if (std::isnan(g.lr)) g.lr = lr;
    if (std::isnan(g.weight_decay)) g.weight_decay = weight_decay;
    state_.resize(state_.size() + g.params.size());
  }
  groups_ = std::move(groups);
  check_groups();
  for (const auto& g : groups_) set_category(g.params, memory::Category::parameter);
}

void Optimizer::check_range(const char* what, double v, double lo, double hi, bool hi_open) const {
  bool ok = v >= lo && (hi_open ? v < hi : v <= hi);
  if (hi == std::numeric_limits<double>::infinity()) ok = ok && std::isfinite(v);
  if (ok) return;
  if (hi == std::numeric_limits<double>::infinity()) fail(name_.c_str(), "{} must be a finite number >= {}, got {}", what, lo, v);
  fail(name_.c_str(), "{} must be in [{}, {}{}, got {}", what, lo, hi, hi_open ? ")" : "]", v);
}

void Optimizer::check_group(const ParamGroup& g, size_t index, bool nan_is_default) const {
  const double inf = std::numeric_limits<double>::infinity();
  const bool dl = nan_is_default && std::isnan(g.lr), dw = nan_is_default && std::isnan(g.weight_decay);
  const double lr = dl ? default_lr_ : g.lr, wd = dw ? default_wd_ : g.weight_decay;
  const std::string in_group = index > 0 ? fmt::format(" (group {})", index) : "";
  check_range(("lr" + in_group).c_str(), lr, 0, inf, false);
  check_range(("weight_decay" + in_group).c_str(), wd, 0, inf, false);
  MG_CHECK(!g.params.empty(), name_.c_str(), "parameter group {} is empty", index);
  for (size_t i = 0; i < g.params.size(); ++i) {
    const Tensor& p = g.params[i];
    MG_CHECK(p.defined(), name_.c_str(), "parameter {} of group {} is undefined", i, index);
    MG_CHECK(is_floating(p.dtype()), name_.c_str(), "parameter {} of group {} is {}, not a float tensor", i, index,
             to_string(p.dtype()));
    MG_CHECK(p.is_contiguous(), name_.c_str(), "parameter {} of group {} (shape {}) must be contiguous", i, index,
             str(p.shape()));
  }
}

void Optimizer::check_groups() const {
  std::set<const TensorImpl*> seen;
  size_t n = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    check_group(groups_[g], g, false);
    for (const Tensor& p : groups_[g].params)
      MG_CHECK(seen.insert(p.impl()).second, name_.c_str(), "a parameter (shape {}) appears twice in the groups",
               str(p.shape()));
    n += groups_[g].params.size();
  }
  MG_CHECK(n == state_.size(), name_.c_str(),
           "the groups hold {} parameters but the optimizer was built with {}; use add_param_group", n, state_.size());
}

void Optimizer::add_param_group(ParamGroup group) {
  check_group(group, groups_.size(), true);
  if (std::isnan(group.lr)) group.lr = default_lr_;
  if (std::isnan(group.weight_decay)) group.weight_decay = default_wd_;
  size_t added = group.params.size();
  groups_.push_back(std::move(group));
  state_.resize(state_.size() + added);
  try {
    check_groups();  // duplicates
  } catch (...) {
    groups_.pop_back();
    state_.resize(state_.size() - added);
    throw;
  }
  set_category(groups_.back().params, memory::Category::parameter);
}

const ParamState& Optimizer::state(size_t param_index) const {
  MG_CHECK(param_index < state_.size(), name_.c_str(), "parameter index {} out of range for {} parameters",
           param_index, state_.size());
  return state_[param_index];
}

void Optimizer::set_lr(double lr) {
  check_range("lr", lr, 0, std::numeric_limits<double>::infinity(), false);
  for (auto& g : groups_) g.lr = lr;
}

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g.params) p.set_grad(Tensor());
}

void Optimizer::step() {
  check_groups();
  NoGradGuard no_grad;
  PhaseScope phase("optimizer");                // core/phase.h: the profiler and the memory trace
  memory::OpScope op("", name_ + ".step");      // core/memory_trace.h
  const auto names = buffer_names(hyper());
  size_t index = 0;
  for (auto& g : groups_) {
    for (auto& p : g.params) {
      ParamState& s = state_[index++];
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      MG_CHECK(grad.device() == p.device(), name_.c_str(), "gradient of parameter {} is on {} but the parameter on {}",
               index - 1, grad.device().str(), p.device().str());
      for (const auto& n : names)
        if (!s.buffers.count(n)) {
          s.buffers[n] = zeros_like(p);
          set_category({s.buffers[n]}, memory::Category::optimizer_state);
        }
      ++s.step;
      try {
        update(g, p, grad, s);
      } catch (...) {
        --s.step;
        throw;
      }
    }
  }
  ++step_count_;
}

StateDict Optimizer::state_dict() const {
  StateDict out;
  out["step"] = i64(step_count_);
  for (size_t g = 0; g < groups_.size(); ++g) {
    out[fmt::format("group.{}.lr", g)] = f64(groups_[g].lr);
    out[fmt::format("group.{}.weight_decay", g)] = f64(groups_[g].weight_decay);
    out[fmt::format("group.{}.params", g)] = i64(static_cast<int64_t>(groups_[g].params.size()));
  }
  for (const auto& [k, v] : hyper()) out[k] = f64(v);
  for (size_t i = 0; i < state_.size(); ++i) {
    if (state_[i].step == 0) continue;
    out[fmt::format("state.{}.step", i)] = i64(state_[i].step);
    for (const auto& [n, t] : state_[i].buffers) out[fmt::format("state.{}.{}", i, n)] = t;
  }
  return out;
}

namespace {

// The value of a 0-d tensor of the given dtype; errors name the optimizer and the key.
double scalar_value(const char* opt, const StateDict& sd, const std::string& key, DType dtype) {
  auto it = sd.find(key);
  MG_CHECK(it != sd.end(), opt, "state dict has no '{}'", key);
  const Tensor& t = it->second;
  MG_CHECK(t.defined() && t.dim() == 0 && t.dtype() == dtype, opt, "'{}' must be a 0-d {} tensor, got {}", key,
           to_string(dtype), t.defined() ? to_string(t.dtype()) + " " + str(t.shape()) : "undefined");
  Tensor c = to(t, Device::cpu());
  return dtype == DType::int64 ? static_cast<double>(c.item<int64_t>()) : c.item<double>();
}

// The value of a 0-d int64 tensor, exactly (scalar_value's double rounds above 2^53).
int64_t int_value(const char* opt, const StateDict& sd, const std::string& key) {
  scalar_value(opt, sd, key, DType::int64);  // presence, dtype and shape
  return to(sd.at(key), Device::cpu()).item<int64_t>();
}

// Step counts above 2^53 are refused: no run reaches them, the bias corrections see them exactly
// as doubles, and counting on from them cannot overflow.
constexpr int64_t kMaxStep = int64_t{1} << 53;

}  // namespace

void Optimizer::validate_state_dict(const StateDict& sd) const {
  const char* op = name_.c_str();
  std::set<std::string> used;
  auto get = [&](const std::string& key, DType dtype) {
    used.insert(key);
    return scalar_value(op, sd, key, dtype);
  };
  get("step", DType::int64);
  const int64_t step = int_value(op, sd, "step");
  MG_CHECK(step >= 0 && step <= kMaxStep, op, "'step' must be in [0, 2^53], got {}", step);
  for (size_t g = 0; g < groups_.size(); ++g) {
    ParamGroup pg{groups_[g].params, get(fmt::format("group.{}.lr", g), DType::float64),
                  get(fmt::format("group.{}.weight_decay", g), DType::float64)};
    double count = get(fmt::format("group.{}.params", g), DType::int64);
    MG_CHECK(count == static_cast<double>(pg.params.size()), op,
             "group {} has {} parameters in the state dict but {} in the optimizer", g, count, pg.params.size());
    check_group(pg, g, false);
  }
  Hyper h = hyper();
  for (auto& [k, v] : h) v = get(k, DType::float64);
  check_hyper(h);
  const auto names = buffer_names(h);
  std::vector<const Tensor*> params;
  for (const auto& g : groups_)
    for (const auto& p : g.params) params.push_back(&p);
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string step_key = fmt::format("state.{}.step", i);
    if (!sd.count(step_key)) continue;
    get(step_key, DType::int64);
    const int64_t param_step = int_value(op, sd, step_key);
    MG_CHECK(param_step >= 1 && param_step <= kMaxStep, op, "'{}' must be in [1, 2^53], got {}", step_key, param_step);
    for (const auto& n : names) {
      const std::string key = fmt::format("state.{}.{}", i, n);
      auto it = sd.find(key);
      MG_CHECK(it != sd.end(), op, "state dict has '{}' but no '{}'", step_key, key);
      const Tensor& t = it->second;
      MG_CHECK(t.defined() && t.shape() == params[i]->shape() && t.dtype() == params[i]->dtype(), op,
               "'{}' has shape {} {} but parameter {} is {} {}", key, t.defined() ? str(t.shape()) : "undefined",
               t.defined() ? to_string(t.dtype()) : "", i, str(params[i]->shape()), to_string(params[i]->dtype()));
      used.insert(key);
    }
  }
  for (const auto& [k, t] : sd) {
    if (used.count(k)) continue;
    size_t i = 0;
    std::string rest;
    if (parse_indexed(k, "state.", i, rest) && i < params.size() && !sd.count(fmt::format("state.{}.step", i)))
      fail(op, "state dict has '{}' but no 'state.{}.step'", k, i);
    fail(op, "unexpected key '{}' in the state dict (not a {} state with {} parameters in {} groups)", k, name_,
         params.size(), groups_.size());
  }
}

void Optimizer::load_state_dict(const StateDict& sd) {
  validate_state_dict(sd);
  NoGradGuard no_grad;
  // copy the buffers first: allocation is the one thing that can still fail
  std::vector<ParamState> state(state_.size());
  Hyper h = hyper();
  for (auto& [k, v] : h) v = scalar_value(name_.c_str(), sd, k, DType::float64);
  const auto names = buffer_names(h);
  size_t i = 0;
  for (const auto& g : groups_) {
    for (const auto& p : g.params) {
      auto it = sd.find(fmt::format("state.{}.step", i));
      if (it != sd.end()) {
        state[i].step = int_value(name_.c_str(), sd, it->first);
        for (const auto& n : names) {
          state[i].buffers[n] = clone(to(detach(sd.at(fmt::format("state.{}.{}", i, n))), p.device()));
          set_category({state[i].buffers[n]}, memory::Category::optimizer_state);
        }
      }
      ++i;
    }
  }
  step_count_ = int_value(name_.c_str(), sd, "step");
  for (size_t g = 0; g < groups_.size(); ++g) {
    groups_[g].lr = scalar_value(name_.c_str(), sd, fmt::format("group.{}.lr", g), DType::float64);
    groups_[g].weight_decay = scalar_value(name_.c_str(), sd, fmt::format("group.{}.weight_decay", g), DType::float64);
  }
  set_hyper(h);
  state_ = std::move(state);
}

}  // namespace memgrad::optim
