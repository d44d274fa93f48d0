#include "core/dtype.h"

#include <cmath>

#include "core/error.h"

namespace memgrad {

std::string to_string(DType t) {
  switch (t) {
    case DType::float32: return "float32";
    case DType::float64: return "float64";
    case DType::int32: return "int32";
    case DType::int64: return "int64";
    case DType::boolean: return "bool";
  }
  return "unknown";
}

void fail_dtype(const char* op, DType t, const char* allowed) {
  fail(op, "dtype {} is not supported (expected {})", to_string(t), allowed);
}

bool representable(double value, DType t) {
  if (!is_integral(t)) return true;
  const double lo = t == DType::int32 ? -0x1p31 : -0x1p63;  // the range is [lo, -lo)
  return std::isfinite(value) && value >= lo && value < -lo;
}

void check_representable(double value, DType t, const char* op) {
  MG_CHECK(representable(value, t), op, "value {} does not fit {}", value, to_string(t));
}

}  // namespace memgrad
