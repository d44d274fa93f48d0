#include "core/dtype.h"

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

}  // namespace memgrad
