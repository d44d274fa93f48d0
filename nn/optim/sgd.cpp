// SGD with momentum, dampening, Nesterov momentum and L2 weight decay (torch.optim.SGD).
#include "autograd/ops.h"
#include "nn/optim/optimizer.h"

namespace memgrad::optim {

namespace {
std::vector<ParamGroup> one_group(std::vector<Tensor> params) { return {ParamGroup{std::move(params)}}; }
}  // namespace

SGD::SGD(std::vector<Tensor> params, const SGDOptions& opts) : SGD(one_group(std::move(params)), opts) {}

SGD::SGD(std::vector<ParamGroup> groups, const SGDOptions& opts)
    : Optimizer("SGD", std::move(groups), opts.lr, opts.weight_decay), opts_(opts) {
  check_hyper(hyper());
}

Optimizer::Hyper SGD::hyper() const {
  return {{"momentum", opts_.momentum}, {"dampening", opts_.dampening}, {"nesterov", opts_.nesterov ? 1.0 : 0.0}};
}

void SGD::set_hyper(const Hyper& h) {
  opts_.momentum = h.at("momentum");
  opts_.dampening = h.at("dampening");
  opts_.nesterov = h.at("nesterov") != 0;
}

void SGD::check_hyper(const Hyper& h) const {
  const double inf = std::numeric_limits<double>::infinity();
  check_range("momentum", h.at("momentum"), 0, inf, false);
  check_range("dampening", h.at("dampening"), 0, 1, false);
  const double nesterov = h.at("nesterov");
  MG_CHECK(nesterov == 0 || nesterov == 1, name().c_str(), "nesterov must be 0 or 1, got {}", nesterov);
  MG_CHECK(nesterov == 0 || (h.at("momentum") > 0 && h.at("dampening") == 0), name().c_str(),
           "nesterov needs momentum > 0 and dampening 0, got momentum {} and dampening {}", h.at("momentum"),
           h.at("dampening"));
}

std::vector<std::string> SGD::buffer_names(const Hyper& h) const {
  if (h.at("momentum") == 0) return {};
  return {"momentum_buffer"};
}

void SGD::update(const ParamGroup& group, Tensor& param, const Tensor& grad, ParamState& s) {
  Tensor none;
  Tensor& buf = opts_.momentum != 0 ? s.buffers.at("momentum_buffer") : none;
  sgd_step_(param, grad, buf,
            SgdStep{.lr = group.lr, .momentum = opts_.momentum, .dampening = opts_.dampening,
                    .weight_decay = group.weight_decay, .nesterov = opts_.nesterov, .first_step = s.step == 1});
}

}  // namespace memgrad::optim
