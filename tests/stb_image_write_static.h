#pragma once
// stb_image_write for the tests and fuzz targets that make PNG files: a static copy in each
// translation unit that includes this (STB_IMAGE_WRITE_STATIC), so several may in one binary;
// the library's own warnings are silenced.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop
