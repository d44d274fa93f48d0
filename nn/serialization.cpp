// safetensors reading and writing, and checkpoints of a model and its optimizer.
#include "nn/serialization.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <tuple>
#include <vector>

#include "autograd/ops.h"
#include "core/escape.h"
#include "core/file_util.h"
#include "nn/module.h"
#include "nn/optim/optimizer.h"
#include "nn/safetensors_header.h"

namespace memgrad {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

namespace {

using json = nlohmann::json;
using Limits = SafetensorsLimits;

// Closes the descriptor at scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void read_all(int fd, void* data, size_t n, uint64_t offset, const std::string& file) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    MG_CHECK(r > 0, "load_safetensors", "'{}': read failed at byte {}: {}", file, offset,
             r == 0 ? "unexpected end of file" : std::strerror(errno));
    p += r, n -= static_cast<size_t>(r), offset += static_cast<uint64_t>(r);
  }
}

// The header text of save_safetensors, checked against what load_safetensors accepts.
std::string header_text(const std::string& file, const std::map<std::string, Tensor>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  const char* op = "save_safetensors";
  MG_CHECK(tensors.size() <= Limits::max_tensors, op,
           "'{}': {} tensors exceed the limit of {} that load_safetensors reads (SafetensorsLimits)", file,
           tensors.size(), Limits::max_tensors);
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    MG_CHECK(!name.empty() && name != "__metadata__" && is_valid_utf8(name), op,
             "'{}': invalid tensor name '{}' (names are non-empty UTF-8, not \"__metadata__\")", file,
             escape_bytes(name));
    MG_CHECK(t.defined(), op, "'{}': tensor '{}' is undefined", file, escape_bytes(name));
    MG_CHECK(static_cast<size_t>(t.dim()) <= Limits::max_dims, op,
             "'{}': tensor '{}' has {} dims, more than the {} that load_safetensors reads", file,
             escape_bytes(name), t.dim(), Limits::max_dims);
    header[name] = {{"dtype", safetensors::dtype_name(t.dtype())},
                    {"shape", t.shape()},
                    {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  for (const auto& [k, v] : metadata)
    MG_CHECK(is_valid_utf8(k) && is_valid_utf8(v), op, "'{}': metadata '{}' = '{}' is not valid UTF-8", file,
             escape_bytes(k), escape_bytes(v));
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  MG_CHECK(text.size() <= Limits::max_header_bytes, op,
           "'{}': the header takes {} bytes, more than the {} that load_safetensors reads", file, text.size(),
           Limits::max_header_bytes);
  return text;
}

}  // namespace

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const char* op = "save_safetensors";
  const std::string text = header_text(escape_bytes(path), tensors, metadata);
  const uint64_t n = text.size();
  AtomicFile out(path, op);
  out.write(&n, 8);
  out.write(text);
  NoGradGuard no_grad;
  for (const auto& [name, t] : tensors) {
    if (t.numel() == 0) continue;
    Tensor c = contiguous(to(detach(t), Device::cpu()));  // one tensor at a time on the host
    out.write(c.raw_data(), c.nbytes());
  }
  out.commit();
}

std::map<std::string, Tensor> load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata) {
  const char* op = "load_safetensors";
  const std::string file = escape_bytes(path);  // as messages show it
  Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  MG_CHECK(fd.fd >= 0, op, "'{}': cannot open: {}", file, std::strerror(errno));
  struct stat st {};
  MG_CHECK(::fstat(fd.fd, &st) == 0 && S_ISREG(st.st_mode), op, "'{}': not a regular file", file);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  MG_CHECK(size >= 8, op, "'{}': file is {} bytes, shorter than the 8-byte header length", file, size);
  uint64_t n = 0;
  read_all(fd.fd, &n, 8, 0, file);
  MG_CHECK(n <= size - 8, op, "'{}': header length {} runs past the end of the file ({} bytes)", file, n, size);
  MG_CHECK(n <= Limits::max_header_bytes, op,
           "'{}': header length {} exceeds the limit of {} bytes (SafetensorsLimits::max_header_bytes)", file, n,
           Limits::max_header_bytes);
  std::string text(n, '\0');
  read_all(fd.fd, text.data(), n, 8, file);
  safetensors::Header header = safetensors::parse_header(text, file);
  std::string().swap(text);  // the header's memory goes before the tensors'

  // The data section must be tiled exactly, in offset order, as the reference implementation checks.
  using safetensors::Entry;
  const uint64_t data_start = 8 + n, data_size = size - data_start;
  std::vector<const Entry*> order;
  order.reserve(header.entries.size());
  for (const Entry& e : header.entries) {
    MG_CHECK(e.end <= data_size, op, "'{}': tensor '{}': data_offsets [{}, {}] run past the data section ({} bytes)",
             file, escape_bytes(e.name), e.begin, e.end, data_size);
    order.push_back(&e);
  }
  std::sort(order.begin(), order.end(),
            [](const Entry* a, const Entry* b) { return std::tie(a->begin, a->end) < std::tie(b->begin, b->end); });
  uint64_t expected = 0;
  const Entry* prev = nullptr;
  for (const Entry* e : order) {
    MG_CHECK(e->begin >= expected, op, "'{}': tensor '{}': data [{}, {}] overlaps tensor '{}' (ends at {})", file,
             escape_bytes(e->name), e->begin, e->end, prev ? escape_bytes(prev->name) : "", expected);
    MG_CHECK(e->begin == expected, op, "'{}': tensor '{}': data starts at {}, leaving a gap after byte {}", file,
             escape_bytes(e->name), e->begin, expected);
    expected = e->end;
    prev = e;
  }
  MG_CHECK(expected == data_size, op, "'{}': the data section has {} bytes but the tensors cover {}", file, data_size,
           expected);

  std::map<std::string, Tensor> out;
  for (Entry& e : header.entries) {
    Tensor t = empty(e.shape, e.dtype);
    if (e.end > e.begin) read_all(fd.fd, t.raw_data(), e.end - e.begin, data_start + e.begin, file);
    if (e.dtype == DType::boolean) {  // a byte other than 0 or 1 is not a valid C++ bool
      const auto* b = static_cast<const uint8_t*>(t.raw_data());
      for (int64_t i = 0; i < t.numel(); ++i)
        MG_CHECK(b[i] <= 1, op, "'{}': tensor '{}': BOOL element {} has byte value {}", file, escape_bytes(e.name), i,
                 b[i]);
    }
    out.emplace(std::move(e.name), std::move(t));
  }
  if (metadata) *metadata = std::move(header.metadata);
  return out;
}

void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer* optimizer,
                     const std::map<std::string, std::string>& metadata) {
  std::map<std::string, Tensor> all;
  for (auto& [name, t] : model.state_dict()) all["model." + name] = t;
  std::map<std::string, std::string> meta = metadata;
  if (optimizer) {
    for (auto& [name, t] : optimizer->state_dict()) all["optim." + name] = t;
    meta["memgrad.optimizer"] = optimizer->name();
  }
  save_safetensors(path, all, meta);
}

std::map<std::string, std::string> load_checkpoint(const std::string& path, nn::Module& model,
                                                   optim::Optimizer* optimizer) {
  const char* op = "load_checkpoint";
  const std::string file = escape_bytes(path);  // as messages show it
  std::map<std::string, std::string> meta;
  std::map<std::string, Tensor> all = load_safetensors(path, &meta), model_sd, optim_sd;
  for (auto& [name, t] : all) {
    if (name.rfind("model.", 0) == 0) model_sd[name.substr(6)] = t;
    else if (name.rfind("optim.", 0) == 0) optim_sd[name.substr(6)] = t;
    else fail(op, "'{}': tensor '{}' is neither 'model.*' nor 'optim.*'", file, escape_bytes(name));
  }
  // Check everything before touching anything: Module::load_state_dict validates only the model.
  std::map<std::string, Tensor> own = model.state_dict();
  for (const auto& [name, t] : own) {
    auto it = model_sd.find(name);
    MG_CHECK(it != model_sd.end(), op, "'{}': tensor 'model.{}' (shape {} {}) is missing", file, name,
             str(t.shape()), to_string(t.dtype()));
    MG_CHECK(it->second.shape() == t.shape() && it->second.dtype() == t.dtype(), op,
             "'{}': tensor 'model.{}' is {} {} in the file but {} {} in the model", file, name,
             str(it->second.shape()), to_string(it->second.dtype()), str(t.shape()), to_string(t.dtype()));
  }
  for (const auto& [name, t] : model_sd)
    MG_CHECK(own.count(name), op, "'{}': tensor 'model.{}' (shape {}) is not in the model", file, escape_bytes(name),
             str(t.shape()));
  if (optimizer) {
    MG_CHECK(!optim_sd.empty(), op, "'{}': the file holds no optimizer state", file);
    auto it = meta.find("memgrad.optimizer");
    MG_CHECK(it == meta.end() || it->second == optimizer->name(), op, "'{}': optimizer state is from {}, not {}", file,
             it == meta.end() ? "" : escape_bytes(it->second), optimizer->name());
    try {
      optimizer->validate_state_dict(optim_sd);
    } catch (const Error& e) {
      fail(op, "'{}': {}", file, escape_bytes(e.what(), 400));  // its keys come from the file: cut it short
    }
  }
  model.load_state_dict(model_sd, true);
  if (optimizer) optimizer->load_state_dict(optim_sd);
  return meta;
}

}  // namespace memgrad
