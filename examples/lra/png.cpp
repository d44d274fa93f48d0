// The one stb_image implementation (Debian's libstb-dev, header <stb/stb_image.h>).
#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_NO_STDIO
#define STBI_FAILURE_USERMSG
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

namespace memgrad::lra {

bool decode_gray_image(const std::string& bytes, std::vector<uint8_t>& pixels, int& width, int& height,
                       std::string& reason) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    reason = "file too large";
    return false;
  }
  int channels = 0;
  stbi_uc* data = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()),
                                        &width, &height, &channels, 1);
  if (!data) {
    const char* why = stbi_failure_reason();
    reason = why ? why : "unknown error";
    return false;
  }
  pixels.assign(data, data + static_cast<size_t>(width) * static_cast<size_t>(height));
  stbi_image_free(data);
  return true;
}

}  // namespace memgrad::lra
