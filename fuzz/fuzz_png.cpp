// Fuzzes the PNG decoding under the Pathfinder loader: read_image_size on the input bytes, then
// decode_gray_image at the size the header claims when that is at most 256 x 256 (square or
// not: a non-square image must be refused), else at 32 x 32 (refused on the header). Only a
// false return is allowed; a crash, leak or UB report in stb_image is a finding.
// Seeds: fuzz/corpus/png/ (fuzz/make_corpus_lra.py: gray, gray+alpha, RGB, RGBA, palette,
// 16-bit, interlaced).
#include "examples/lra/parsers.h"
#include "core/error.h"
#include "lra_fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memgrad;
  const std::string_view bytes = fuzz::as_text(data, size);
  int w = 0, h = 0;
  std::string reason;
  if (!lra::read_image_size(bytes, w, h, reason)) return 0;
  std::vector<uint8_t> pixels;
  const int64_t side = w <= 256 && h <= 256 ? w : 32;
  if (lra::decode_gray_image(bytes, side, pixels, reason) && pixels.size() != static_cast<size_t>(side * side))
    std::abort();  // a decoded image of another size than promised
  return 0;
}
