// Fuzzes the Pathfinder / Path-X loader: the input bytes are the metadata file
// <base>/metadata/0.npy of a scratch folder that holds 32 x 32 PNGs (imgs/0/sample_{0..3}.png),
// an empty image (skipped), an undecodable one, one of another size, and ways out of the folder
// (a file outside it, a symbolic link to that file and one to its folder); make_task loads it.
// Paths that leave the folder, bad images, bad lines: each must be a memgrad::Error, never a read
// outside the folder: the image there is a valid 32 x 32 PNG of gray level 251, and the target
// aborts when an example holds it. Seeds: fuzz/corpus/pathfinder/.
#include <algorithm>

#include "examples/lra/lra.h"
#include "core/error.h"
#include "lra_fuzz_util.h"

#include "tests/stb_image_write_static.h"

namespace {

namespace fs = std::filesystem;

// A side x side gray PNG of one value.
std::string png(int side, unsigned char value) {
  std::vector<unsigned char> px(static_cast<size_t>(side) * side, value);
  int len = 0;
  unsigned char* mem = stbi_write_png_to_mem(px.data(), side, side, side, 1, &len);
  if (!mem) std::abort();
  std::string out(reinterpret_cast<char*>(mem), static_cast<size_t>(len));
  STBIW_FREE(mem);
  return out;
}

constexpr unsigned char kOutsideValue = 251;  // the gray level of the image outside the folder

// The folder, made once per process: <scratch>/pathfinder/{data,outside}.
const fs::path& base() {
  static const fs::path dir = [] {
    using memgrad::fuzz::put;
    const fs::path root = memgrad::fuzz::fresh_dir("pathfinder"), data = root / "data";
    for (int i = 0; i < 4; ++i) put(data / "imgs" / "0" / ("sample_" + std::to_string(i) + ".png"), png(32, 10 * i));
    put(data / "imgs" / "0" / "empty.png", "");
    put(data / "imgs" / "0" / "bad.png", "\x89PNG\r\n\x1a\nnot really");
    put(data / "imgs" / "1" / "big.png", png(64, 3));
    put(root / "outside" / "secret.png", png(32, kOutsideValue));
    fs::create_symlink(root / "outside" / "secret.png", data / "imgs" / "0" / "link.png");
    fs::create_directory_symlink(root / "outside", data / "imgs" / "out");
    fs::create_directory_symlink(data / "imgs" / "0", data / "imgs" / "alias");
    fs::create_directories(data / "metadata");
    return data;
  }();
  return dir;
}

bool from_outside(const std::vector<memgrad::lra::Example>& v) {
  return std::any_of(v.begin(), v.end(), [](const auto& e) {
    return !e.tokens.empty() && e.tokens[0] == memgrad::lra::byte_token(kOutsideValue);
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memgrad;
  memgrad::fuzz::put(base() / "metadata" / "0.npy", fuzz::as_text(data, size));
  lra::TaskConfig c;
  c.task = "pathfinder";
  c.data_dir = base().string();
  try {
    const lra::Dataset ds = lra::make_task(c);
    if (from_outside(ds.train) || from_outside(ds.val) || from_outside(ds.test)) std::abort();  // read outside
  } catch (const Error&) {
  }
  return 0;
}
