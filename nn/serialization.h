#pragma once
// Tensors to and from safetensors files (https://github.com/huggingface/safetensors), readable by
// PyTorch's `safetensors.torch.load_file`; and training checkpoints (model + optimizer) on top.
//
// Layout: 8-byte little-endian header length N; N bytes of JSON mapping each name to
// {"dtype": "F32"|"F64"|"I32"|"I64"|"BOOL", "shape": [...], "data_offsets": [begin, end]}, plus an
// optional "__metadata__" object of strings, padded with spaces to a multiple of 8; then the raw
// little-endian bytes of every tensor, contiguous, offsets relative to the start of that section.
#include <map>
#include <string>

#include "core/tensor.h"

namespace memgrad {

namespace nn {
class Module;
}
namespace optim {
class Optimizer;
}

// Writes atomically: a temporary file in the same directory, flushed and fsync'ed, then renamed
// over `path`; readers see the old file or the new one, never a part. Tensors on other devices
// are copied to the CPU; views are written as contiguous data. Errors (memgrad::Error) name the
// file, and the tensor where one is at fault.
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads every tensor (CPU, contiguous). The whole header is validated before any data is read:
// dtypes, shapes against byte ranges, ranges inside the data section, tiling it exactly without
// overlap or gaps (as the reference implementation requires). Errors name the file and the tensor.
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
