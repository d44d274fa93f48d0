// safetensors reading and writing, and checkpoints of a model and its optimizer.
#include "nn/serialization.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <tuple>
#include <vector>

#include "autograd/ops.h"
#include "nn/module.h"
#include "nn/optim/optimizer.h"

namespace memgrad {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

namespace {

using json = nlohmann::json;
constexpr uint64_t kMaxHeader = 100'000'000;  // the reference implementation's limit

const char* st_dtype(DType t) {
  switch (t) {
    case DType::float32: return "F32";
    case DType::float64: return "F64";
    case DType::int32: return "I32";
    case DType::int64: return "I64";
    case DType::boolean: return "BOOL";
  }
  return "?";
}

bool parse_dtype(const std::string& s, DType& out) {
  for (DType t : {DType::float32, DType::float64, DType::int32, DType::int64, DType::boolean})
    if (s == st_dtype(t)) return out = t, true;
  return false;
}

// Closes the descriptor and removes the temporary file unless released.
struct TempFile {
  std::string path;
  int fd = -1;
  bool keep = false;
  ~TempFile() {
    if (fd >= 0) ::close(fd);
    if (!keep && !path.empty()) ::unlink(path.c_str());
  }
};

void write_all(int fd, const void* data, size_t n, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    MG_CHECK(w > 0, "save_safetensors", "'{}': write failed: {}", path, std::strerror(errno));
    p += w, n -= static_cast<size_t>(w);
  }
}

void read_all(int fd, void* data, size_t n, uint64_t offset, const std::string& path) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    MG_CHECK(r > 0, "load_safetensors", "'{}': read failed at byte {}: {}", path, offset,
             r == 0 ? "unexpected end of file" : std::strerror(errno));
    p += r, n -= static_cast<size_t>(r), offset += static_cast<uint64_t>(r);
  }
}

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

// A non-negative JSON integer; errors name the file, the tensor and the field.
uint64_t as_u64(const json& v, const std::string& path, const std::string& name, const char* field) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  MG_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0, "load_safetensors",
           "'{}': tensor '{}': {} must hold non-negative integers, got {}", path, name, field, v.dump());
  return static_cast<uint64_t>(v.get<int64_t>());
}

Entry parse_entry(const std::string& path, const std::string& name, const json& v) {
  const char* op = "load_safetensors";
  MG_CHECK(v.is_object(), op, "'{}': tensor '{}': entry must be an object, got {}", path, name, v.dump());
  for (const char* f : {"dtype", "shape", "data_offsets"})
    MG_CHECK(v.contains(f), op, "'{}': tensor '{}': missing \"{}\"", path, name, f);
  Entry e{name, DType::float32, {}, 0, 0};
  const json& dt = v["dtype"];
  MG_CHECK(dt.is_string(), op, "'{}': tensor '{}': dtype must be a string, got {}", path, name, dt.dump());
  MG_CHECK(parse_dtype(dt.get<std::string>(), e.dtype), op,
           "'{}': tensor '{}': unsupported dtype {} (memgrad reads F32, F64, I32, I64, BOOL)", path, name, dt.dump());
  const json& sh = v["shape"];
  MG_CHECK(sh.is_array(), op, "'{}': tensor '{}': shape must be an array, got {}", path, name, sh.dump());
  // span: the product of max(dim, 1), which the strides reach even when a dim is 0
  uint64_t nbytes = itemsize(e.dtype), span = itemsize(e.dtype);
  for (const json& d : sh) {
    uint64_t n = as_u64(d, path, name, "shape");
    MG_CHECK(!__builtin_mul_overflow(nbytes, n, &nbytes) && !__builtin_mul_overflow(span, std::max<uint64_t>(n, 1), &span) &&
                 span <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
             op, "'{}': tensor '{}': shape {} is too large", path, name, sh.dump());
    e.shape.push_back(static_cast<int64_t>(n));
  }
  const json& off = v["data_offsets"];
  MG_CHECK(off.is_array() && off.size() == 2, op, "'{}': tensor '{}': data_offsets must be [begin, end], got {}", path,
           name, off.dump());
  e.begin = as_u64(off[0], path, name, "data_offsets");
  e.end = as_u64(off[1], path, name, "data_offsets");
  MG_CHECK(e.begin <= e.end, op, "'{}': tensor '{}': data_offsets [{}, {}] are out of order", path, name, e.begin,
           e.end);
  MG_CHECK(e.end - e.begin == nbytes, op,
           "'{}': tensor '{}': data_offsets [{}, {}] hold {} bytes but shape {} of {} needs {}", path, name, e.begin,
           e.end, e.end - e.begin, str(e.shape), st_dtype(e.dtype), nbytes);
  return e;
}

}  // namespace

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const char* op = "save_safetensors";
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    MG_CHECK(!name.empty() && name != "__metadata__", op, "'{}': invalid tensor name '{}'", path, name);
    MG_CHECK(t.defined(), op, "'{}': tensor '{}' is undefined", path, name);
    header[name] = {{"dtype", st_dtype(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {  // e.g. a name that is not valid UTF-8
    fail(op, "'{}': cannot encode the header: {}", path, e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t n = text.size();

  static std::atomic<uint64_t> counter{0};
  TempFile tmp;
  tmp.path = fmt::format("{}.tmp.{}.{}", path, ::getpid(), counter++);
  tmp.fd = ::open(tmp.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  MG_CHECK(tmp.fd >= 0, op, "'{}': cannot create '{}': {}", path, tmp.path, std::strerror(errno));
  write_all(tmp.fd, &n, 8, path);
  write_all(tmp.fd, text.data(), text.size(), path);
  NoGradGuard no_grad;
  for (const auto& [name, t] : tensors) {
    if (t.numel() == 0) continue;
    Tensor c = contiguous(to(detach(t), Device::cpu()));  // one tensor at a time on the host
    write_all(tmp.fd, c.raw_data(), c.nbytes(), path);
  }
  MG_CHECK(::fsync(tmp.fd) == 0, op, "'{}': fsync failed: {}", path, std::strerror(errno));
  int fd = tmp.fd;
  tmp.fd = -1;
  MG_CHECK(::close(fd) == 0, op, "'{}': close failed: {}", path, std::strerror(errno));
  std::error_code ec;
  std::filesystem::rename(tmp.path, path, ec);
  MG_CHECK(!ec, op, "'{}': cannot rename '{}' over it: {}", path, tmp.path, ec.message());
  tmp.keep = true;
  // make the rename itself durable (best effort: not every file system allows it)
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

std::map<std::string, Tensor> load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata) {
  const char* op = "load_safetensors";
  TempFile file;  // only for closing the descriptor
  file.keep = true;
  file.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  MG_CHECK(file.fd >= 0, op, "'{}': cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  MG_CHECK(::fstat(file.fd, &st) == 0 && S_ISREG(st.st_mode), op, "'{}': not a regular file", path);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  MG_CHECK(size >= 8, op, "'{}': file is {} bytes, shorter than the 8-byte header length", path, size);
  uint64_t n = 0;
  read_all(file.fd, &n, 8, 0, path);
  MG_CHECK(n <= size - 8, op, "'{}': header length {} runs past the end of the file ({} bytes)", path, n, size);
  MG_CHECK(n <= kMaxHeader, op, "'{}': header length {} exceeds the limit of {} bytes", path, n, kMaxHeader);
  std::string text(n, '\0');
  read_all(file.fd, text.data(), n, 8, path);
  json header;
  try {
    header = json::parse(text);
  } catch (const json::exception& e) {
    fail(op, "'{}': header is not valid JSON: {}", path, e.what());
  }
  MG_CHECK(header.is_object(), op, "'{}': header must be a JSON object, got {}", path, header.type_name());

  std::vector<Entry> entries;
  std::map<std::string, std::string> meta;
  for (const auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      MG_CHECK(v.is_object(), op, "'{}': __metadata__ must be an object of strings", path);
      for (const auto& [k, s] : v.items()) {
        MG_CHECK(s.is_string(), op, "'{}': __metadata__ '{}' must be a string, got {}", path, k, s.dump());
        meta[k] = s.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(path, name, v));
  }
  // The data section must be tiled exactly, in offset order, as the reference implementation checks.
  const uint64_t data_start = 8 + n, data_size = size - data_start;
  std::vector<const Entry*> order;
  for (const Entry& e : entries) {
    MG_CHECK(e.end <= data_size, op, "'{}': tensor '{}': data_offsets [{}, {}] run past the data section ({} bytes)",
             path, e.name, e.begin, e.end, data_size);
    order.push_back(&e);
  }
  std::sort(order.begin(), order.end(),
            [](const Entry* a, const Entry* b) { return std::tie(a->begin, a->end) < std::tie(b->begin, b->end); });
  uint64_t expected = 0;
  const Entry* prev = nullptr;
  for (const Entry* e : order) {
    MG_CHECK(e->begin >= expected, op, "'{}': tensor '{}': data [{}, {}] overlaps tensor '{}' (ends at {})", path,
             e->name, e->begin, e->end, prev ? prev->name : "", expected);
    MG_CHECK(e->begin == expected, op, "'{}': tensor '{}': data starts at {}, leaving a gap after byte {}", path,
             e->name, e->begin, expected);
    expected = e->end;
    prev = e;
  }
  MG_CHECK(expected == data_size, op, "'{}': the data section has {} bytes but the tensors cover {}", path, data_size,
           expected);

  std::map<std::string, Tensor> out;
  for (const Entry& e : entries) {
    Tensor t = empty(e.shape, e.dtype);
    if (e.end > e.begin) read_all(file.fd, t.raw_data(), e.end - e.begin, data_start + e.begin, path);
    if (e.dtype == DType::boolean) {  // a byte other than 0 or 1 is not a valid C++ bool
      const auto* b = static_cast<const uint8_t*>(t.raw_data());
      for (int64_t i = 0; i < t.numel(); ++i)
        MG_CHECK(b[i] <= 1, op, "'{}': tensor '{}': BOOL element {} has byte value {}", path, e.name, i, b[i]);
    }
    out.emplace(e.name, std::move(t));
  }
  if (metadata) *metadata = std::move(meta);
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
  std::map<std::string, std::string> meta;
  std::map<std::string, Tensor> all = load_safetensors(path, &meta), model_sd, optim_sd;
  for (auto& [name, t] : all) {
    if (name.rfind("model.", 0) == 0) model_sd[name.substr(6)] = t;
    else if (name.rfind("optim.", 0) == 0) optim_sd[name.substr(6)] = t;
    else fail(op, "'{}': tensor '{}' is neither 'model.*' nor 'optim.*'", path, name);
  }
  // Check everything before touching anything: Module::load_state_dict validates only the model.
  std::map<std::string, Tensor> own = model.state_dict();
  for (const auto& [name, t] : own) {
    auto it = model_sd.find(name);
    MG_CHECK(it != model_sd.end(), op, "'{}': tensor 'model.{}' (shape {} {}) is missing", path, name,
             str(t.shape()), to_string(t.dtype()));
    MG_CHECK(it->second.shape() == t.shape() && it->second.dtype() == t.dtype(), op,
             "'{}': tensor 'model.{}' is {} {} in the file but {} {} in the model", path, name,
             str(it->second.shape()), to_string(it->second.dtype()), str(t.shape()), to_string(t.dtype()));
  }
  for (const auto& [name, t] : model_sd)
    MG_CHECK(own.count(name), op, "'{}': tensor 'model.{}' (shape {}) is not in the model", path, name,
             str(t.shape()));
  if (optimizer) {
    MG_CHECK(!optim_sd.empty(), op, "'{}': the file holds no optimizer state", path);
    auto it = meta.find("memgrad.optimizer");
    MG_CHECK(it == meta.end() || it->second == optimizer->name(), op, "'{}': optimizer state is from {}, not {}", path,
             it == meta.end() ? "" : it->second, optimizer->name());
    try {
      optimizer->validate_state_dict(optim_sd);
    } catch (const Error& e) {
      fail(op, "'{}': {}", path, e.what());
    }
  }
  model.load_state_dict(model_sd, true);
  if (optimizer) optimizer->load_state_dict(optim_sd);
  return meta;
}

}  // namespace memgrad
