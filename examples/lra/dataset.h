#pragma once
// Long Range Arena-style tasks: the data types every generator and loader fills.
//
// Token vocabularies (id 0 is always padding):
//   ListOps  (vocab 16): 0 pad, 1..10 the digits 0..9 (digit d -> d + 1),
//                        11 "[MIN", 12 "[MAX", 13 "[MED", 14 "[SM", 15 "]".
//   Text, Retrieval (vocab 257): byte b -> b + 1.
//   Image, Pathfinder, Path-X (vocab 257): gray level g (0..255) -> g + 1, images flattened row-major.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace memgrad::lra {

struct Example {
  std::vector<int32_t> tokens;
  std::vector<int32_t> tokens2;  // retrieval only: the second document
  int32_t label = 0;
};

enum class Split { train, val, test };
const char* split_name(Split s);
Split parse_split(const std::string& name);  // "train", "val" (or "valid", "eval"), "test"

struct Dataset {
  std::string task;
  int64_t vocab_size = 0;
  int64_t num_classes = 0;
  int64_t max_len = 0;  // no example is longer (per document for pair tasks)
  bool pair = false;    // two documents per example (retrieval)
  std::vector<Example> train, val, test;

  const std::vector<Example>& split(Split s) const;
  std::vector<Example>& split(Split s);
};

constexpr int32_t kPad = 0;
constexpr int64_t kByteVocab = 257;  // bytes and gray levels: value v -> v + 1
inline int32_t byte_token(uint8_t b) { return static_cast<int32_t>(b) + 1; }

// What make_task builds. Sizes and lengths left at their defaults take the task's defaults.
struct TaskConfig {
  std::string task = "listops";  // listops, text, retrieval, image, pathfinder, pathx
  // Examples per split. -1: the task's default when generating (2000 / 250 / 250), everything
  // when loading files. When loading, n >= 0 keeps a seeded random subset of that many.
  int64_t n_train = -1, n_val = -1, n_test = -1;
  // Token lengths, inclusive. 0: the task's default (listops 500..2000, text 500..1000,
  // retrieval 2000..4000 per document, LRA's lengths); max_len given without min_len gives
  // min_len = max_len / 4 (listops) or max_len / 2 (text, retrieval). Loaders cut longer
  // sequences to max_len. Images ignore both: their length is image_side^2.
  int64_t max_len = 0, min_len = 0;
  int64_t image_side = 0;  // 0: image 32, pathfinder 32, pathx 128
  int64_t listops_max_depth = 10, listops_max_args = 10;
  uint64_t seed = 0;
  // Empty: generate (no download, no network). Set: read the official files under it instead.
  std::string data_dir;
  // Pathfinder / Path-X files: the difficulty folder used when data_dir has no metadata/ itself.
  std::string pathfinder_difficulty = "curv_contour_length_14";
};

// The task names make_task accepts.
const std::vector<std::string>& task_names();

// The token lengths {min_len, max_len} make_task uses for cfg, defaults applied (images: side^2
// for both). Throws memgrad::Error on an unknown task or an invalid range.
std::pair<int64_t, int64_t> task_lengths(const TaskConfig& cfg);
// The examples make_task generates for a split (the config's n, or the task's default for -1).
int64_t generated_split_size(const TaskConfig& cfg, Split s);

// Builds the dataset: the seeded generator, or the official-format loader when data_dir is set.
// Throws memgrad::Error on a bad config or malformed files (the message names file and line).
Dataset make_task(const TaskConfig& cfg);

}  // namespace memgrad::lra
