#pragma once
// Parameter initialisation, in place and seeded (the default generator unless one is given).
#include "core/random.h"
#include "core/tensor.h"

namespace memgrad::nn::init {

void uniform_(Tensor& t, double low, double high, Generator* gen = nullptr);
void normal_(Tensor& t, double mean, double std, Generator* gen = nullptr);
void zeros_(Tensor& t);
void ones_(Tensor& t);
// Glorot & Bengio: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)).
void xavier_uniform_(Tensor& t, double gain = 1.0, Generator* gen = nullptr);
// He et al. for a leaky-ReLU slope a: U(-b, b), b = sqrt(6 / ((1 + a^2) fan_in)).
// a = sqrt(5) gives PyTorch's default for Linear weights, b = 1/sqrt(fan_in).
void kaiming_uniform_(Tensor& t, double a = 0.0, Generator* gen = nullptr);

// fan_in and fan_out of a [out, in, ...] weight.
std::pair<int64_t, int64_t> fans(const Tensor& t);

}  // namespace memgrad::nn::init
