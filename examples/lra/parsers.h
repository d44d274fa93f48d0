#pragma once
// The parsers under the loaders of loaders.h, on bytes already in memory: the loaders call them
// on each file they read, the fuzz targets (fuzz/fuzz_*.cpp) on arbitrary bytes. `file` names
// the source in messages. Malformed input throws memgrad::Error naming the file and the line or
// record, with quoted content escaped (io::quote); nothing else is thrown. Text files may start
// with a UTF-8 byte-order mark, which is skipped; a UTF-16/32 one is an error.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "examples/lra/dataset.h"

namespace memgrad::lra {

// ListOps basic_<split>.tsv: the header "Source\tTarget", then "source\tlabel" lines; sources cut
// to max_len tokens. Appends to out.
void parse_listops_tsv(std::string_view text, const std::filesystem::path& file, int64_t max_len,
                       std::vector<Example>& out);
// Retrieval new_aan_pairs.<split>.tsv: "label\tid1\tid2\ttext1\ttext2" lines, texts cut to max_len.
void parse_aan_tsv(std::string_view text, const std::filesystem::path& file, int64_t max_len,
                   std::vector<Example>& out);
// CIFAR-10 binary batch: records of 1 label byte + 3072 pixel bytes, converted to gray.
void parse_cifar_batch(std::string_view bytes, const std::filesystem::path& file, std::vector<Example>& out);
// One IMDB review: its bytes as tokens, cut to max_len (a leading UTF-8 BOM is not part of it).
Example parse_imdb_review(std::string_view bytes, const std::filesystem::path& file, int32_t label, int64_t max_len);

// One line of a Pathfinder metadata file.
struct PathfinderEntry {
  std::string image;  // "<field 1>/<field 2>", relative to the data folder (io::check_relative_path passed)
  int64_t line = 0;   // 1-based, for messages
  int32_t label = 0;
};
// A Pathfinder metadata (.npy, text) file: lines of >= 4 blank-separated fields; appends to out.
// Image paths that are absolute or have a ".." component are refused here, symlinks that lead
// out of the data folder when the loader resolves them.
void parse_pathfinder_metadata(std::string_view text, const std::filesystem::path& file,
                               std::vector<PathfinderEntry>& out);

// The width and height in a PNG's header, read without decoding a pixel (other image formats
// are not read); false with a reason ("cannot decode PNG (...)") when the header is unusable.
bool read_image_size(std::string_view bytes, int& width, int& height, std::string& reason);
// Decodes a PNG to side x side 8-bit gray pixels. The header is checked first: an image that
// claims another size (a 389 KB PNG may claim 20000 x 20000 pixels) is refused before the decoder
// runs or allocates. While decoding, no block larger than 2 x the file's size + 8 x side^2 bytes
// (+ 64 KiB) is allocated: a chunk length that claims gigabytes or a compressed stream that
// inflates beyond the image (a zlib bomb) fails instead. False with a reason ("image is WxH,
// expected SxS", "cannot decode PNG (...)").
bool decode_gray_image(std::string_view bytes, int64_t side, std::vector<uint8_t>& pixels, std::string& reason);
// The largest single block the image decoder has allocated so far, in bytes (tests check that a
// refused header cost no decoding).
int64_t image_decoder_largest_allocation();

}  // namespace memgrad::lra
