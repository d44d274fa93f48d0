// Fuzzes the Retrieval (AAN) loader's parser: the input bytes are a new_aan_pairs.<split>.tsv file
// ("label\tid1\tid2\ttext1\ttext2" lines), parsed in memory as load_aan parses each file. Only
// memgrad::Error may come out. Seeds: fuzz/corpus/retrieval/ (fuzz/make_corpus_lra.py).
#include "examples/lra/parsers.h"
#include "core/error.h"
#include "lra_fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memgrad;
  std::vector<lra::Example> out;
  try {
    lra::parse_aan_tsv(fuzz::as_text(data, size), "new_aan_pairs.train.tsv", 64, out);
  } catch (const Error&) {
  }
  return 0;
}
