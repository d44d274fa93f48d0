#include "nn/positional.h"

#include <cmath>
#include <vector>

#include "autograd/ops.h"
#include "nn/init.h"

namespace memgrad::nn {
namespace {
Tensor add_positions(const char* op, const Tensor& x, const Tensor& table) {
  MG_CHECK(x.dim() == 3 && x.size(2) == table.size(1) && x.size(1) <= table.size(0), op,
           "input {} does not fit a table of {} positions x {} dims", str(x.shape()), table.size(0), table.size(1));
  return x + narrow(table, 0, 0, x.size(1));  // [B, N, D] + [N, D]
}
Tensor add_positions_at(const char* op, const Tensor& x, const Tensor& table, const Tensor& positions) {
  MG_CHECK(x.dim() == 3 && x.size(2) == table.size(1) && positions.dim() == 1 && positions.size(0) == x.size(1), op,
           "input {} with positions {} for a table of {} dims: expected [B, N, {}] and [N]", str(x.shape()),
           str(positions.shape()), table.size(1), table.size(1));
  return x + index_select(table, 0, positions);  // [B, N, D] + [N, D]; index_select checks the range
}
}  // namespace

LearnedPositionalEncoding::LearnedPositionalEncoding(int64_t max_len, int64_t dim, ParamOptions p) {
  table = register_parameter("table", empty({max_len, dim}, p.dtype));
  init::normal_(table, 0.0, 0.02, p.gen);
}

Tensor LearnedPositionalEncoding::forward(const Tensor& x) const {
  const auto scope = trace_scope();  // memory-trace attribution (core/memory_trace.h)
  return add_positions("LearnedPositionalEncoding", x, table);
}

SinusoidalPositionalEncoding::SinusoidalPositionalEncoding(int64_t max_len, int64_t dim, DType dtype) {
  std::vector<double> v(static_cast<size_t>(max_len * dim));
  for (int64_t pos = 0; pos < max_len; ++pos)
    for (int64_t i = 0; i < dim; ++i) {
      double angle = pos / std::pow(10000.0, 2.0 * (i / 2) / static_cast<double>(dim));
      v[pos * dim + i] = i % 2 == 0 ? std::sin(angle) : std::cos(angle);
    }
  table = register_buffer("table", memgrad::to(from_vector<double>(v, {max_len, dim}), dtype));
}

Tensor LearnedPositionalEncoding::forward(const Tensor& x, const Tensor& positions) const {
  const auto scope = trace_scope();  // memory-trace attribution (core/memory_trace.h)
  return add_positions_at("LearnedPositionalEncoding", x, table, positions);
}

Tensor SinusoidalPositionalEncoding::forward(const Tensor& x, const Tensor& positions) const {
  const auto scope = trace_scope();  // memory-trace attribution (core/memory_trace.h)
  return add_positions_at("SinusoidalPositionalEncoding", x, table, positions);
}

Tensor SinusoidalPositionalEncoding::forward(const Tensor& x) const {
  const auto scope = trace_scope();  // memory-trace attribution (core/memory_trace.h)
  return add_positions("SinusoidalPositionalEncoding", x, table);
}

}  // namespace memgrad::nn
