// Adam (L2 weight decay in the gradient, torch.optim.Adam) and AdamW (decoupled weight decay).
#include <cmath>

#include "autograd/ops.h"
#include "nn/optim/optimizer.h"

namespace memgrad::optim {

namespace {
std::vector<ParamGroup> one_group(std::vector<Tensor> params) { return {ParamGroup{std::move(params)}}; }
AdamOptions as_adam(const AdamWOptions& o) { return {o.lr, o.beta1, o.beta2, o.eps, o.weight_decay}; }
}  // namespace

Adam::Adam(std::vector<Tensor> params, const AdamOptions& opts) : Adam("Adam", one_group(std::move(params)), opts, false) {}
Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& opts) : Adam("Adam", std::move(groups), opts, false) {}

Adam::Adam(const char* name, std::vector<ParamGroup> groups, const AdamOptions& opts, bool decoupled)
    : Optimizer(name, std::move(groups), opts.lr, opts.weight_decay), opts_(opts), decoupled_(decoupled) {
  check_hyper(hyper());
}

AdamW::AdamW(std::vector<Tensor> params, const AdamWOptions& opts)
    : Adam("AdamW", one_group(std::move(params)), as_adam(opts), true) {}
AdamW::AdamW(std::vector<ParamGroup> groups, const AdamWOptions& opts)
    : Adam("AdamW", std::move(groups), as_adam(opts), true) {}

Optimizer::Hyper Adam::hyper() const {
  return {{"beta1", opts_.beta1}, {"beta2", opts_.beta2}, {"eps", opts_.eps}, {"decoupled", decoupled_ ? 1.0 : 0.0}};
}

void Adam::set_hyper(const Hyper& h) {
  opts_.beta1 = h.at("beta1");
  opts_.beta2 = h.at("beta2");
  opts_.eps = h.at("eps");
}

void Adam::check_hyper(const Hyper& h) const {
  check_range("beta1", h.at("beta1"), 0, 1, true);
  check_range("beta2", h.at("beta2"), 0, 1, true);
  const double eps = h.at("eps");
  MG_CHECK(eps > 0 && std::isfinite(eps), name().c_str(), "eps must be a finite number > 0, got {}", eps);
  // Adam and AdamW share their state layout: the flag keeps one from loading the other's state
  MG_CHECK(h.at("decoupled") == (decoupled_ ? 1.0 : 0.0), name().c_str(),
           "the state is from {} (decoupled = {}), this optimizer is {}", decoupled_ ? "Adam" : "AdamW",
           h.at("decoupled"), name());
}

std::vector<std::string> Adam::buffer_names(const Hyper&) const { return {"exp_avg", "exp_avg_sq"}; }

void Adam::update(const ParamGroup& group, Tensor& param, const Tensor& grad, ParamState& s) {
  Tensor& m = s.buffers.at("exp_avg");
  Tensor& v = s.buffers.at("exp_avg_sq");
  adam_step_(param, grad, m, v,
             AdamStep{.lr = group.lr, .beta1 = opts_.beta1, .beta2 = opts_.beta2, .eps = opts_.eps,
                      .weight_decay = group.weight_decay, .decoupled = decoupled_, .step = s.step});
}

}  // namespace memgrad::optim
