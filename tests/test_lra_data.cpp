// LRA-style data (examples/lra): generators, the official-format loaders, batching.
// Built when the examples are (MEMGRAD_HAVE_LRA comes from examples/lra/CMakeLists.txt).
#ifdef MEMGRAD_HAVE_LRA
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <unistd.h>

#include "examples/lra/lra.h"
#include "tests/error_test_util.h"
#include "tests/lra_test_util.h"

#include "tests/stb_image_write_static.h"

using namespace memgrad;
namespace fs = std::filesystem;
using lra_test::TempDir;
using lra_test::write_file;

namespace {

lra::Dataset make(const std::string& task, uint64_t seed, int64_t n_train, int64_t n_eval, int64_t min_len = 0,
                  int64_t max_len = 0) {
  lra::TaskConfig c;
  c.task = task;
  c.seed = seed;
  c.n_train = n_train;
  c.n_val = c.n_test = n_eval;
  c.min_len = min_len;
  c.max_len = max_len;
  return lra::make_task(c);
}

bool same(const lra::Dataset& a, const lra::Dataset& b) {
  auto eq = [](const std::vector<lra::Example>& x, const std::vector<lra::Example>& y) {
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i)
      if (x[i].tokens != y[i].tokens || x[i].tokens2 != y[i].tokens2 || x[i].label != y[i].label) return false;
    return true;
  };
  return eq(a.train, b.train) && eq(a.val, b.val) && eq(a.test, b.test);
}

std::map<int32_t, int> label_counts(const std::vector<lra::Example>& v) {
  std::map<int32_t, int> c;
  for (const auto& e : v) ++c[e.label];
  return c;
}

// Every token a non-pad id below vocab.
bool in_vocab(const std::vector<int32_t>& tokens, int32_t vocab) {
  return std::all_of(tokens.begin(), tokens.end(), [&](int32_t t) { return t >= 1 && t < vocab; });
}

std::string text_of(const std::vector<int32_t>& tokens) {
  std::string s;
  for (int32_t t : tokens) s += static_cast<char>(t - 1);
  return s;
}

}  // namespace

TEST_CASE("listops evaluates hand-written expressions with LRA's rules") {
  auto value = [](const char* s) { return lra::listops_eval(lra::listops_tokenize(s)); };
  CHECK(value("[MAX 2 9 [MIN 4 7 ] 0 ]") == 9);
  CHECK(value("[SM 5 6 7 ]") == 8);
  CHECK(value("[MED 1 2 3 4 ]") == 2);  // int(np.median): floor(2.5)
  CHECK(value("[MED 8 1 6 2 ]") == 4);  // (2 + 6) / 2, not the lower median 2
  CHECK(value("[MED 7 0 5 ]") == 5);
  CHECK(value("[MIN [SM 9 9 ] [MAX 1 3 ] ]") == 3);
  CHECK(value("7") == 7);
  // LRA's source text, with parentheses, reads as the same tokens.
  CHECK(lra::listops_tokenize("( ( ( [MAX 2 ) 9 ) ] )") == lra::listops_tokenize("[MAX 2 9 ]"));
  auto t = lra::listops_tokenize("[MAX 2 9 [MIN 4 7 ] 0 ]");
  CHECK(t == std::vector<int32_t>{12, 3, 10, 11, 5, 8, 15, 1, 15});
  CHECK(lra::listops_to_string(t) == "[MAX 2 9 [MIN 4 7 ] 0 ]");
  check_error([] { lra::listops_tokenize("[MAX 1 [FIRST 2 ] ]"); }, {"[FIRST"});
  check_error([] { lra::listops_eval(lra::listops_tokenize("[MAX 1 2")); }, {"not closed"});
  check_error([] { lra::listops_eval(lra::listops_tokenize("1 2")); }, {"one expression"});
}

TEST_CASE("listops generator: seeded, lengths in range, labels are the trees' values") {
  auto a = make("listops", 3, 300, 100, 40, 200);
  CHECK(a.vocab_size == 16);
  CHECK(a.num_classes == 10);
  CHECK(a.max_len == 200);
  CHECK(a.train.size() == 300);
  CHECK(a.val.size() == 100);
  std::set<std::vector<int32_t>> distinct;
  for (const auto* split : {&a.train, &a.val, &a.test})
    for (const auto& e : *split) {
      CHECK((e.tokens.size() >= 40 && e.tokens.size() <= 200));
      CHECK(in_vocab(e.tokens, 16));
      CHECK(lra::listops_eval(e.tokens) == e.label);
      distinct.insert(e.tokens);
    }
  CHECK(distinct.size() == 500);  // distinct across splits, as LRA
  auto counts = label_counts(a.train);
  CHECK(counts.size() >= 8);
  for (auto [label, n] : counts) CHECK(n < 300 / 2);  // no class dominates
  CHECK(same(a, make("listops", 3, 300, 100, 40, 200)));
  CHECK(!same(a, make("listops", 4, 300, 100, 40, 200)));
  // test and val do not depend on n_train
  auto b = make("listops", 3, 10, 100, 40, 200);
  CHECK(b.test.size() == 100);
  CHECK(b.test[7].tokens == a.test[7].tokens);
  // LRA's default lengths
  auto d = make("listops", 1, 20, 5);
  for (const auto& e : d.train) CHECK((e.tokens.size() >= 500 && e.tokens.size() <= 2000));
}

TEST_CASE("text generator: the label is the majority of marker words spread over the document") {
  auto ds = make("text", 5, 200, 20, 400, 800);
  CHECK(ds.vocab_size == 257);
  CHECK(ds.num_classes == 2);
  CHECK(label_counts(ds.train) == std::map<int32_t, int>{{0, 100}, {1, 100}});
  std::set<std::string> fam0(lra::text_marker_words(0).begin(), lra::text_marker_words(0).end());
  std::set<std::string> fam1(lra::text_marker_words(1).begin(), lra::text_marker_words(1).end());
  int first_half_decides = 0;
  for (const auto& e : ds.train) {
    REQUIRE((e.tokens.size() >= 400 && e.tokens.size() <= 800));
    CHECK(in_vocab(e.tokens, 257));
    std::string s = text_of(e.tokens);
    int count[2] = {0, 0}, half[2] = {0, 0};
    size_t i = 0;
    while (i < s.size()) {
      size_t j = s.find_first_of(" .", i);
      if (j == std::string::npos) j = s.size();
      std::string w = s.substr(i, j - i);
      for (int f = 0; f < 2; ++f)
        if ((f ? fam1 : fam0).count(w)) {
          ++count[f];
          if (i < s.size() / 2) ++half[f];
        }
      i = j + 1;
    }
    CHECK(count[0] + count[1] >= 5);
    CHECK(e.label == (count[1] > count[0] ? 1 : 0));
    if ((half[1] > half[0] ? 1 : 0) == e.label && half[0] != half[1]) ++first_half_decides;
  }
  CHECK(first_half_decides < 170);  // half the document is not enough to be sure
  CHECK(same(ds, make("text", 5, 200, 20, 400, 800)));
  CHECK(!same(ds, make("text", 6, 200, 20, 400, 800)));
}

TEST_CASE("retrieval generator: pairs of documents that share a topic or not") {
  auto ds = make("retrieval", 2, 100, 10, 200, 400);
  CHECK(ds.pair);
  CHECK(label_counts(ds.train) == std::map<int32_t, int>{{0, 50}, {1, 50}});
  for (const auto& e : ds.train) {
    CHECK((e.tokens.size() >= 200 && e.tokens.size() <= 400));
    CHECK((e.tokens2.size() >= 200 && e.tokens2.size() <= 400));
  }
  lra::Rng rng(9);
  for (int label : {0, 1}) {
    std::pair<int, int> topics;
    lra::generate_retrieval(rng, label, 100, 200, &topics);
    CHECK((topics.first == topics.second) == (label == 1));
  }
  CHECK(same(ds, make("retrieval", 2, 100, 10, 200, 400)));
  CHECK(!same(ds, make("retrieval", 3, 100, 10, 200, 400)));
}

TEST_CASE("image generator: 10 balanced shape classes of 32x32 pixels") {
  auto ds = make("image", 1, 200, 20);
  CHECK(ds.max_len == 1024);
  CHECK(ds.num_classes == 10);
  auto counts = label_counts(ds.train);
  CHECK(counts.size() == 10);
  for (auto [label, n] : counts) CHECK(n == 20);
  for (const auto& e : ds.train) {
    REQUIRE(e.tokens.size() == 1024);
    CHECK(in_vocab(e.tokens, 257));
  }
  CHECK(same(ds, make("image", 1, 200, 20)));
  CHECK(!same(ds, make("image", 2, 200, 20)));
  CHECK(std::string(lra::image_class_name(7)) == "ring");
}

TEST_CASE("pathfinder and path-x generators: balanced, dark images with paths and markers") {
  auto pf = make("pathfinder", 1, 100, 10);
  CHECK(pf.max_len == 1024);
  CHECK(label_counts(pf.train) == std::map<int32_t, int>{{0, 50}, {1, 50}});
  for (const auto& e : pf.train) {
    REQUIRE(e.tokens.size() == 1024);
    int dark = 0, bright = 0;
    for (int32_t t : e.tokens) dark += t == 1, bright += t > 200;
    CHECK(dark > 600);     // mostly background
    CHECK(bright >= 20);   // paths and markers
  }
  CHECK(same(pf, make("pathfinder", 1, 100, 10)));
  CHECK(!same(pf, make("pathfinder", 2, 100, 10)));
  auto px = make("pathx", 1, 4, 2);
  CHECK(px.max_len == 16384);
  for (const auto& e : px.train) CHECK(e.tokens.size() == 16384);
}

TEST_CASE("make_task rejects bad configs") {
  lra::TaskConfig c;
  c.task = "cifar";
  check_error([&] { lra::make_task(c); }, {"unknown task 'cifar'", "listops"});
  c.task = "listops";
  c.min_len = 300, c.max_len = 100;
  check_error([&] { lra::make_task(c); }, {"min_len 300 is above max_len 100"});
  check_error([] { lra::parse_split("dev"); }, {"unknown split 'dev'"});
}

TEST_CASE("listops loader reads LRA's TSV and names file and line of bad input") {
  TempDir d;
  const std::string header = "Source\tTarget\n";
  write_file(d.path / "basic_train.tsv", header + "( ( ( [MAX 2 ) 9 ) ] )\t9\n( ( ( [SM 5 ) 6 ) 7 ) ] )\t8\n");
  write_file(d.path / "basic_val.tsv", header + "( ( ( [MED 1 ) 2 ) 3 ) 4 ) ] )\t2\r\n");
  write_file(d.path / "basic_test.tsv", header + "3\t3\n\n");
  lra::TaskConfig c;
  c.task = "listops";
  c.data_dir = d.path.string();
  auto ds = lra::make_task(c);
  REQUIRE(ds.train.size() == 2);
  CHECK(ds.train[0].tokens == lra::listops_tokenize("[MAX 2 9 ]"));
  CHECK(ds.train[1].label == 8);
  CHECK(ds.val.at(0).label == 2);
  CHECK(ds.test.at(0).tokens == std::vector<int32_t>{4});
  c.max_len = 3;  // cut to max_len
  CHECK(lra::make_task(c).train[1].tokens.size() == 3);
  c.max_len = 0;

  write_file(d.path / "basic_train.tsv", header + "[MAX 1 2 ]\t2\n[MAX 1 2 ]\tx\n");
  check_error([&] { lra::make_task(c); }, {"basic_train.tsv:3:", "label 'x' is not an integer in [0, 10)"});
  write_file(d.path / "basic_train.tsv", header + "[MAX 1 2 ]\t12\n");
  check_error([&] { lra::make_task(c); }, {"basic_train.tsv:2:", "label '12'"});
  write_file(d.path / "basic_train.tsv", header + "[MAX 1 2 ]\t2\textra\n");
  check_error([&] { lra::make_task(c); }, {"basic_train.tsv:2:", "expected 2 tab-separated columns", "got 3"});
  write_file(d.path / "basic_train.tsv", header + "[MAX 1 [FIRST 2 ] ]\t2\n");
  check_error([&] { lra::make_task(c); }, {"basic_train.tsv:2:", "unknown ListOps token '[FIRST'"});
  write_file(d.path / "basic_train.tsv", "src\ttgt\n[MAX 1 2 ]\t2\n");
  check_error([&] { lra::make_task(c); }, {"basic_train.tsv:1:", "header"});
  fs::remove(d.path / "basic_train.tsv");
  check_error([&] { lra::make_task(c); }, {"basic_train.tsv", "cannot open"});
}

TEST_CASE("IMDB loader reads aclImdb/{train,test}/{pos,neg}/*.txt as bytes") {
  TempDir d;
  fs::path root = d.path / "aclImdb";
  for (int i = 0; i < 5; ++i) {
    write_file(root / "train" / "pos" / (std::to_string(i) + "_9.txt"), "great film " + std::to_string(i));
    write_file(root / "train" / "neg" / (std::to_string(i) + "_1.txt"), "bad film " + std::to_string(i));
  }
  write_file(root / "test" / "pos" / "0_8.txt", "Loved it\xC3\xA9");
  write_file(root / "test" / "neg" / "0_2.txt", "no");
  write_file(root / "train" / "urls_pos.txt", "ignored: not in pos/ or neg/");
  lra::TaskConfig c;
  c.task = "text";
  c.data_dir = d.path.string();
  c.max_len = 12;
  c.n_val = 2;
  auto ds = lra::make_task(c);
  CHECK(ds.train.size() == 8);
  CHECK(ds.val.size() == 2);
  REQUIRE(ds.test.size() == 2);
  CHECK(label_counts(ds.train)[0] + label_counts(ds.val)[0] == 5);
  CHECK(ds.test[0].label == 0);  // neg first, then pos, files in sorted order
  CHECK(ds.test[0].tokens == std::vector<int32_t>{'n' + 1, 'o' + 1});
  CHECK(ds.test[1].tokens.size() == 10);
  CHECK(ds.test[1].tokens.back() == 0xA9 + 1);  // raw bytes, not characters
  for (const auto& e : ds.train) CHECK(e.tokens.size() <= 12);
  CHECK(same(ds, lra::make_task(c)));

  write_file(root / "test" / "neg" / "1_2.txt", "");
  check_error([&] { lra::make_task(c); }, {"1_2.txt", "empty review"});
  fs::remove_all(root / "test" / "pos");
  check_error([&] { lra::make_task(c); }, {"test/pos", "missing directory"});
}

TEST_CASE("AAN loader reads label\\tid1\\tid2\\ttext1\\ttext2 pairs") {
  TempDir d;
  write_file(d.path / "new_aan_pairs.train.tsv", "1.0\ta\tb\tfirst text\tsecond\n0\tc\td\tx y\tz\n");
  write_file(d.path / "new_aan_pairs.eval.tsv", "0.0\te\tf\tabc\tdef\n");
  write_file(d.path / "new_aan_pairs.test.tsv", "1\tg\th\tq\tr\n");
  lra::TaskConfig c;
  c.task = "retrieval";
  c.data_dir = d.path.string();
  c.max_len = 5;
  auto ds = lra::make_task(c);
  CHECK(ds.pair);
  REQUIRE(ds.train.size() == 2);
  CHECK(ds.train[0].label == 1);
  CHECK(ds.train[1].label == 0);
  CHECK(text_of(ds.train[0].tokens) == "first");  // cut to max_len
  CHECK(text_of(ds.train[0].tokens2) == "secon");
  CHECK(ds.val.at(0).label == 0);
  CHECK(text_of(ds.test.at(0).tokens2) == "r");

  write_file(d.path / "new_aan_pairs.train.tsv", "1\ta\tb\tt1\tt2\n1\ta\tb\n");
  check_error([&] { lra::make_task(c); },
              {"new_aan_pairs.train.tsv:2:", "expected 5 tab-separated columns", "got 3"});
  write_file(d.path / "new_aan_pairs.train.tsv", "yes\ta\tb\tt1\tt2\n");
  check_error([&] { lra::make_task(c); }, {"new_aan_pairs.train.tsv:1:", "label 'yes' is not 0 or 1"});
  write_file(d.path / "new_aan_pairs.train.tsv", "2\ta\tb\tt1\tt2\n");
  check_error([&] { lra::make_task(c); }, {"new_aan_pairs.train.tsv:1:", "label '2'"});
}

TEST_CASE("CIFAR-10 loader reads binary batches and converts to gray") {
  TempDir d;
  auto record = [](int label, int r, int g, int b) {
    std::string s(1 + 3072, '\0');
    s[0] = static_cast<char>(label);
    for (int i = 0; i < 1024; ++i) s[1 + i] = char(r), s[1025 + i] = char(g), s[2049 + i] = char(b);
    return s;
  };
  for (int k = 1; k <= 5; ++k) {
    std::string batch;
    for (int i = 0; i < 4; ++i) batch += record((k + i) % 10, 10 * k, 20 * i, 255);
    write_file(d.path / ("data_batch_" + std::to_string(k) + ".bin"), batch);
  }
  write_file(d.path / "test_batch.bin", record(3, 255, 0, 0) + record(9, 100, 150, 200));
  lra::TaskConfig c;
  c.task = "image";
  c.data_dir = d.path.string();
  auto ds = lra::make_task(c);
  CHECK(ds.max_len == 1024);
  CHECK(ds.train.size() == 18);  // 20 records, the last 10% are val (as LRA)
  CHECK(ds.val.size() == 2);
  REQUIRE(ds.test.size() == 2);
  CHECK(ds.test[0].label == 3);
  CHECK(ds.test[0].tokens[0] == 76 + 1);  // round(0.299 * 255) = 76
  CHECK(ds.test[1].tokens[1023] == 141 + 1);  // round(29.9 + 88.05 + 22.8) = round(140.75)
  CHECK(ds.val[1].label == (5 + 3) % 10);
  CHECK(ds.train[0].tokens[5] == (299 * 10 + 114 * 255 + 500) / 1000 + 1);

  write_file(d.path / "data_batch_1.bin", record(1, 0, 0, 0) + record(1, 0, 0, 0) + record(1, 0, 0, 0).substr(0, 1200));
  check_error([&] { lra::make_task(c); }, {"data_batch_1.bin: record 3 is short (1200 of 3073 bytes)"});
  write_file(d.path / "data_batch_1.bin", record(1, 0, 0, 0) + record(12, 0, 0, 0));
  check_error([&] { lra::make_task(c); }, {"data_batch_1.bin: record 2: label 12 is not in [0, 10)"});
  write_file(d.path / "data_batch_1.bin", record(1, 0, 0, 0));
  CHECK(lra::make_task(c).train.size() == 16);  // 17 records: val is the last one
  fs::remove(d.path / "data_batch_4.bin");
  check_error([&] { lra::make_task(c); }, {"data_batch_4.bin", "cannot open"});
}

TEST_CASE("pathfinder loader reads LRA's PNG and metadata layout") {
  TempDir d;
  fs::path base = d.path / "curv_contour_length_14";
  std::string meta;
  for (int i = 0; i < 10; ++i) {
    std::vector<unsigned char> px(32 * 32);
    for (size_t k = 0; k < px.size(); ++k) px[k] = static_cast<unsigned char>((k * 7 + i) % 256);
    fs::path png = base / "imgs" / "0" / ("sample_" + std::to_string(i) + ".png");
    fs::create_directories(png.parent_path());
    REQUIRE(stbi_write_png(png.string().c_str(), 32, 32, 1, px.data(), 32) != 0);
    meta += "imgs/0 sample_" + std::to_string(i) + ".png 0 " + std::to_string(i % 2) + " 14 1.5\n";
  }
  write_file(base / "metadata" / "0.npy", meta);
  lra::TaskConfig c;
  c.task = "pathfinder";
  c.data_dir = d.path.string();  // the difficulty folder is found under it
  auto ds = lra::make_task(c);
  CHECK(ds.max_len == 1024);
  REQUIRE(ds.train.size() == 8);  // LRA's 80 / 10 / 10 split
  REQUIRE(ds.val.size() == 1);
  REQUIRE(ds.test.size() == 1);
  CHECK(ds.train[3].label == 1);
  CHECK(ds.train[3].tokens[10] == (10 * 7 + 3) % 256 + 1);
  CHECK(ds.test[0].tokens[1] == (7 + 9) % 256 + 1);
  c.task = "pathx";  // 128 x 128 expected
  check_error([&] { lra::make_task(c); }, {"sample_0.png", "image is 32x32, expected 128x128", "0.npy:1"});
  c.task = "pathfinder";
  c.data_dir = base.string();  // or the difficulty folder itself

  write_file(base / "imgs" / "0" / "sample_8.png", "");  // empty files are skipped, as LRA
  CHECK(lra::make_task(c).val.empty());
  write_file(base / "imgs" / "0" / "sample_3.png", "\x89PNG not really");
  check_error([&] { lra::make_task(c); }, {"sample_3.png: cannot decode PNG", "0.npy:4"});
  write_file(base / "metadata" / "0.npy", "imgs/0 sample_0.png 0 1\nimgs/0 sample_1.png\n");
  check_error([&] { lra::make_task(c); }, {"0.npy:2:", "expected at least 4"});
  write_file(base / "metadata" / "0.npy", "imgs/0 sample_0.png 0 x\n");
  check_error([&] { lra::make_task(c); }, {"0.npy:1:", "label 'x'"});
  write_file(base / "metadata" / "0.npy", "imgs/0 missing.png 0 1\n");
  check_error([&] { lra::make_task(c); }, {"missing.png", "cannot open", "0.npy:1"});
}

TEST_CASE("make_batch pads to the longest example or to max_len; BatchSampler is seeded") {
  lra::Dataset ds{"t", 16, 2, 6, false, {}, {}, {}};
  ds.train = {{{1, 2, 3}, {}, 1}, {{4}, {}, 0}, {{5, 6, 7, 8, 9}, {}, 1}};
  auto b = lra::make_batch(ds, lra::Split::train, {0, 1});
  CHECK(b.tokens.shape() == Shape{2, 3});
  CHECK(b.tokens.dtype() == DType::int32);
  CHECK(b.tokens.to_vector<int32_t>() == std::vector<int32_t>{1, 2, 3, 4, 0, 0});
  CHECK(b.lengths.to_vector<int64_t>() == std::vector<int64_t>{3, 1});
  CHECK(b.labels.dtype() == DType::int64);
  CHECK(b.labels.to_vector<int64_t>() == std::vector<int64_t>{1, 0});
  CHECK(!b.tokens2.defined());
  auto f = lra::make_batch(ds, lra::Split::train, {2}, /*fixed_len=*/true);
  CHECK(f.tokens.shape() == Shape{1, 6});
  CHECK(f.tokens.to_vector<int32_t>() == std::vector<int32_t>{5, 6, 7, 8, 9, 0});
  check_error([&] { lra::make_batch(ds, lra::Split::train, {3}); }, {"index 3 is out of range"});
  check_error([&] { lra::make_batch(ds, lra::Split::val, {0}); }, {"out of range"});

  ds.pair = true;
  ds.train[1].tokens2 = {7, 7, 7, 7};
  auto p = lra::make_batch(ds, lra::Split::train, {0, 1});
  CHECK(p.tokens2.shape() == Shape{2, 4});
  CHECK(p.lengths2.to_vector<int64_t>() == std::vector<int64_t>{0, 4});

  auto gen = make("retrieval", 1, 6, 2, 50, 80);
  auto g = lra::make_batch(gen, lra::Split::train, {0, 1, 2}, true);
  CHECK(g.tokens.shape() == Shape{3, 80});
  CHECK(g.tokens2.shape() == Shape{3, 80});

  lra::BatchSampler s(10, 4, 7);
  auto e0 = s.next_epoch(), e1 = s.next_epoch();
  CHECK(e0.size() == 3);
  CHECK(e0.back().size() == 2);
  CHECK(e0 == lra::BatchSampler(10, 4, 7).epoch(0));
  CHECK(e0 != e1);
  std::vector<int64_t> all;
  for (auto& batch : e1) all.insert(all.end(), batch.begin(), batch.end());
  std::sort(all.begin(), all.end());
  CHECK(all == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(lra::BatchSampler(10, 4, 7, true, /*drop_last=*/true).epoch(0).size() == 2);
  CHECK(lra::BatchSampler(5, 2, 7, /*shuffle=*/false).epoch(3).front() == std::vector<int64_t>{0, 1});
}

TEST_CASE("BatchSampler::bucket_by: batches of similar lengths, every example once, seeded") {
  const int64_t n = 400, batch = 8;
  std::vector<int64_t> lengths(static_cast<size_t>(n));
  lra::Rng rng(3);
  for (auto& l : lengths) l = 500 + static_cast<int64_t>(rng.below(1501));  // 500..2000
  auto spread = [&](const std::vector<std::vector<int64_t>>& batches) {  // mean (max - min) per batch
    double sum = 0;
    for (const auto& b : batches) {
      int64_t lo = INT64_MAX, hi = 0;
      for (int64_t i : b) lo = std::min(lo, lengths[static_cast<size_t>(i)]), hi = std::max(hi, lengths[static_cast<size_t>(i)]);
      sum += static_cast<double>(hi - lo);
    }
    return sum / static_cast<double>(batches.size());
  };
  lra::BatchSampler plain(n, batch, 7), bucketed(n, batch, 7);
  bucketed.bucket_by(lengths, 10);
  for (int64_t e = 0; e < 3; ++e) {
    auto p = plain.epoch(e), b = bucketed.epoch(e);
    CAPTURE(e);
    CHECK(b.size() == p.size());
    CHECK(spread(b) < 0.2 * spread(p));  // pools of 80 sorted: neighbours differ by ~1500/80 each
    std::vector<int64_t> all;
    for (auto& x : b) {
      CHECK(x.size() == static_cast<size_t>(batch));
      all.insert(all.end(), x.begin(), x.end());
    }
    std::sort(all.begin(), all.end());
    std::vector<int64_t> want(static_cast<size_t>(n));
    std::iota(want.begin(), want.end(), 0);
    CHECK(all == want);
    // Not sorted overall: the batches' order is shuffled (the first batch is not the shortest).
    CHECK(std::is_sorted(b.begin(), b.end(), [&](const auto& x, const auto& y) {
            return lengths[static_cast<size_t>(x[0])] < lengths[static_cast<size_t>(y[0])];
          }) == false);
  }
  lra::BatchSampler again(n, batch, 7);
  again.bucket_by(lengths, 10);
  CHECK(again.epoch(1) == bucketed.epoch(1));
  CHECK(bucketed.epoch(1) != bucketed.epoch(2));
  check_error([&] { lra::BatchSampler(n, batch, 7).bucket_by({1, 2, 3}, 10); }, {"bucket_by", "3 lengths for 400"});
  check_error([&] { lra::BatchSampler(n, batch, 7).bucket_by(lengths, 0); }, {"bucket_by"});
}

#endif  // MEMGRAD_HAVE_LRA
