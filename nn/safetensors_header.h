#pragma once
// The JSON header of a safetensors file, parsed without building a JSON tree (nn/serialization.cpp
// is the only user). Memory is O(header) with a small constant, no step recurses on the nesting
// depth, and every error is a memgrad::Error naming the file and, where one is at fault, the
// tensor; values from the file appear in messages escaped and cut short (escape_bytes).
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/shape.h"

namespace memgrad::safetensors {

struct Entry {
  std::string name;
  DType dtype = DType::float32;
  Shape shape;
  uint64_t begin = 0, end = 0;  // the byte range in the data section; end - begin matches shape and dtype
};

struct Header {
  std::vector<Entry> entries;  // in file order; names are unique
  std::map<std::string, std::string> metadata;
};

// The safetensors name of a dtype ("F32", ...).
const char* dtype_name(DType t);

// Parses and checks the header text: a JSON object of entries {"dtype", "shape", "data_offsets"}
// (other fields are ignored) and an optional "__metadata__" object of strings. Checks each entry
// by itself (known dtype, shape within the limits of nn/serialization.h, byte range of the size
// the shape needs) and that no name appears twice; the tiling of the data section is the
// caller's. `file` is the path as messages show it.
Header parse_header(std::string_view text, const std::string& file);

}  // namespace memgrad::safetensors
