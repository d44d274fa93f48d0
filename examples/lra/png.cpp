// The one stb_image implementation (Debian's libstb-dev, header <stb/stb_image.h>), PNG only, and
// the checks around it: the header is read before any pixel is decoded.
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>  // before the memcpy macro below: its declarations stay as they are
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "examples/lra/parsers.h"

namespace memgrad::lra {
namespace {

// The largest single block stb_image has asked for (image_decoder_largest_allocation).
std::atomic<int64_t> largest_allocation{0};
// While a call below runs: the largest block stb_image may have (-1: no limit), and whether it
// asked for more. A PNG's chunk lengths and its compressed stream are not checked against the
// header by stb_image: a 100-byte file may ask for 2 GiB (an IDAT length field) and a small one
// may inflate to gigabytes (a zlib bomb). Refusing the block makes stb_image fail cleanly.
thread_local int64_t allocation_limit = -1;
thread_local bool over_limit = false;

bool allowed(size_t size) {
  if (allocation_limit >= 0 && size > static_cast<uint64_t>(allocation_limit)) {
    over_limit = true;
    return false;
  }
  const auto s = static_cast<int64_t>(size);
  int64_t seen = largest_allocation.load(std::memory_order_relaxed);
  while (s > seen && !largest_allocation.compare_exchange_weak(seen, s, std::memory_order_relaxed)) {
  }
  return true;
}
void* counted_malloc(size_t size) { return allowed(size) ? std::malloc(size) : nullptr; }
void* counted_realloc(void* p, size_t size) { return allowed(size) ? std::realloc(p, size) : nullptr; }

// Sets the limit for one call into stb_image: what a file of `bytes` bytes decoding to
// width x height pixels can legitimately need (the compressed data gathered from its IDAT chunks,
// twice for the buffer's doubling; the inflated rows and the image at up to 8 bytes a pixel:
// 16-bit RGBA; row filter bytes, Adam7 passes), with room to spare.
struct AllocationLimit {
  AllocationLimit(size_t bytes, int64_t width, int64_t height) {
    allocation_limit = 2 * static_cast<int64_t>(bytes) + 8 * width * height + 16 * height + (int64_t{1} << 16);
    over_limit = false;
  }
  ~AllocationLimit() { allocation_limit = -1; }
};

// memcpy for stb_image: it copies a zero-length IDAT chunk into a buffer it has not allocated yet
// (memcpy(NULL, src, 0): undefined behaviour, found by fuzz/fuzz_png.cpp); zero bytes copy nothing.
void* copy_bytes(void* to, const void* from, size_t n) { return n == 0 ? to : std::memcpy(to, from, n); }

}  // namespace
}  // namespace memgrad::lra

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_NO_STDIO
#define STBI_ONLY_PNG  // the loaders read PNG only: the other decoders are not compiled in
#define STBI_FAILURE_USERMSG
#define STBI_MALLOC(size) memgrad::lra::counted_malloc(size)
#define STBI_REALLOC(p, size) memgrad::lra::counted_realloc(p, size)
#define STBI_FREE(p) std::free(p)
#define memcpy(to, from, n) memgrad::lra::copy_bytes(to, from, n)
#include <stb/stb_image.h>
#undef memcpy
#pragma GCC diagnostic pop

namespace memgrad::lra {

namespace {

const stbi_uc* data_of(std::string_view bytes) { return reinterpret_cast<const stbi_uc*>(bytes.data()); }

std::string failure() {
  const char* why = stbi_failure_reason();
  return why ? why : "unknown error";
}

}  // namespace

bool read_image_size(std::string_view bytes, int& width, int& height, std::string& reason) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    reason = "cannot decode PNG (file too large)";
    return false;
  }
  int channels = 0;
  const AllocationLimit limit(bytes.size(), 0, 0);
  if (!stbi_info_from_memory(data_of(bytes), static_cast<int>(bytes.size()), &width, &height, &channels)) {
    reason = fmt::format("cannot decode PNG ({})", failure());
    return false;
  }
  if (width < 1 || height < 1 || channels < 1 || channels > 4) {
    reason = fmt::format("cannot decode PNG (the header claims {}x{} pixels of {} channels)", width, height, channels);
    return false;
  }
  return true;
}

bool decode_gray_image(std::string_view bytes, int64_t side, std::vector<uint8_t>& pixels, std::string& reason) {
  int width = 0, height = 0, channels = 0;
  if (!read_image_size(bytes, width, height, reason)) return false;
  if (width != side || height != side) {  // refused on the header: nothing decoded, nothing allocated
    reason = fmt::format("image is {}x{}, expected {}x{}", width, height, side, side);
    return false;
  }
  stbi_uc* data = nullptr;
  {
    const AllocationLimit limit(bytes.size(), width, height);
    data = stbi_load_from_memory(data_of(bytes), static_cast<int>(bytes.size()), &width, &height, &channels, 1);
    if (!data && over_limit) {
      reason = fmt::format("cannot decode PNG (it needs more memory than a {}x{} image and a file of {} bytes can: "
                           "a chunk length or the compressed data is corrupt)", side, side, bytes.size());
      return false;
    }
  }
  if (!data) {
    reason = fmt::format("cannot decode PNG ({})", failure());
    return false;
  }
  const bool same = width == side && height == side;  // as the header said (the decoder reads it again)
  if (same) pixels.assign(data, data + static_cast<size_t>(width) * static_cast<size_t>(height));
  stbi_image_free(data);
  if (!same) reason = fmt::format("image is {}x{}, expected {}x{}", width, height, side, side);
  return same;
}

int64_t image_decoder_largest_allocation() { return largest_allocation.load(std::memory_order_relaxed); }

}  // namespace memgrad::lra
