// Optimizers against PyTorch's update formulas written as plain loops (float64), state dicts,
// gradient clipping and learning-rate schedules.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>

#include "autograd/ops.h"
#include "nn/optim/clip.h"
#include "nn/optim/optimizer.h"
#include "nn/optim/schedule.h"

using namespace memgrad;
using namespace memgrad::optim;
using Vec = std::vector<double>;

#define CHECK_ERROR(expr, text) CHECK_THROWS_WITH_AS(expr, doctest::Contains(text), Error)

namespace {

// Deterministic test data: element i of step k's gradient.
Vec grad_at(size_t n, int k) {
  Vec g(n);
  for (size_t i = 0; i < n; ++i) g[i] = std::sin(1.3 * static_cast<double>(i) + 0.7 * k) + 0.1 * k;
  return g;
}
const Vec kInit = {0.5, -1.25, 2.0, 0.0, -0.3, 1.1};

Tensor param(const Vec& v, DType dt = DType::float64) {
  Tensor p = to(from_vector<double>(v, {2, 3}), dt);
  p.set_requires_grad(true);
  return p;
}
void set_grad(Tensor& p, const Vec& g) { p.set_grad(to(from_vector<double>(g, {2, 3}), p.dtype())); }
Vec values(const Tensor& t) { return to(t, DType::float64).to_vector<double>(); }

void check_close(const Vec& a, const Vec& b, double rtol) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(std::abs(a[i] - b[i]) <= rtol * (1 + std::abs(b[i])));
}

// torch.optim.SGD, one parameter.
struct SgdRef {
  SGDOptions o;
  Vec buf;
  void step(Vec& p, const Vec& g) {
    const bool first = buf.empty();
    buf.resize(p.size());
    for (size_t i = 0; i < p.size(); ++i) {
      double d = g[i] + o.weight_decay * p[i];
      if (o.momentum != 0) {
        buf[i] = first ? d : o.momentum * buf[i] + (1 - o.dampening) * d;  // first step: buf = d
        d = o.nesterov ? d + o.momentum * buf[i] : buf[i];
      }
      p[i] -= o.lr * d;
    }
  }
};

// torch.optim.Adam / AdamW, one parameter.
struct AdamRef {
  AdamOptions o;
  bool decoupled;
  Vec m, v;
  int t = 0;
  void step(Vec& p, const Vec& g_in) {
    if (m.empty()) m.assign(p.size(), 0), v.assign(p.size(), 0);
    ++t;
    for (size_t i = 0; i < p.size(); ++i) {
      double g = g_in[i];
      if (decoupled) p[i] *= 1 - o.lr * o.weight_decay;
      else g += o.weight_decay * p[i];
      m[i] = o.beta1 * m[i] + (1 - o.beta1) * g;
      v[i] = o.beta2 * v[i] + (1 - o.beta2) * g * g;
      double mhat_scale = o.lr / (1 - std::pow(o.beta1, t));
      double denom = std::sqrt(v[i]) / std::sqrt(1 - std::pow(o.beta2, t)) + o.eps;
      p[i] -= mhat_scale * m[i] / denom;
    }
  }
};

// Runs `opt` and `ref` side by side for `steps` steps and compares the parameter after each.
template <class Ref>
void run_against(Optimizer& opt, Tensor& p, Ref& ref, int steps, double rtol) {
  Vec rp = kInit;
  for (int k = 0; k < steps; ++k) {
    Vec g = grad_at(rp.size(), k);
    set_grad(p, g);
    opt.step();
    ref.step(rp, g);
    check_close(values(p), rp, rtol);
  }
}

}  // namespace

TEST_CASE("SGD variants follow torch.optim.SGD") {
  const SGDOptions variants[] = {
      {.lr = 0.1},
      {.lr = 0.1, .weight_decay = 0.05},
      {.lr = 0.05, .momentum = 0.9},
      {.lr = 0.05, .momentum = 0.9, .dampening = 0.3, .weight_decay = 0.01},
      {.lr = 0.05, .momentum = 0.8, .weight_decay = 0.02, .nesterov = true},
  };
  for (const auto& o : variants) {
    for (DType dt : {DType::float64, DType::float32}) {
      CAPTURE(o.momentum);
      CAPTURE(o.nesterov);
      Tensor p = param(kInit, dt);
      SGD opt({p}, o);
      SgdRef ref{o, {}};
      run_against(opt, p, ref, 4, dt == DType::float64 ? 1e-14 : 1e-6);
      CHECK(opt.step_count() == 4);
      CHECK(opt.state(0).step == 4);
      CHECK(opt.state(0).buffers.count("momentum_buffer") == (o.momentum != 0 ? 1u : 0u));
    }
  }
}

TEST_CASE("Adam and AdamW follow torch.optim.Adam / AdamW, bias correction included") {
  for (double wd : {0.0, 0.1}) {
    for (DType dt : {DType::float64, DType::float32}) {
      CAPTURE(wd);
      const double rtol = dt == DType::float64 ? 1e-13 : 2e-6;
      Tensor p = param(kInit, dt);
      AdamOptions o{.lr = 0.01, .beta1 = 0.8, .beta2 = 0.95, .eps = 1e-6, .weight_decay = wd};
      Adam adam({p}, o);
      AdamRef ref{o, false};
      run_against(adam, p, ref, 5, rtol);

      Tensor q = param(kInit, dt);
      AdamW adamw({q}, {.lr = 0.01, .beta1 = 0.8, .beta2 = 0.95, .eps = 1e-6, .weight_decay = wd});
      AdamRef refw{o, true};
      run_against(adamw, q, refw, 5, rtol);
    }
  }
  // AdamW's default decay is 0.01 and differs from Adam's L2 decay
  Tensor a = param(kInit), b = param(kInit);
  Adam adam({a}, {.weight_decay = 0.01});
  AdamW adamw({b});
  CHECK(adamw.param_groups()[0].weight_decay == 0.01);
  set_grad(a, grad_at(6, 0));
  set_grad(b, grad_at(6, 0));
  adam.step();
  adamw.step();
  CHECK(values(a) != values(b));
}

TEST_CASE("parameters without a gradient are skipped and keep their own step count") {
  Tensor p = param(kInit), q = param(kInit);
  AdamOptions o{.lr = 0.1};
  Adam opt({p, q}, o);
  AdamRef rp{o, false}, rq{o, false};
  Vec vp = kInit, vq = kInit;
  set_grad(p, grad_at(6, 0));
  opt.step();  // q has no gradient
  rp.step(vp, grad_at(6, 0));
  CHECK(values(q) == kInit);
  CHECK(opt.state(1).step == 0);
  opt.zero_grad();
  CHECK(!p.grad().defined());
  set_grad(q, grad_at(6, 1));
  opt.step();  // now only q: its first step, bias-corrected as such
  rq.step(vq, grad_at(6, 1));
  check_close(values(p), vp, 1e-14);
  check_close(values(q), vq, 1e-14);
  CHECK(opt.state(0).step == 1);
  CHECK(opt.state(1).step == 1);
  CHECK(opt.step_count() == 2);
}

TEST_CASE("training a parameter through backward reduces the loss") {
  Tensor w = param(kInit);
  SGD opt({w}, {.lr = 0.1, .momentum = 0.5});
  auto loss = [&] { return sum(w * w); };
  double before = loss().item<double>();
  for (int i = 0; i < 5; ++i) {
    opt.zero_grad();
    loss().backward();
    opt.step();
  }
  CHECK(loss().item<double>() < 0.2 * before);
}

TEST_CASE("parameter groups have their own lr and weight decay") {
  Tensor a = param(kInit), b = param(kInit);
  SGD opt(std::vector<ParamGroup>{{.params = {a}}, {.params = {b}, .lr = 0.5, .weight_decay = 0.1}}, {.lr = 0.1});
  REQUIRE(opt.param_groups().size() == 2);
  CHECK(opt.param_groups()[0].lr == 0.1);
  CHECK(opt.param_groups()[0].weight_decay == 0);
  CHECK(opt.param_groups()[1].lr == 0.5);
  set_grad(a, Vec(6, 1.0));
  set_grad(b, Vec(6, 1.0));
  opt.step();
  CHECK(values(a)[0] == doctest::Approx(0.5 - 0.1));
  CHECK(values(b)[0] == doctest::Approx(0.5 - 0.5 * (1 + 0.1 * 0.5)));
  opt.set_lr(0.01);
  CHECK(opt.lr() == 0.01);
  CHECK(opt.param_groups()[1].lr == 0.01);
  Tensor c = param(kInit);
  opt.add_param_group({.params = {c}, .lr = 1.0});
  CHECK(opt.num_params() == 3);
  CHECK_ERROR(opt.add_param_group({.params = {a}}), "[SGD] a parameter (shape [2, 3]) appears twice");
  CHECK(opt.num_params() == 3);
  opt.param_groups()[2].lr = -1;
  CHECK_ERROR(opt.step(), "[SGD] lr (group 2) must be a finite number >= 0, got -1");
  opt.param_groups()[2].lr = std::nan("");  // NaN means "the default" only when a group comes in
  CHECK_ERROR(opt.step(), "[SGD] lr (group 2) must be a finite number >= 0, got nan");
}

TEST_CASE("bad hyper-parameters name the optimizer") {
  Tensor p = param(kInit);
  CHECK_ERROR(Adam({p}, {.beta1 = 1.5}), "[Adam] beta1 must be in [0, 1), got 1.5");
  CHECK_ERROR(AdamW({p}, {.beta2 = 1.0}), "[AdamW] beta2 must be in [0, 1), got 1");
  CHECK_ERROR(Adam({p}, {.eps = 0}), "[Adam] eps must be a finite number > 0, got 0");
  CHECK_ERROR(Adam({p}, {.lr = -1e-3}), "[Adam] lr must be a finite number >= 0, got -0.001");
  CHECK_ERROR(AdamW({p}, {.weight_decay = -1}), "[AdamW] weight_decay must be a finite number >= 0");
  CHECK_ERROR(SGD({p}, {.momentum = -0.1}), "[SGD] momentum must be a finite number >= 0, got -0.1");
  CHECK_ERROR(SGD({p}, {.nesterov = true}), "[SGD] nesterov needs momentum > 0 and dampening 0");
  CHECK_ERROR(SGD({p}, {.momentum = 0.9, .dampening = 0.1, .nesterov = true}), "[SGD] nesterov needs");
  CHECK_ERROR(SGD(std::vector<Tensor>{}), "[SGD] parameter group 0 is empty");
  CHECK_ERROR(SGD({p, p}), "[SGD] a parameter (shape [2, 3]) appears twice");
  CHECK_ERROR(SGD({zeros({2}, DType::int64)}), "[SGD] parameter 0 of group 0 is int64, not a float tensor");
  CHECK_ERROR(SGD({transpose(zeros({2, 3}), 0, 1)}), "[SGD] parameter 0 of group 0 (shape [3, 2]) must be contiguous");
  SGD opt({p});
  CHECK_ERROR(opt.set_lr(std::nan("")), "[SGD] lr must be a finite number >= 0, got nan");
}

TEST_CASE("an optimizer's state dict round trip gives bitwise identical next steps") {
  for (int kind = 0; kind < 3; ++kind) {
    CAPTURE(kind);
    auto make = [&](Tensor p, Tensor q) -> std::unique_ptr<Optimizer> {
      if (kind == 0) return std::make_unique<SGD>(std::vector<Tensor>{p, q}, SGDOptions{.lr = 0.1, .momentum = 0.9});
      if (kind == 1) return std::make_unique<Adam>(std::vector<Tensor>{p, q}, AdamOptions{.lr = 0.01});
      return std::make_unique<AdamW>(std::vector<Tensor>{p, q}, AdamWOptions{.lr = 0.01, .beta2 = 0.99});
    };
    Tensor p1 = param(kInit, DType::float32), q1 = param(kInit, DType::float32);
    auto a = make(p1, q1);
    for (int k = 0; k < 3; ++k) {
      set_grad(p1, grad_at(6, k));
      if (k != 1) set_grad(q1, grad_at(6, k + 5));  // q1 misses step 1: per-parameter steps differ
      else q1.set_grad(Tensor());
      a->step();
    }
    StateDict sd = a->state_dict();
    CHECK(sd.at("step").dtype() == DType::int64);
    CHECK(sd.at("step").item<int64_t>() == 3);
    CHECK(sd.at("state.1.step").item<int64_t>() == 2);
    CHECK(sd.at("group.0.lr").dtype() == DType::float64);
    Tensor p2 = clone(detach(p1)), q2 = clone(detach(q1));
    auto b = make(p2, q2);
    b->set_lr(123.0);  // overwritten by the load
    b->load_state_dict(sd);
    CHECK(b->lr() == a->lr());
    for (int k = 3; k < 5; ++k) {
      for (Tensor* t : {&p1, &p2}) set_grad(*t, grad_at(6, k));
      for (Tensor* t : {&q1, &q2}) set_grad(*t, grad_at(6, 2 * k));
      a->step();
      b->step();
      CHECK(p1.to_vector<float>() == p2.to_vector<float>());
      CHECK(q1.to_vector<float>() == q2.to_vector<float>());
    }
  }
}

TEST_CASE("loading a bad optimizer state dict throws and changes nothing") {
  Tensor p = param(kInit);
  Adam opt({p}, {.lr = 0.01});
  set_grad(p, grad_at(6, 0));
  opt.step();
  const StateDict good = opt.state_dict();
  const Vec m_before = values(good.at("state.0.exp_avg"));
  auto with = [&](const std::string& key, Tensor t) {
    StateDict sd = good;
    if (t.defined()) sd[key] = t;
    else sd.erase(key);
    return sd;
  };
  CHECK_ERROR(opt.load_state_dict(with("state.0.exp_avg", zeros({3, 2}, DType::float64))),
              "[Adam] 'state.0.exp_avg' has shape [3, 2] float64 but parameter 0 is [2, 3] float64");
  CHECK_ERROR(opt.load_state_dict(with("state.0.exp_avg_sq", zeros({2, 3}))), "'state.0.exp_avg_sq' has shape");
  CHECK_ERROR(opt.load_state_dict(with("beta1", scalar(2.0, DType::float64))), "[Adam] beta1 must be in [0, 1)");
  CHECK_ERROR(opt.load_state_dict(with("group.0.lr", scalar(0.1))), "'group.0.lr' must be a 0-d float64 tensor");
  CHECK_ERROR(opt.load_state_dict(with("group.0.lr", scalar(NAN, DType::float64))), "[Adam] lr must be a finite");
  CHECK_ERROR(opt.load_state_dict(with("step", Tensor())), "[Adam] state dict has no 'step'");
  CHECK_ERROR(opt.load_state_dict(with("state.7.exp_avg", zeros({2, 3}, DType::float64))),
              "unexpected key 'state.7.exp_avg'");
  CHECK_ERROR(opt.load_state_dict(with("group.0.params", full({}, 2, DType::int64))),
              "group 0 has 2 parameters in the state dict but 1 in the optimizer");
  AdamW other({param(kInit)});
  CHECK_ERROR(other.load_state_dict(good), "[AdamW] the state is from Adam");
  SGD sgd({param(kInit)}, {.momentum = 0.9});
  CHECK_ERROR(sgd.load_state_dict(good), "[SGD] state dict has no 'dampening'");
  // nothing changed
  CHECK(opt.lr() == 0.01);
  CHECK(opt.step_count() == 1);
  CHECK(values(opt.state_dict().at("state.0.exp_avg")) == m_before);
  CHECK(opt.state_dict().at("beta1").item<double>() == 0.9);
}

TEST_CASE("clip_grad_norm clips by the global norm") {
  Tensor a = zeros({2}), b = zeros({1}, DType::float64), c = zeros({3});  // c has no gradient
  a.set_requires_grad(true), b.set_requires_grad(true), c.set_requires_grad(true);
  a.set_grad(from_vector<float>({3, 4}));
  b.set_grad(from_vector<double>({12}));
  Tensor a_grad = a.grad();
  CHECK(clip_grad_norm({a, b, c}, 100) == doctest::Approx(13));  // below: unchanged
  CHECK(a.grad().to_vector<float>() == std::vector<float>{3, 4});
  CHECK(clip_grad_norm({a, b, c}, 6.5) == doctest::Approx(13));
  const double coef = 6.5 / (13 + 1e-6);
  CHECK(a_grad.to_vector<float>()[1] == doctest::Approx(4 * coef));  // in place
  CHECK(b.grad().item<double>() == doctest::Approx(12 * coef).epsilon(1e-12));
  CHECK(grad_norm({a, b, c}) == doctest::Approx(6.5).epsilon(1e-6));
  CHECK(clip_grad_norm({c}, 1) == 0);
  // float32 squares past 1.8e19 would overflow; the sum is in float64
  a.set_grad(from_vector<float>({3e20f, 4e20f}));
  CHECK(grad_norm({a}) == doctest::Approx(5e20));
  a.set_grad(from_vector<float>({1, std::nanf("")}));
  CHECK_ERROR(clip_grad_norm({a, b}, 1.0), "[clip_grad_norm] gradient norm is not finite");
  CHECK(b.grad().item<double>() == doctest::Approx(12 * coef).epsilon(1e-12));  // untouched
  a.set_grad(from_vector<float>({1, INFINITY}));
  CHECK_ERROR(clip_grad_norm({a}, 1.0), "[clip_grad_norm] gradient norm is not finite");
  CHECK_ERROR(clip_grad_norm({b}, 0), "[clip_grad_norm] max_norm must be a finite number > 0, got 0");
}

TEST_CASE("learning-rate schedules") {
  WarmupCosine cos(1.0, 10, 110, 0.1);
  CHECK(cos(0) == doctest::Approx(0.1));  // (0 + 1) / 10
  CHECK(cos(4) == doctest::Approx(0.5));
  CHECK(cos(9) == doctest::Approx(1.0));
  CHECK(cos(10) == doctest::Approx(1.0));
  CHECK(cos(60) == doctest::Approx(0.55));  // halfway down: min + (base - min) / 2
  CHECK(cos(35) == doctest::Approx(0.1 + 0.45 * (1 + std::cos(M_PI * 0.25))));
  CHECK(cos(110) == doctest::Approx(0.1));
  CHECK(cos(1000) == doctest::Approx(0.1));
  for (int s = 10; s < 110; ++s) CHECK(cos(s + 1) <= cos(s));
  CHECK(WarmupCosine(2.0, 0, 4)(0) == doctest::Approx(2.0));
  CHECK(WarmupCosine(2.0, 0, 4)(2) == doctest::Approx(1.0));

  WarmupRsqrt rs(1.0, 100);
  CHECK(rs(0) == doctest::Approx(0.01));
  CHECK(rs(99) == doctest::Approx(1.0));
  CHECK(rs(399) == doctest::Approx(0.5));  // sqrt(100 / 400)
  CHECK(rs(9999) == doctest::Approx(0.1));

  Constant c(0.3), cw(0.3, 3);
  CHECK(c(0) == 0.3);
  CHECK(c(12345) == 0.3);
  CHECK(cw(0) == doctest::Approx(0.1));
  CHECK(cw(2) == doctest::Approx(0.3));
  CHECK(cw(50) == 0.3);

  Schedule s = WarmupCosine(1e-3, 2, 10);
  Tensor p = param(kInit);
  SGD opt({p});
  for (int i = 0; i < 3; ++i) {
    opt.set_lr(s(opt.step_count()));
    set_grad(p, grad_at(6, i));
    opt.step();
  }
  CHECK(opt.lr() == doctest::Approx(s(2)));

  CHECK_ERROR(WarmupCosine(1.0, 10, 5), "[WarmupCosine] total_steps must be >= 1 and >= warmup_steps (10), got 5");
  CHECK_ERROR(WarmupCosine(1.0, 0, 5, 2.0), "[WarmupCosine] min_lr (2) must not exceed base_lr (1)");
  CHECK_ERROR(WarmupCosine(-1.0, 0, 5), "[WarmupCosine] base_lr must be a finite number >= 0, got -1");
  CHECK_ERROR(WarmupRsqrt(1.0, 0), "[WarmupRsqrt] warmup_steps must be >= 1, got 0");
  CHECK_ERROR(Constant(1.0, -1), "[Constant] warmup_steps must be >= 0, got -1");
  CHECK_ERROR(cos(-1), "[WarmupCosine] step must be >= 0, got -1");
}
