#pragma once
// Tensors to and from safetensors files (https://github.com/huggingface/safetensors), readable by
// PyTorch's `safetensors.torch.load_file`; and training checkpoints (model + optimizer) on top.
//
// Layout: 8-byte little-endian header length N; N bytes of JSON mapping each name to
// {"dtype": "F32"|"F64"|"I32"|"I64"|"BOOL", "shape": [...], "data_offsets": [begin, end]}, plus an
// optional "__metadata__" object of strings, padded with spaces to a multiple of 8; then the raw
// little-endian bytes of every tensor, contiguous, offsets relative to the start of that section.
//
// Other safetensors dtypes (U8, I8, I16, U16, U32, U64, F16, BF16, F8_*, ...) have no memgrad
// dtype: reading one is an error naming the file, the tensor and the dtype (no conversion).
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "core/tensor.h"

namespace memgrad {

// What load_safetensors accepts; a file beyond a limit is refused with an error naming the file
// (and save_safetensors refuses to write one). Real checkpoints stay far below: the largest
// single-file models hold a few thousand tensors of at most 5 dims, in headers of a few MB. They
// keep a hostile header from costing more memory than a small multiple of its size.
struct SafetensorsLimits {
  static constexpr uint64_t max_header_bytes = 100'000'000;  // the reference implementation's limit
  static constexpr size_t max_tensors = 100'000;
  static constexpr size_t max_dims = 64;              // per tensor
  static constexpr size_t max_ignored_nesting = 64;   // unknown fields are skipped, up to this depth
};

namespace nn {
class Module;
}
namespace optim {
class Optimizer;
}

// Writes atomically (AtomicFile, core/file_util.h): a temporary `<path>.tmp.<pid>.<n>` in the same
// directory, flushed and fsync'ed, then renamed over `path`; readers see the old file or the new
// one, never a part, and temporaries left by killed writers of `path` are removed. Tensors on other
// devices are copied to the CPU; views are written as contiguous data. Names and metadata must be
// valid UTF-8 (JSON), and the file within the limits above. Errors (memgrad::Error) name the
// file, and the tensor where one is at fault.
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads every tensor (CPU, contiguous). The whole header is validated before any data is read:
// the limits above, no name twice, dtypes, shapes against byte ranges, ranges inside the data
// section, tiling it exactly without overlap or gaps (as the reference implementation requires),
// and BOOL bytes of 0 or 1. Errors name the file and the tensor, with values from the file escaped
// and cut short (escape_bytes, core/escape.h). The header takes memory O(its size): it is parsed
// as a stream, never into a JSON tree.
std::map<std::string, Tensor> load_safetensors(const std::string& path,
                                               std::map<std::string, std::string>* metadata = nullptr);

// A checkpoint is a safetensors file holding "model.<name>" for each entry of the model's
// state_dict() and "optim.<name>" for the optimizer's; metadata gets "memgrad.optimizer" = its name.
void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer* optimizer = nullptr,
                     const std::map<std::string, std::string>& metadata = {});

// Reads the file and checks every name, shape and dtype against the model (strictly) and the
// optimizer's state (when one is given; the file must then carry one) BEFORE changing either, so a
// bad file leaves both unchanged. Optimizer state in the file is ignored when optimizer is null.
// Returns the file's metadata.
std::map<std::string, std::string> load_checkpoint(const std::string& path, nn::Module& model,
                                                   optim::Optimizer* optimizer = nullptr);

}  // namespace memgrad
