// Fuzzes the ListOps loader's parser: the input bytes are a basic_<split>.tsv file (header
// "Source\tTarget", then "source\tlabel" lines), parsed in memory as load_listops parses each
// file; each example that parses is evaluated too (listops_eval: well-formed or an Error). Only
// memgrad::Error may come out. Seeds: fuzz/corpus/listops/ (fuzz/make_corpus_lra.py).
#include "examples/lra/listops.h"
#include "examples/lra/parsers.h"
#include "core/error.h"
#include "lra_fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memgrad;
  std::vector<lra::Example> out;
  try {
    lra::parse_listops_tsv(fuzz::as_text(data, size), "basic_train.tsv", 2000, out);
  } catch (const Error&) {
  }
  for (const lra::Example& ex : out) {
    try {
      (void)lra::listops_eval(ex.tokens);
    } catch (const Error&) {
    }
  }
  return 0;
}
