#pragma once
// Element types and the one dispatch helper every kernel uses.
#include <cstddef>
#include <cstdint>
#include <string>

namespace memgrad {

enum class DType : uint8_t { float32, float64, int32, int64, boolean };

constexpr size_t itemsize(DType t) {
  switch (t) {
    case DType::float32: return 4;
    case DType::float64: return 8;
    case DType::int32: return 4;
    case DType::int64: return 8;
    case DType::boolean: return 1;
  }
  return 0;
}
constexpr bool is_floating(DType t) { return t == DType::float32 || t == DType::float64; }
constexpr bool is_integral(DType t) { return t == DType::int32 || t == DType::int64; }
std::string to_string(DType t);

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::float32; }
template <> constexpr DType dtype_of<double>() { return DType::float64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::int32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::int64; }
template <> constexpr DType dtype_of<bool>() { return DType::boolean; }

[[noreturn]] void fail_dtype(const char* op, DType t, const char* allowed);

inline void check_float(DType t, const char* op) {
  if (!is_floating(t)) fail_dtype(op, t, "float32 or float64");
}
inline void check_index_dtype(DType t, const char* op) {
  if (!is_integral(t)) fail_dtype(op, t, "int32 or int64");
}

// Calls f.template operator()<T>() with T the C++ type of `t`, for float types only.
template <class F>
decltype(auto) dispatch_float(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::float32: return f.template operator()<float>();
    case DType::float64: return f.template operator()<double>();
    default: fail_dtype(op, t, "float32 or float64");
  }
}

// The same over float and integer types (not bool).
template <class F>
decltype(auto) dispatch_numeric(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::float32: return f.template operator()<float>();
    case DType::float64: return f.template operator()<double>();
    case DType::int32: return f.template operator()<int32_t>();
    case DType::int64: return f.template operator()<int64_t>();
    default: fail_dtype(op, t, "a numeric type");
  }
}

// The same over every type.
template <class F>
decltype(auto) dispatch_all(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::float32: return f.template operator()<float>();
    case DType::float64: return f.template operator()<double>();
    case DType::int32: return f.template operator()<int32_t>();
    case DType::int64: return f.template operator()<int64_t>();
    case DType::boolean: return f.template operator()<bool>();
  }
  fail_dtype(op, t, "a known type");
}

// Index tensors are int32 or int64.
template <class F>
decltype(auto) dispatch_index(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::int32: return f.template operator()<int32_t>();
    case DType::int64: return f.template operator()<int64_t>();
    default: fail_dtype(op, t, "int32 or int64 (indices)");
  }
}

}  // namespace memgrad
