// Fuzzes the CIFAR-10 (Image task) loader: the input bytes are every batch file
// (data_batch_{1..5}.bin and test_batch.bin) of a scratch folder given to make_task, whose sizes
// n_val / n_train / n_test come from the input's length (so the split arithmetic sees every
// record count). Only memgrad::Error may come out. Seeds: fuzz/corpus/cifar/.
#include "examples/lra/lra.h"
#include "core/error.h"
#include "lra_fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memgrad;
  const auto dir = fuzz::fresh_dir("cifar");
  const std::string_view bytes = fuzz::as_text(data, size);
  for (int b = 1; b <= 5; ++b) fuzz::put(dir / ("data_batch_" + std::to_string(b) + ".bin"), bytes);
  fuzz::put(dir / "test_batch.bin", bytes);
  lra::TaskConfig c;
  c.task = "image";
  c.data_dir = dir.string();
  c.n_val = static_cast<int64_t>(size % 7) - 1;  // -1 (the default 10%) .. 5
  c.n_train = static_cast<int64_t>(size % 5) - 1;
  c.n_test = static_cast<int64_t>(size % 3) - 1;
  try {
    (void)lra::make_task(c);
  } catch (const Error&) {
  }
  return 0;
}
