// safetensors files: bitwise round trips, a file assembled by hand per the spec, every malformed
// case named in its error, atomic replacement, and checkpoints that fail without side effects.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "autograd/ops.h"
#include "nn/module.h"
#include "nn/optim/optimizer.h"
#include "nn/serialization.h"

using namespace memgrad;
namespace fs = std::filesystem;

// doctest::Contains copies its text, so a temporary std::string is fine here
#define CHECK_ERROR(expr, text) CHECK_THROWS_WITH_AS(expr, doctest::Contains(std::string(text).c_str()), Error)

namespace {

// A fresh directory, removed with everything in it at scope exit.
struct TempDir {
  fs::path dir;
  TempDir() {
    static int n = 0;
    dir = fs::temp_directory_path() / ("memgrad_st_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::create_directories(dir);
  }
  ~TempDir() { fs::remove_all(dir); }
  std::string operator/(const std::string& name) const { return (dir / name).string(); }
  size_t count() const { return static_cast<size_t>(std::distance(fs::directory_iterator(dir), {})); }
};

std::string bytes_of(const Tensor& t) { return std::string(static_cast<const char*>(t.raw_data()), t.nbytes()); }

std::string u64_le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

// A file of the given header text (padded to 8 as the spec says) and data bytes.
void write_file(const std::string& path, std::string header, const std::string& data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  std::ofstream(path, std::ios::binary) << u64_le(header.size()) << header << data;
}

void write_bytes(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

struct Tiny : nn::Module {
  Tensor w, b;
  Tiny(int64_t out, double v) {
    w = register_parameter("w", full({out, 2}, v));
    b = register_parameter("b", full({out}, v + 1));
    register_buffer("count", full({}, 7, DType::int64));
  }
};

std::vector<float> flat(const Tensor& t) { return contiguous(t).to_vector<float>(); }

}  // namespace

TEST_CASE("safetensors round trip of every dtype is bitwise, 0-d and empty tensors included") {
  TempDir tmp;
  Tensor f = randn({3, 4});
  float* fp = f.data<float>();
  fp[0] = NAN, fp[1] = -0.0f, fp[2] = INFINITY, fp[3] = 1e-42f;  // NaN, -0, inf, a denormal
  std::map<std::string, Tensor> in = {
      {"f32", f},
      {"f32_view", transpose(f, 0, 1)},  // written contiguous
      {"f64_scalar", scalar(M_PI, DType::float64)},
      {"i32", from_vector<int32_t>({-1, 0, 2147483647, -2147483647 - 1})},
      {"i64", from_vector<int64_t>({int64_t{1} << 62, -5}, {2, 1})},
      {"bool", from_vector<bool>({true, false, true})},
      {"empty", zeros({0}, DType::float64)},
      {"empty_2d", zeros({2, 0, 3}, DType::int32)},
      {"unicode \xc3\xa9.w", ones({1})},
  };
  std::map<std::string, std::string> meta_in = {{"format", "pt"}, {"epoch", "3"}};
  const std::string path = tmp / "all.safetensors";
  save_safetensors(path, in, meta_in);
  std::map<std::string, std::string> meta;
  auto out = load_safetensors(path, &meta);
  CHECK(meta == meta_in);
  REQUIRE(out.size() == in.size());
  for (const auto& [name, t] : in) {
    const std::string& tensor_name = name;  // clang < 16 cannot capture a structured binding
    CAPTURE(tensor_name);
    const Tensor& u = out.at(name);
    CHECK(u.shape() == t.shape());
    CHECK(u.dtype() == t.dtype());
    CHECK(u.is_contiguous());
    CHECK(bytes_of(u) == bytes_of(contiguous(t)));
  }
  // the header length is a multiple of 8 and the file is exactly header + data
  std::ifstream file(path, std::ios::binary);
  uint64_t n = 0;
  file.read(reinterpret_cast<char*>(&n), 8);
  CHECK(n % 8 == 0);
  size_t data = 0;
  for (const auto& [name, t] : in) data += t.nbytes();
  CHECK(fs::file_size(path) == 8 + n + data);
  // no metadata: loads with an empty map
  save_safetensors(path, {{"x", ones({2})}});
  load_safetensors(path, &meta);
  CHECK(meta.empty());
}

TEST_CASE("a file assembled byte by byte per the spec loads (interop)") {
  TempDir tmp;
  const std::string path = tmp / "hand.safetensors";
  // "b" comes first in the data although it is second in the header; 0-d and empty tensors too
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
      R"("b":{"dtype":"I64","shape":[],"data_offsets":[0,8]},)"
      R"("c":{"dtype":"BOOL","shape":[1,2],"data_offsets":[16,18]},)"
      R"("d":{"dtype":"F64","shape":[0,4],"data_offsets":[18,18]},)"
      R"("__metadata__":{"format":"pt"}})";
  std::string data = u64_le(static_cast<uint64_t>(-3));  // b = -3
  const float a[2] = {1.5f, -2.25f};
  data.append(reinterpret_cast<const char*>(a), 8);
  data += std::string("\x01\x00", 2);
  write_file(path, header, data);
  std::map<std::string, std::string> meta;
  auto t = load_safetensors(path, &meta);
  CHECK(meta.at("format") == "pt");
  CHECK(t.at("a").to_vector<float>() == std::vector<float>{1.5f, -2.25f});
  CHECK(t.at("b").dim() == 0);
  CHECK(t.at("b").item<int64_t>() == -3);
  CHECK(t.at("c").shape() == Shape{1, 2});
  CHECK(t.at("c").to_vector<bool>() == std::vector<bool>{true, false});
  CHECK(t.at("d").shape() == Shape{0, 4});
  CHECK(t.at("d").dtype() == DType::float64);
}

TEST_CASE("malformed files throw errors naming the file and the tensor") {
  TempDir tmp;
  const std::string p = tmp / "bad.safetensors";
  auto entry = [](const char* name, const char* dtype, const char* shape, int b, int e) {
    return fmt::format(R"("{}":{{"dtype":"{}","shape":{},"data_offsets":[{},{}]}})", name, dtype, shape, b, e);
  };
  auto obj = [](const std::string& a, const std::string& b = "") { return fmt::format("{{{}{}{}}}", a, b.empty() ? "" : ",", b); };
  auto load = [&] { return load_safetensors(p); };
  const std::string in_p = "[load_safetensors] '" + p + "'";

  CHECK_ERROR(load_safetensors(tmp / "missing.safetensors"),
              "[load_safetensors] '" + (tmp / "missing.safetensors") + "': cannot open: No such file");
  write_bytes(p, "abc");
  CHECK_ERROR(load(), in_p + ": file is 3 bytes, shorter than the 8-byte header length");
  write_bytes(p, u64_le(100) + "{}");
  CHECK_ERROR(load(), in_p + ": header length 100 runs past the end of the file (10 bytes)");
  write_file(p, "{\"a\": {\"dtype\": \"F32\",", "");
  CHECK_ERROR(load(), in_p + ": header is not valid JSON");
  write_file(p, "[1, 2]", "");
  CHECK_ERROR(load(), in_p + ": header must be a JSON object");
  write_file(p, obj(entry("w", "F16", "[2]", 0, 4)), std::string(4, '\0'));
  CHECK_ERROR(load(), in_p + ": tensor 'w': unsupported dtype \"F16\"");
  write_file(p, obj(entry("w", "F32", "[3]", 0, 8)), std::string(8, '\0'));
  CHECK_ERROR(load(), in_p + ": tensor 'w': data_offsets [0, 8] hold 8 bytes but shape [3] of F32 needs 12");
  write_file(p, obj(entry("w", "F32", "[-3]", 0, 8)), std::string(8, '\0'));
  CHECK_ERROR(load(), in_p + ": tensor 'w': shape must hold non-negative integers, got -3");
  write_file(p, obj(entry("w", "F32", "[0, 4611686018427387904, 4]", 0, 0)), "");
  CHECK_ERROR(load(), in_p + ": tensor 'w': shape [0, 4611686018427387904, 4] is too large");
  write_file(p, obj(entry("w", "F32", "[2]", 8, 16)), std::string(8, '\0'));
  CHECK_ERROR(load(), in_p + ": tensor 'w': data_offsets [8, 16] run past the data section (8 bytes)");
  write_file(p, obj(entry("w", "F32", "[0]", 8, 4)), std::string(8, '\0'));
  CHECK_ERROR(load(), in_p + ": tensor 'w': data_offsets [8, 4] are out of order");
  write_file(p, obj(entry("u", "F32", "[2]", 0, 8), entry("v", "F32", "[2]", 4, 12)),
             std::string(12, '\0'));
  CHECK_ERROR(load(), in_p + ": tensor 'v': data [4, 12] overlaps tensor 'u' (ends at 8)");
  write_file(p, obj(entry("u", "F32", "[1]", 0, 4), entry("v", "F32", "[1]", 8, 12)),
             std::string(12, '\0'));
  CHECK_ERROR(load(), in_p + ": tensor 'v': data starts at 8, leaving a gap after byte 4");
  write_file(p, obj(entry("u", "F32", "[1]", 0, 4)), std::string(12, '\0'));
  CHECK_ERROR(load(), in_p + ": the data section has 12 bytes but the tensors cover 4");
  write_file(p, R"({"w":{"dtype":"F32","shape":[1]}})", std::string(4, '\0'));
  CHECK_ERROR(load(), in_p + ": tensor 'w': missing \"data_offsets\"");
  write_file(p, obj(entry("m", "BOOL", "[2]", 0, 2)), std::string("\x01\x02", 2));
  CHECK_ERROR(load(), in_p + ": tensor 'm': BOOL element 1 has byte value 2");
  write_file(p, R"({"__metadata__":{"epoch":3}})", "");
  CHECK_ERROR(load(), in_p + ": __metadata__ 'epoch' must be a string");
}

TEST_CASE("writes are atomic: no temporary file is left and an existing file is replaced whole") {
  TempDir tmp;
  const std::string path = tmp / "model.safetensors";
  save_safetensors(path, {{"big", ones({1000}, DType::float64)}, {"x", ones({3})}});
  CHECK(tmp.count() == 1);
  save_safetensors(path, {{"y", full({2}, 5.0)}});
  CHECK(tmp.count() == 1);
  auto t = load_safetensors(path);
  REQUIRE(t.size() == 1);
  CHECK(t.at("y").to_vector<float>() == std::vector<float>{5, 5});
  CHECK(fs::file_size(path) < 100);  // nothing of the larger old file remains
  // a failed save leaves the old file as it was and no temporary behind
  CHECK_ERROR(save_safetensors(path, {{"bad", Tensor()}}), "[save_safetensors] '" + path + "': tensor 'bad' is undefined");
  CHECK_ERROR(save_safetensors(path, {{"__metadata__", ones({1})}}), "invalid tensor name '__metadata__'");
  CHECK_ERROR(save_safetensors(tmp / "no/such/dir/x.safetensors", {{"a", ones({1})}}), "cannot create");
  CHECK(tmp.count() == 1);
  CHECK(load_safetensors(path).at("y").to_vector<float>() == std::vector<float>{5, 5});
}

TEST_CASE("checkpoints restore a model and its optimizer") {
  TempDir tmp;
  const std::string path = tmp / "ckpt.safetensors";
  Tiny a(3, 0.5);
  optim::SGD opt(a.parameters(), {.lr = 0.1, .momentum = 0.9});
  a.w.set_grad(full({3, 2}, 1.0));
  a.b.set_grad(full({3}, 2.0));
  opt.step();
  save_checkpoint(path, a, &opt, {{"epoch", "4"}});
  auto raw = load_safetensors(path);
  CHECK(raw.count("model.w"));
  CHECK(raw.count("model.count"));
  CHECK(raw.count("optim.state.1.momentum_buffer"));

  Tiny b(3, 9.0);
  optim::SGD opt_b(b.parameters(), {.lr = 0.1, .momentum = 0.9});
  auto meta = load_checkpoint(path, b, &opt_b);
  CHECK(meta.at("epoch") == "4");
  CHECK(meta.at("memgrad.optimizer") == "SGD");
  CHECK(flat(b.w) == flat(a.w));
  CHECK(flat(b.b) == flat(a.b));
  CHECK(opt_b.state(1).buffers.at("momentum_buffer").to_vector<float>() == std::vector<float>{2, 2, 2});
  // the model alone, ignoring the optimizer state in the file
  Tiny c(3, 9.0);
  load_checkpoint(path, c);
  CHECK(flat(c.w) == flat(a.w));
  // without an optimizer in the file, asking for one is an error
  save_checkpoint(path, a);
  optim::SGD opt_c(c.parameters());
  CHECK_ERROR(load_checkpoint(path, c, &opt_c), "[load_checkpoint] '" + path + "': the file holds no optimizer state");
}

TEST_CASE("a bad checkpoint leaves the model and the optimizer unchanged") {
  TempDir tmp;
  const std::string path = tmp / "ckpt.safetensors";
  Tiny src(3, 0.5);
  optim::Adam src_opt(src.parameters(), {.lr = 0.1});
  src.w.set_grad(full({3, 2}, 1.0));
  src_opt.step();
  save_checkpoint(path, src, &src_opt);

  Tiny dst(3, 2.0);
  optim::Adam dst_opt(dst.parameters(), {.lr = 0.01});
  dst.w.set_grad(full({3, 2}, -1.0));
  dst.b.set_grad(full({3}, -1.0));
  dst_opt.step();
  const auto w0 = flat(dst.w), b0 = flat(dst.b);
  const auto m0 = dst_opt.state(0).buffers.at("exp_avg").to_vector<float>();
  auto unchanged = [&] {
    CHECK(flat(dst.w) == w0);
    CHECK(flat(dst.b) == b0);
    CHECK(dst_opt.lr() == 0.01);
    CHECK(dst_opt.state(0).buffers.at("exp_avg").to_vector<float>() == m0);
    CHECK(dst_opt.state(1).step == 1);
  };

  // the model's shapes differ
  Tiny wide(4, 0.5);
  save_checkpoint(tmp / "wide.safetensors", wide);
  CHECK_ERROR(load_checkpoint(tmp / "wide.safetensors", dst, &dst_opt),
              "[load_checkpoint] '" + (tmp / "wide.safetensors") + "': tensor 'model.b' is [4] float32 in the file but [3] float32 in the model");
  unchanged();

  // the model fits but one optimizer buffer has the wrong shape: found before the model changes
  auto t = load_safetensors(path);
  t["optim.state.0.exp_avg_sq"] = zeros({2, 3});
  save_safetensors(tmp / "bad_opt.safetensors", t, {{"memgrad.optimizer", "Adam"}});
  CHECK_ERROR(load_checkpoint(tmp / "bad_opt.safetensors", dst, &dst_opt),
              "'state.0.exp_avg_sq' has shape [2, 3] float32 but parameter 0 is [3, 2] float32");
  unchanged();

  // an unknown tensor, a missing one, another optimizer's state
  t = load_safetensors(path);
  t["extra"] = ones({1});
  save_safetensors(tmp / "extra.safetensors", t);
  CHECK_ERROR(load_checkpoint(tmp / "extra.safetensors", dst, &dst_opt), "tensor 'extra' is neither");
  t.erase("extra");
  t.erase("model.count");
  save_safetensors(tmp / "missing.safetensors", t);
  CHECK_ERROR(load_checkpoint(tmp / "missing.safetensors", dst, &dst_opt), "tensor 'model.count' (shape [] int64) is missing");
  optim::SGD sgd(dst.parameters());
  CHECK_ERROR(load_checkpoint(path, dst, &sgd), "optimizer state is from Adam, not SGD");
  unchanged();

  // step counts beyond 2^53 (found by fuzz_safetensors: INT64_MAX went through a double and back,
  // undefined behaviour) or below the minimum
  for (int64_t bad : {std::numeric_limits<int64_t>::max(), (int64_t{1} << 53) + 1, int64_t{-1}}) {
    CAPTURE(bad);
    t = load_safetensors(path);
    t["optim.step"] = full({}, 0, DType::int64);
    t["optim.step"].data<int64_t>()[0] = bad;
    save_safetensors(tmp / "step.safetensors", t, {{"memgrad.optimizer", "Adam"}});
    CHECK_ERROR(load_checkpoint(tmp / "step.safetensors", dst, &dst_opt), "'step' must be in [0, 2^53]");
    t = load_safetensors(path);
    t["optim.state.0.step"] = full({}, 0, DType::int64);
    t["optim.state.0.step"].data<int64_t>()[0] = bad;
    save_safetensors(tmp / "step.safetensors", t, {{"memgrad.optimizer", "Adam"}});
    CHECK_ERROR(load_checkpoint(tmp / "step.safetensors", dst, &dst_opt), "'state.0.step' must be in [1, 2^53]");
    unchanged();
  }

  load_checkpoint(path, dst, &dst_opt);  // the good file still loads
  CHECK(flat(dst.w) == flat(src.w));
  CHECK(dst_opt.lr() == 0.1);
}

TEST_CASE("hostile headers: deep nesting, duplicates, limits and foreign bytes give errors, never a crash") {
  TempDir tmp;
  const std::string p = tmp / "bad.safetensors";
  const std::string in_p = "[load_safetensors] '" + p + "'";
  auto load = [&] { return load_safetensors(p); };
  const std::string ok = R"({"dtype":"F32","shape":[1],"data_offsets":[0,4]})";

  // Deeply nested JSON (the old reader overflowed the stack formatting the value into its message).
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  write_file(p, "{\"a\":" + deep + "}", "");
  CHECK_ERROR(load(), in_p + ": tensor 'a': entry must be an object, got an array");
  write_file(p, R"({"a":{"dtype":"F32","shape":)" + deep + "}}", "");
  CHECK_ERROR(load(), in_p + ": tensor 'a': shape must hold non-negative integers, got an array");
  write_file(p, R"({"__metadata__":{"k":)" + deep + "}}", "");
  CHECK_ERROR(load(), in_p + ": __metadata__ 'k' must be a string, got an array");
  write_file(p, deep, "");
  CHECK_ERROR(load(), in_p + ": header must be a JSON object, got an array");
  // unknown fields are ignored, up to a nesting depth
  write_file(p, R"({"a":{"dtype":"F32","note":{"x":[1,{"y":null}]},"shape":[1],"data_offsets":[0,4]}})",
             std::string(4, '\0'));
  CHECK(load().at("a").shape() == Shape{1});
  write_file(p, R"({"a":{"dtype":"F32","note":)" + deep + R"(,"shape":[1],"data_offsets":[0,4]}})",
             std::string(4, '\0'));
  CHECK_ERROR(load(), in_p + ": tensor 'a': an unknown field nests deeper than 64 levels");

  // A name twice (JSON parsers silently keep one of them), a field twice, __metadata__ twice.
  write_file(p, "{\"a\":" + ok + ",\"a\":" + ok + "}", std::string(4, '\0'));
  CHECK_ERROR(load(), in_p + ": the header lists tensor 'a' twice");
  write_file(p, R"({"a":{"dtype":"F32","dtype":"F64","shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0'));
  CHECK_ERROR(load(), in_p + ": tensor 'a': \"dtype\" appears twice");
  write_file(p, R"({"__metadata__":{"k":"1"},"__metadata__":{}})", "");
  CHECK_ERROR(load(), in_p + ": the header has \"__metadata__\" twice");
  write_file(p, R"({"__metadata__":{"k":"1","k":"2"}})", "");
  CHECK_ERROR(load(), in_p + ": __metadata__ has the key 'k' twice");

  // An empty name (save_safetensors writes none, so the reader refuses it too).
  write_file(p, "{\"\":" + ok + "}", std::string(4, '\0'));
  CHECK_ERROR(load(), in_p + ": a tensor has an empty name");

  // Dtypes memgrad lacks name the file, the tensor and the dtype.
  for (const char* dtype : {"U64", "U8", "I8", "I16", "U16", "U32", "BF16", "F8_E4M3"}) {
    write_file(p, std::string(R"({"w":{"dtype":")") + dtype + R"(","shape":[1],"data_offsets":[0,8]}})",
               std::string(8, '\0'));
    CHECK_ERROR(load(), in_p + ": tensor 'w': unsupported dtype \"" + dtype + "\" (memgrad reads F32, F64, I32, I64, BOOL");
  }

  // Limits: tensors, dims (the header size limit is checked before anything is read).
  std::string many = "{";
  for (size_t i = 0; i <= SafetensorsLimits::max_tensors; ++i)
    many += fmt::format("{}\"t{}\":{{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", i ? "," : "", i);
  write_file(p, many + "}", "");
  CHECK_ERROR(load(), in_p + ": the header lists more than 100000 tensors, the limit");
  std::string dims = "[1";
  for (size_t i = 0; i < SafetensorsLimits::max_dims; ++i) dims += ",1";
  write_file(p, R"({"w":{"dtype":"F32","shape":)" + dims + R"(],"data_offsets":[0,4]}})", std::string(4, '\0'));
  CHECK_ERROR(load(), in_p + ": tensor 'w': shape has more than 64 dims");
  write_bytes(p, u64_le(SafetensorsLimits::max_header_bytes + 8));
  fs::resize_file(p, 16 + SafetensorsLimits::max_header_bytes);  // sparse: no disk used
  CHECK_ERROR(load(), in_p + ": header length 100000008 exceeds the limit of 100000000 bytes");

  // Bytes from the file appear escaped and short: a NUL no longer cuts the message, a huge value
  // is not copied whole into it.
  write_file(p, R"({"a\u0000b\u001b":{"dtype":"X","shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0'));
  CHECK_ERROR(load(), in_p + ": tensor 'a\\x00b\\x1b': unsupported dtype \"X\"");
  write_file(p, R"({"w":{"dtype":")" + std::string(100000, 'x') + R"(","shape":[1],"data_offsets":[0,4]}})",
             std::string(4, '\0'));
  try {
    load();
    FAIL("no error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.size() < 400);
    CHECK(msg.find("unsupported dtype \"xxxx") != std::string::npos);
    CHECK(msg.find("...") != std::string::npos);
  }
  write_file(p, "{\"w\":\"" + std::string(100000, 'y'), "");  // unterminated: the parser's message is cut too
  try {
    load();
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).size() < 600);
    CHECK(std::string(e.what()).find("header is not valid JSON") != std::string::npos);
  }
  const std::string odd = tmp / "caf\xe9.safetensors";  // a Latin-1 file name
  CHECK_ERROR(load_safetensors(odd), "[load_safetensors] '" + (tmp / "caf\\xe9.safetensors") + "': cannot open");
}

TEST_CASE("save_safetensors refuses what load_safetensors would refuse, and removes stale temporaries") {
  TempDir tmp;
  const std::string p = tmp / "out.safetensors";
  CHECK_ERROR(save_safetensors(p, {{"w", ones(Shape(SafetensorsLimits::max_dims + 1, 1))}}),
              "tensor 'w' has 65 dims, more than the 64 that load_safetensors reads");
  CHECK_ERROR(save_safetensors(p, {{"bad \xff", ones({1})}}), "invalid tensor name 'bad \\xff'");
  CHECK_ERROR(save_safetensors(p, {{"w", ones({1})}}, {{"k", "\xc3"}}), "metadata 'k' = '\\xc3' is not valid UTF-8");
  CHECK(!fs::exists(p));
  // a temporary of a writer that was killed (its pid is gone) goes; one of a live process stays
  const std::string stale = p + ".tmp.2147483647.3", live = p + ".tmp." + std::to_string(::getpid()) + ".999999";
  write_bytes(stale, "partial");
  write_bytes(live, "partial");
  save_safetensors(p, {{"w", ones({2})}});
  CHECK(!fs::exists(stale));
  CHECK(fs::exists(live));
  CHECK(load_safetensors(p).at("w").to_vector<float>() == std::vector<float>{1, 1});
}
