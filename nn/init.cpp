#include "nn/init.h"

#include <cmath>

#include "autograd/ops.h"

namespace memgrad::nn::init {
namespace {
// Writes `values` (same shape) into t without recording (initialisation is not part of a graph).
void assign(Tensor& t, const Tensor& values) {
  NoGradGuard ng;
  copy_(t, values);
}
}  // namespace

void uniform_(Tensor& t, double low, double high, Generator* gen) {
  assign(t, rand(t.shape(), t.dtype(), gen, low, high, t.device()));
}
void normal_(Tensor& t, double mean, double std, Generator* gen) {
  assign(t, randn(t.shape(), t.dtype(), gen, mean, std, t.device()));
}
void zeros_(Tensor& t) {
  NoGradGuard ng;
  fill_(t, 0.0);
}
void ones_(Tensor& t) {
  NoGradGuard ng;
  fill_(t, 1.0);
}

std::pair<int64_t, int64_t> fans(const Tensor& t) {
  MG_CHECK(t.dim() >= 2, "init", "fan in/out need a weight with at least 2 dims, got shape {}", str(t.shape()));
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.shape()[d];
  return {t.shape()[1] * receptive, t.shape()[0] * receptive};
}

void xavier_uniform_(Tensor& t, double gain, Generator* gen) {
  auto [fan_in, fan_out] = fans(t);
  double b = gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  uniform_(t, -b, b, gen);
}

void kaiming_uniform_(Tensor& t, double a, Generator* gen) {
  auto [fan_in, fan_out] = fans(t);
  double b = std::sqrt(6.0 / ((1 + a * a) * static_cast<double>(fan_in)));
  uniform_(t, -b, b, gen);
}

}  // namespace memgrad::nn::init
