// The LRA loaders on bad files (examples/lra/loaders.h, parsers.h): paths that leave the data
// folder, byte-order marks, image headers that claim huge sizes, numbers that overflow, control
// bytes in quoted content. Built when the examples are (MEMGRAD_HAVE_LRA).
#ifdef MEMGRAD_HAVE_LRA
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "examples/lra/lra.h"
#include "examples/lra/parsers.h"
#include "tests/error_test_util.h"
#include "tests/lra_test_util.h"

#include "tests/stb_image_write_static.h"

using namespace memgrad;
namespace fs = std::filesystem;
using lra_test::TempDir;
using lra_test::write_file;

namespace {

const std::string kBom = "\xEF\xBB\xBF";

// A side x side gray PNG of one value.
std::string png(int side, unsigned char value = 7) {
  std::vector<unsigned char> px(static_cast<size_t>(side) * side, value);
  int len = 0;
  unsigned char* mem = stbi_write_png_to_mem(px.data(), side, side, side, 1, &len);
  REQUIRE(mem != nullptr);
  std::string out(reinterpret_cast<char*>(mem), static_cast<size_t>(len));
  STBIW_FREE(mem);
  return out;
}

// The 4-byte big-endian form of v.
std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// A PNG whose header claims width x height 8-bit gray pixels, followed by a few bytes of IDAT:
// small on disk, huge once decoded (CRCs are zero; stb_image does not check them).
std::string png_claiming(uint32_t width, uint32_t height) {
  std::string ihdr = be32(width) + be32(height) + std::string("\x08\x00\x00\x00\x00", 5);
  std::string s = "\x89PNG\r\n\x1a\n";
  s += be32(13) + "IHDR" + ihdr + be32(0);
  s += be32(8) + "IDAT" + std::string("\x78\x9c\x63\x00\x00\x00\x01\x00", 8) + be32(0);
  s += be32(0) + "IEND" + be32(0);
  return s;
}

// A Pathfinder folder (base/metadata/0.npy, base/imgs/0/sample_<i>.png) of n 32x32 images.
lra::TaskConfig pathfinder_dir(const fs::path& base, int n) {
  std::string meta;
  for (int i = 0; i < n; ++i) {
    write_file(base / "imgs" / "0" / ("sample_" + std::to_string(i) + ".png"), png(32, static_cast<unsigned char>(i)));
    meta += "imgs/0 sample_" + std::to_string(i) + ".png 0 " + std::to_string(i % 2) + "\n";
  }
  write_file(base / "metadata" / "0.npy", meta);
  lra::TaskConfig c;
  c.task = "pathfinder";
  c.data_dir = base.string();
  return c;
}

}  // namespace

TEST_CASE("lra loaders: a path from a metadata file stays inside the data folder") {
  TempDir d;
  const fs::path base = d.path / "data";
  lra::TaskConfig c = pathfinder_dir(base, 10);
  REQUIRE(lra::make_task(c).train.size() == 8);
  const std::string tail = "imgs/0 sample_1.png 0 1\n";  // the other lines stay valid

  // "/etc passwd 0 1" read /etc/passwd (and failed only on decoding it).
  write_file(base / "metadata" / "0.npy", "/etc passwd 0 1\n" + tail);
  check_error([&] { lra::make_task(c); }, {"0.npy:1:", "'/etc/passwd' is absolute"});
  write_file(base / "metadata" / "0.npy", tail + "imgs/0/../../.. outside.png 0 1\n");
  check_error([&] { lra::make_task(c); }, {"0.npy:2:", "'..' component"});
  write_file(base / "metadata" / "0.npy", "imgs ../sample_0.png 0 1\n");
  check_error([&] { lra::make_task(c); }, {"0.npy:1:", "'..' component"});
  const char with_nul[] = "imgs/0\0/x sample_0.png 0 1\n";
  write_file(base / "metadata" / "0.npy", std::string(with_nul, sizeof(with_nul) - 1));
  check_error([&] { lra::make_task(c); }, {"0.npy:1:", "NUL byte", "imgs/0\\x00/x"});

  // Symbolic links: out of the folder refused (file or folder), within it followed.
  write_file(d.path / "outside" / "secret.png", png(32));
  fs::create_symlink(d.path / "outside" / "secret.png", base / "imgs" / "0" / "link.png");
  fs::create_directory_symlink(d.path / "outside", base / "imgs" / "out");
  fs::create_directory_symlink(base / "imgs" / "0", base / "imgs" / "alias");
  for (const char* line : {"imgs/0 link.png 0 1\n", "imgs/out secret.png 0 1\n"}) {
    CAPTURE(line);
    write_file(base / "metadata" / "0.npy", line);
    check_error([&] { lra::make_task(c); }, {"0.npy:1:", "outside the data folder", "symbolic link"});
  }
  write_file(base / "metadata" / "0.npy", "imgs/alias sample_3.png 0 1\n");
  CHECK(lra::make_task(c).test.size() == 1);
  // The data folder itself may be reached through a link.
  fs::create_directory_symlink(base, d.path / "data_link");
  c.data_dir = (d.path / "data_link").string();
  CHECK(lra::make_task(c).test.size() == 1);
}

TEST_CASE("lra loaders: a UTF-8 byte-order mark at the start of a text file is skipped") {
  TempDir d;
  const std::string header = "Source\tTarget\n";
  for (const char* split : {"train", "val", "test"})
    write_file(d.path / (std::string("basic_") + split + ".tsv"), kBom + header + "[MAX 2 9 ]\t9\n");
  lra::TaskConfig c;
  c.task = "listops";
  c.data_dir = d.path.string();
  CHECK(lra::make_task(c).train.at(0).label == 9);

  for (const char* part : {"train", "eval", "test"})
    write_file(d.path / (std::string("new_aan_pairs.") + part + ".tsv"), kBom + "1\ta\tb\tx\ty\n");
  c.task = "retrieval";
  auto aan = lra::make_task(c);
  CHECK(aan.train.at(0).label == 1);
  CHECK(aan.train.at(0).tokens == std::vector<int32_t>{'x' + 1});

  const fs::path base = d.path / "pf";
  lra::TaskConfig p = pathfinder_dir(base, 10);
  write_file(base / "metadata" / "0.npy", kBom + "imgs/0 sample_0.png 0 1\n");
  CHECK(lra::make_task(p).test.at(0).label == 1);

  const lra::Example review = lra::parse_imdb_review(kBom + "ok", "r.txt", 1, 100);
  CHECK(review.tokens == std::vector<int32_t>{'o' + 1, 'k' + 1});
  check_error([] { lra::parse_imdb_review(kBom, "r.txt", 1, 100); }, {"r.txt", "empty review"});

  // UTF-16 is named as such, not reported as a bad header or label.
  std::vector<lra::Example> out;
  check_error([&] { lra::parse_listops_tsv("\xFF\xFES\0o\0", "basic_train.tsv", 10, out); },
              {"basic_train.tsv", "UTF-16", "save it as UTF-8"});
  std::vector<lra::PathfinderEntry> entries;
  check_error([&] { lra::parse_pathfinder_metadata("\xFE\xFF\0i", "0.npy", entries); }, {"0.npy", "UTF-16"});
}

TEST_CASE("lra loaders: an image header is checked before the image is decoded") {
  // A 90-byte file claiming 20000 x 20000 pixels (400 MB decoded): refused on its header, the
  // decoder never runs: it allocates nothing larger than it had before.
  const int64_t before = std::max<int64_t>(lra::image_decoder_largest_allocation(), 64 << 10);
  const std::string bomb = png_claiming(20000, 20000);
  int w = 0, h = 0;
  std::string reason;
  REQUIRE(lra::read_image_size(bomb, w, h, reason));
  CHECK(w == 20000);
  CHECK(h == 20000);
  std::vector<uint8_t> pixels;
  CHECK_FALSE(lra::decode_gray_image(bomb, 32, pixels, reason));
  CHECK(reason == "image is 20000x20000, expected 32x32");
  // A real image that decodes to 4 MiB, given where 32 x 32 is expected: refused the same way.
  const std::string big = png(2048);
  CHECK_FALSE(lra::decode_gray_image(big, 32, pixels, reason));
  CHECK(reason == "image is 2048x2048, expected 32x32");
  CHECK(lra::image_decoder_largest_allocation() <= before);

  // Through the loader: the error names the image and the metadata line.
  TempDir d;
  const fs::path base = d.path / "data";
  lra::TaskConfig c = pathfinder_dir(base, 10);
  write_file(base / "imgs" / "0" / "sample_9.png", bomb);
  check_error([&] { lra::make_task(c); }, {"sample_9.png", "image is 20000x20000, expected 32x32", "0.npy:10"});
  CHECK(lra::image_decoder_largest_allocation() <= before);

  // Headers that cannot be read, or claim nothing: errors, not crashes.
  for (const std::string& bad : {std::string(), std::string("\x89PNG\r\n\x1a\n"), png_claiming(0, 5),
                                 png_claiming(0x80000000u, 1), bomb.substr(0, 20)}) {
    CHECK_FALSE(lra::decode_gray_image(bad, 32, pixels, reason));
    CHECK(reason.find("cannot decode PNG") == 0);
  }
  // A chunk length claiming 2 GiB in a small file (stb_image allocated it before reading), and a
  // 32 x 32 header over a stream that inflates to 4 MiB (a zlib bomb): refused, nothing large
  // allocated (both found by fuzz/fuzz_png.cpp, the first as an out-of-memory).
  std::string long_chunk = png(32);
  long_chunk.replace(long_chunk.find("IDAT") - 4, 4, be32(0x7ffffff0u));
  std::string inflating = png_claiming(32, 32);
  {
    std::vector<unsigned char> zeros(4 << 20, 0);
    int len = 0;
    unsigned char* z = stbi_zlib_compress(zeros.data(), static_cast<int>(zeros.size()), &len, 9);
    REQUIRE(z != nullptr);
    const size_t at = inflating.find("IDAT") - 4, old_len = 4 + 4 + 8 + 4;  // the IDAT chunk of 8 bytes
    inflating.replace(at, old_len, be32(static_cast<uint32_t>(len)) + "IDAT" + std::string(reinterpret_cast<char*>(z), len) +
                                       be32(0));
    STBIW_FREE(z);
  }
  for (const std::string& bad : {long_chunk, inflating}) {
    CHECK_FALSE(lra::decode_gray_image(bad, 32, pixels, reason));
    CHECK(reason.find("cannot decode PNG (it needs more memory than a 32x32 image") == 0);
    CHECK(lra::image_decoder_largest_allocation() <= std::max<int64_t>(before, 2 * bad.size() + (80 << 10)));
  }
  // A zero-length IDAT chunk before the image data (legal PNG) made stb_image memcpy into a null
  // buffer (undefined behaviour; fuzz/fuzz_png.cpp found it; the ASan+UBSan build checks this).
  std::string empty_idat = png(32);
  const size_t idat = empty_idat.find("IDAT") - 4;
  empty_idat.insert(idat, be32(0) + "IDAT" + be32(0x35af061e));  // CRC of "IDAT"
  REQUIRE(lra::decode_gray_image(empty_idat, 32, pixels, reason));
  CHECK(pixels == std::vector<uint8_t>(32 * 32, 7));
  // The meter is real: decoding the large image at its own size allocates its 4 MiB.
  REQUIRE(lra::decode_gray_image(big, 2048, pixels, reason));
  CHECK(pixels.size() == 2048u * 2048u);
  CHECK(lra::image_decoder_largest_allocation() >= 2048 * 2048);
}

TEST_CASE("lra loaders: numbers that overflow and control bytes are clear errors") {
  std::vector<lra::Example> out;
  check_error([&] { lra::parse_listops_tsv("Source\tTarget\n3\t99999999999999999999\n", "l.tsv", 10, out); },
              {"l.tsv:2:", "label '99999999999999999999' is not an integer in [0, 10)"});
  check_error([&] { lra::parse_listops_tsv("Source\tTarget\n3\t-9223372036854775808\n", "l.tsv", 10, out); },
              {"l.tsv:2:", "is not an integer"});
  check_error([&] { lra::parse_aan_tsv("1e400\ta\tb\tx\ty\n", "a.tsv", 10, out); }, {"a.tsv:1:", "label '1e400'"});
  check_error([&] { lra::parse_aan_tsv("nan\ta\tb\tx\ty\n", "a.tsv", 10, out); }, {"a.tsv:1:", "label 'nan'"});
  std::vector<lra::PathfinderEntry> entries;
  check_error([&] { lra::parse_pathfinder_metadata("a b 0 18446744073709551617\n", "0.npy", entries); },
              {"0.npy:1:", "is not 0 or 1"});
  // Quoted content is escaped: no terminal control sequence reaches the message.
  std::string msg;
  try {
    lra::parse_listops_tsv("Source\tTarget\n[MAX 1 \x1b[2J ]\t1\n", "l.tsv", 10, out);
  } catch (const Error& e) {
    msg = e.what();
  }
  CHECK(msg.find("'\\x1b[2J'") != std::string::npos);
  CHECK(msg.find('\x1b') == std::string::npos);
  check_error([&] { lra::parse_listops_tsv("Src\x07\tTarget\n", "l.tsv", 10, out); }, {"got 'Src\\x07\\x09Target'"});
  // A path with control bytes is shown escaped too.
  check_error([&] { lra::parse_listops_tsv("x", "bad\nname.tsv", 10, out); }, {"bad\\x0aname.tsv:1:"});
  CHECK(out.empty());
}

#endif  // MEMGRAD_HAVE_LRA
