// Creation, copies and conversions.
#include <cmath>
#include <cstring>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "backends/backend.h"

namespace memgrad {
namespace {
// A factory's new block is its op's in the memory trace (core/memory_trace.h): factories record no
// graph node, so they tell the trace themselves.
Tensor made(const char* op, Tensor t) {
  if (memory::tracing() && t.storage()) memory::op_finished(op, {t.storage()->trace_id()}, /*only_outputs=*/true);
  return t;
}
}  // namespace

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  backend_for(device).fill(t, value);
  return made("full", t);
}
Tensor zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype(), t.device()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype(), t.device()); }
Tensor full_like(const Tensor& t, double value) { return full(t.shape(), value, t.dtype(), t.device()); }
Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.dtype(), t.device()); }
Tensor scalar(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

Tensor arange(double start, double end, double step, DType dtype, Device device) {
  MG_CHECK(step != 0, "arange", "step must be non-zero");
  MG_CHECK(std::isfinite(start) && std::isfinite(end) && std::isfinite(step), "arange",
           "start, end and step must be finite, got {}, {}, {}", start, end, step);
  const double n = std::ceil((end - start) / step);
  MG_CHECK(n < 0x1p62, "arange", "[{}, {}) in steps of {} would have {:g} elements", start, end, step, n);
  Tensor t = empty({static_cast<int64_t>(std::max(n, 0.0))}, dtype, device);
  backend_for(device).arange(t, start, step);
  return made("arange", t);
}
Tensor arange(int64_t n, DType dtype, Device device) { return arange(0, static_cast<double>(n), 1, dtype, device); }

namespace {
Tensor random_tensor(const Shape& shape, DType dtype, Generator* gen, RandomKind kind, double a, double b,
                     Device device, const char* op) {
  Tensor t = empty(shape, dtype, device);
  Generator& g = gen ? *gen : default_generator();
  uint64_t offset = g.advance(t.numel());
  backend_for(device).random(t, kind, a, b, g.seed(), offset);
  return made(op, t);
}
}  // namespace

Tensor rand(const Shape& shape, DType dtype, Generator* gen, double low, double high, Device device) {
  check_float(dtype, "rand");
  MG_CHECK(low < high, "rand", "needs low < high, got [{}, {})", low, high);
  return random_tensor(shape, dtype, gen, RandomKind::uniform, low, high, device, "rand");
}

Tensor randn(const Shape& shape, DType dtype, Generator* gen, double mean, double std, Device device) {
  check_float(dtype, "randn");
  MG_CHECK(std >= 0, "randn", "std must be >= 0, got {}", std);
  return random_tensor(shape, dtype, gen, RandomKind::normal, mean, std, device, "randn");
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, DType dtype, Generator* gen, Device device) {
  check_index_dtype(dtype, "randint");
  MG_CHECK(low < high, "randint", "needs low < high, got [{}, {})", low, high);
  NoGradGuard g;
  Tensor u = random_tensor(shape, DType::float64, gen, RandomKind::uniform, static_cast<double>(low),
                           static_cast<double>(high), device, "randint");
  // floor of a value in [low, high): copy() truncates toward zero, so shift to non-negatives first
  Tensor shifted = empty(shape, dtype, device);
  backend_for(device).copy(sub(u, scalar(static_cast<double>(low), DType::float64, device)), shifted);
  return add(shifted, scalar(static_cast<double>(low), dtype, device));
}

template <class T>
Tensor from_vector(const std::vector<T>& values, Shape shape, Device device) {
  if (shape.empty()) shape = {static_cast<int64_t>(values.size())};  // 0-d tensors come from scalar()
  MG_CHECK(numel(shape) == static_cast<int64_t>(values.size()), "from_vector", "{} values for shape {}",
           values.size(), str(shape));
  Tensor host = empty(shape, dtype_of<T>());
  if constexpr (std::is_same_v<T, bool>) {
    for (size_t i = 0; i < values.size(); ++i) host.data<bool>()[i] = values[i];
  } else if (!values.empty()) {
    std::memcpy(host.raw_data(), values.data(), values.size() * sizeof(T));
  }
  return device.is_cpu() ? made("from_vector", host) : to(host, device);
}
template Tensor from_vector<float>(const std::vector<float>&, Shape, Device);
template Tensor from_vector<double>(const std::vector<double>&, Shape, Device);
template Tensor from_vector<int32_t>(const std::vector<int32_t>&, Shape, Device);
template Tensor from_vector<int64_t>(const std::vector<int64_t>&, Shape, Device);
template Tensor from_vector<bool>(const std::vector<bool>&, Shape, Device);

Tensor to(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype) return t;
  Tensor out = empty(t.shape(), dtype, t.device());
  backend_for(t.device()).copy(t, out);
  if (!is_floating(dtype)) return out;
  DType from = t.dtype();
  return finish("to", {t}, out, [from](const Tensor& g) { return std::vector<Tensor>{to(g, from)}; });
}

Tensor to(const Tensor& t, Device device) {
  if (t.device() == device) return t;
  Tensor src = contiguous(t);
  Tensor out = empty(t.shape(), t.dtype(), device);
  // the backend that is not the CPU knows how to move bytes across
  (device.is_cpu() ? backend_for(t.device()) : backend_for(device)).copy_across(src, out);
  Device from = t.device();
  return finish("to_device", {t}, out, [from](const Tensor& g) { return std::vector<Tensor>{to(g, from)}; });
}

Tensor clone(const Tensor& t) {
  Tensor out = empty(t.shape(), t.dtype(), t.device());
  backend_for(t.device()).copy(t, out);
  return finish("clone", {t}, out, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor contiguous(const Tensor& t) { return t.is_contiguous() ? t : clone(t); }

Tensor detach(const Tensor& t) { return t.defined() ? alias(t, t.shape(), t.strides(), t.offset()) : t; }

bool all_finite(const Tensor& t) { return backend_for(t.device()).all_finite(t); }

}  // namespace memgrad
