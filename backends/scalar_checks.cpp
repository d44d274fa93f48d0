// Host-side checks of the scalar rules (scalar_checks.h, scalar_math.h).
#include "backends/scalar_checks.h"

#include "backends/scalar_math.h"

namespace memgrad {

bool scalar_fits(double value, DType dtype) {
  switch (dtype) {
    case DType::int32: return fits_integer<int32_t>(value);
    case DType::int64: return fits_integer<int64_t>(value);
    default: return true;
  }
}

void check_integer_conversion(const Tensor& x, DType to, const char* op) {
  dispatch_float(x.dtype(), op, [&]<class F>() {
    const std::vector<F> v = x.to_vector<F>();  // copies a device tensor's span to the host
    for (size_t i = 0; i < v.size(); ++i)
      MG_CHECK(scalar_fits(static_cast<double>(v[i]), to), op,
               "cannot convert {} (element {}) to {}: NaN, infinite or out of range", v[i], i, to_string(to));
  });
}

void check_fill_value(double value, DType dtype) {
  MG_CHECK(scalar_fits(value, dtype), "fill", "cannot fill a {} tensor with {}: NaN, infinite or out of range",
           to_string(dtype), value);
}

void check_arange_values(double start, double step, int64_t n, DType dtype) {
  const double last = start + step * static_cast<double>(n > 0 ? n - 1 : 0);
  MG_CHECK(scalar_fits(start, dtype) && scalar_fits(last, dtype), "arange", "values from {} to {} do not fit {}",
           start, last, to_string(dtype));
}

void check_random_dtype(DType dtype, RandomKind kind, double a, double b) {
  if (!is_integral(dtype) || kind == RandomKind::bernoulli) return;
  // uniform samples lie in [a, b); normal samples are unbounded
  MG_CHECK(kind == RandomKind::uniform && scalar_fits(a, dtype) && scalar_fits(b, dtype), "random",
           "cannot sample {} values into {}", kind == RandomKind::normal ? "normal" : "these uniform",
           to_string(dtype));
}

}  // namespace memgrad
