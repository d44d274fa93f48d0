// Fuzzes the Text (IMDB) loader: the input is cut at 0xFF bytes into (at most 16) reviews, written
// round-robin as <k>.txt into a scratch aclImdb/{train,test}/{neg,pos}/ tree and loaded with
// make_task; the first byte picks n_val (-1 .. 4), so the validation split sees small folders. Only
// memgrad::Error may come out. Seeds: fuzz/corpus/text/ (fuzz/make_corpus_lra.py).
#include "examples/lra/lra.h"
#include "core/error.h"
#include "lra_fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memgrad;
  if (size == 0) return 0;
  const auto dir = fuzz::fresh_dir("text");
  const char* folders[] = {"train/neg", "train/pos", "test/neg", "test/pos"};
  for (const char* f : folders) std::filesystem::create_directories(dir / "aclImdb" / f);
  const std::string_view bytes = fuzz::as_text(data + 1, size - 1);
  size_t start = 0, k = 0;
  for (; start <= bytes.size() && k < 16; ++k) {
    size_t end = bytes.find('\xff', start);
    if (end == std::string_view::npos) end = bytes.size();
    fuzz::put(dir / "aclImdb" / folders[k % 4] / (std::to_string(k) + ".txt"), bytes.substr(start, end - start));
    start = end + 1;
  }
  lra::TaskConfig c;
  c.task = "text";
  c.data_dir = dir.string();
  c.max_len = 64;
  c.n_val = static_cast<int64_t>(data[0] % 6) - 1;
  try {
    (void)lra::make_task(c);
  } catch (const Error&) {
  }
  return 0;
}
