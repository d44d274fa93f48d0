// Trains a 2-layer MLP on a generated 2-D spiral (3 interleaved arms, one per class) with
// memgrad's autograd: Linear layers written by hand (matmul + bias), GELU or tanh, cross-entropy,
// and plain SGD or a hand-written Adam step. Prints loss and accuracy as it goes, the final
// train/test accuracy, and the peak bytes one training step allocates (memory::PeakMeter).
//
//   fit_classifier [--epochs 60] [--hidden 64] [--lr 0.01] [--seed 0] [--optim adam|sgd] ...
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <vector>

#include "autograd/ops.h"

using namespace memgrad;

namespace {

constexpr int kClasses = 3;

struct Dataset {
  Tensor x;  // [N, 2] float32
  Tensor y;  // [N] int64, class ids
};

// `per_class` points on each of 3 spiral arms: radius r in [0, 1), angle 4r + 2πc/3 plus
// gaussian noise of std `noise` (in radians). Draws from `gen`, so a seed fixes the data.
Dataset make_spiral(int64_t per_class, double noise, Generator& gen) {
  const int64_t n = per_class * kClasses;
  std::vector<float> r = rand({n}, DType::float32, &gen).to_vector<float>();                  // [N]
  std::vector<float> eps = randn({n}, DType::float32, &gen, 0, noise).to_vector<float>();  // [N]
  std::vector<float> xy(2 * n);
  std::vector<int64_t> label(n);
  for (int64_t i = 0; i < n; ++i) {
    int64_t c = i % kClasses;
    double t = 4.0 * r[i] + 2.0 * M_PI * c / kClasses + eps[i];
    xy[2 * i] = static_cast<float>(r[i] * std::sin(t));
    xy[2 * i + 1] = static_cast<float>(r[i] * std::cos(t));
    label[i] = c;
  }
  return {from_vector<float>(xy, {n, 2}), from_vector<int64_t>(label, {n})};
}

// A fully connected layer y = x W + b, its parameters leaves that require gradients.
struct Linear {
  Tensor w;  // [in, out]
  Tensor b;  // [out]

  Linear(int64_t in, int64_t out, Generator& gen)
      : w(randn({in, out}, DType::float32, &gen, 0, std::sqrt(2.0 / in))), b(zeros({out})) {
    w.set_requires_grad();
    b.set_requires_grad();
  }
  Tensor operator()(const Tensor& x) const { return matmul(x, w) + b; }  // [N, in] -> [N, out]
};

struct Mlp {
  Linear fc1, fc2;
  bool use_tanh;

  Mlp(int64_t hidden, bool use_tanh, Generator& gen) : fc1(2, hidden, gen), fc2(hidden, kClasses, gen), use_tanh(use_tanh) {}
  Tensor operator()(const Tensor& x) const {  // x [N, 2]
    Tensor h = fc1(x);                         // [N, H]
    h = use_tanh ? tanh(h) : gelu(h);          // [N, H]
    return fc2(h);                             // [N, 3] logits
  }
  std::vector<Tensor> parameters() const { return {fc1.w, fc1.b, fc2.w, fc2.b}; }
};

// Plain SGD or Adam (Kingma & Ba), updating the parameters in place through data<float>().
class Optimizer {
 public:
  Optimizer(std::vector<Tensor> params, bool adam, double lr) : params_(std::move(params)), adam_(adam), lr_(lr) {
    for (const Tensor& p : params_) {
      m_.emplace_back(p.numel(), 0.0f);
      v_.emplace_back(p.numel(), 0.0f);
    }
  }

  void step() {
    NoGradGuard no_grad;  // the update itself is not part of any graph
    ++t_;
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    const double c1 = 1 - std::pow(b1, t_), c2 = 1 - std::pow(b2, t_);  // bias corrections
    for (size_t k = 0; k < params_.size(); ++k) {
      Tensor g = contiguous(params_[k].grad());  // same shape as the parameter
      float* p = params_[k].data<float>();
      const float* gp = g.data<float>();
      for (int64_t i = 0; i < params_[k].numel(); ++i) {
        if (!adam_) {
          p[i] -= static_cast<float>(lr_ * gp[i]);
          continue;
        }
        m_[k][i] = static_cast<float>(b1 * m_[k][i] + (1 - b1) * gp[i]);
        v_[k][i] = static_cast<float>(b2 * v_[k][i] + (1 - b2) * gp[i] * gp[i]);
        p[i] -= static_cast<float>(lr_ * (m_[k][i] / c1) / (std::sqrt(v_[k][i] / c2) + eps));
      }
    }
  }

  void zero_grad() {
    for (Tensor& p : params_) p.set_grad(Tensor());
  }

 private:
  std::vector<Tensor> params_;
  bool adam_;
  double lr_;
  int t_ = 0;
  std::vector<std::vector<float>> m_, v_;  // Adam's first and second moments
};

// Fraction of rows of `logits` whose argmax is the label.
double accuracy(const Tensor& logits, const Tensor& y) {  // logits [N, 3], y [N]
  Tensor hits = eq(argmax(logits, 1), y);                   // [N] bool
  return sum(to(hits, DType::float32)).item<float>() / static_cast<double>(y.numel());
}

}  // namespace

int main(int argc, char** argv) {
  int epochs = 60, hidden = 64, batch = 64, per_class = 1000;
  double lr = 0.01, noise = 0.2;
  uint64_t seed = 0;
  std::string optim = "adam", act = "gelu";
  CLI::App app{"Trains a 2-layer MLP on a generated 3-class spiral with memgrad"};
  app.add_option("--epochs", epochs, "passes over the training set")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--hidden", hidden, "hidden units")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--lr", lr, "learning rate")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--seed", seed, "seed of the data and the initial weights")->capture_default_str();
  app.add_option("--batch", batch, "minibatch size")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--points", per_class, "training points per class")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--noise", noise, "angular noise (std, radians)")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--optim", optim, "optimizer")->check(CLI::IsMember({"adam", "sgd"}))->capture_default_str();
  app.add_option("--act", act, "hidden activation")->check(CLI::IsMember({"gelu", "tanh"}))->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  Generator gen(seed);
  Dataset train = make_spiral(per_class, noise, gen);      // x [N, 2], y [N]
  Dataset test = make_spiral(per_class / 2, noise, gen);   // x [N/2, 2], y [N/2]
  const int64_t n = train.y.numel();
  std::printf("spiral: %lld train / %lld test points, 3 classes; MLP 2-%d-3 (%s), %s lr %g, batch %d\n",
              static_cast<long long>(n), static_cast<long long>(test.y.numel()), hidden, act.c_str(), optim.c_str(),
              lr, batch);

  Mlp model(hidden, act == "tanh", gen);
  Optimizer opt(model.parameters(), optim == "adam", lr);
  std::mt19937_64 shuffle_rng(seed);
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  int64_t step_peak = 0, live_at_step = 0;

  auto t0 = std::chrono::steady_clock::now();
  const int report_every = std::max(1, epochs / 10);
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), shuffle_rng);
    Tensor perm = from_vector<int64_t>(order, {n});  // [N] a permutation of the rows
    double loss_sum = 0;
    int64_t batches = 0;
    for (int64_t b0 = 0; b0 < n; b0 += batch) {
      int64_t len = std::min<int64_t>(batch, n - b0);
      Tensor idx = narrow(perm, 0, b0, len);       // [B]
      Tensor xb = index_select(train.x, 0, idx);  // [B, 2]
      Tensor yb = index_select(train.y, 0, idx);  // [B]
      memory::PeakMeter meter;                     // one step: forward, backward, update
      Tensor logits = model(xb);                   // [B, 3]
      Tensor loss = cross_entropy(logits, yb);     // [] mean over the batch
      opt.zero_grad();
      loss.backward();
      opt.step();
      loss_sum += loss.item<float>();
      ++batches;
      if (meter.overhead() > step_peak) step_peak = meter.overhead(), live_at_step = meter.baseline();
    }
    if (epoch % report_every == 0 || epoch == 1 || epoch == epochs) {
      NoGradGuard no_grad;
      std::printf("epoch %4d  loss %.4f  train acc %.3f  test acc %.3f\n", epoch, loss_sum / batches,
                  accuracy(model(train.x), train.y), accuracy(model(test.x), test.y));
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  NoGradGuard no_grad;
  double train_acc = accuracy(model(train.x), train.y), test_acc = accuracy(model(test.x), test.y);
  std::printf("final: train accuracy %.2f%%, test accuracy %.2f%% (%d epochs in %.2f s)\n", 100 * train_acc,
              100 * test_acc, epochs, secs);
  std::printf("peak memory of a training step: %lld bytes allocated above the %lld bytes live before it\n",
              static_cast<long long>(step_peak), static_cast<long long>(live_at_step));
  return 0;
}
