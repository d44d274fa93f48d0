// Sizes never wrap: every shape product and byte count is checked, with an error naming the op,
// before anything is allocated (a wrapped count once made a 2^32 x 2^32 sum return 0, an
// Embedding(2^62, 4) build an empty weight and a LayerNorm(2^62) crash).
#include <doctest/doctest.h>

#include "autograd/ops.h"
#include "nn/layers.h"
#include "tests/error_test_util.h"

using namespace memgrad;

TEST_CASE("sizes: element and byte counts are checked, never wrapped") {
  const int64_t big = int64_t{1} << 32;
  check_error([&] { expand(ones({1, 1}), {big, big}); }, {"[expand]", "[4294967296, 4294967296]", "2^63 - 1 elements"});
  check_error([&] { (void)numel({big, big, 2}); }, {"[shape]", "2^63 - 1 elements"});
  check_error([&] { empty({int64_t{1} << 62}); }, {"[empty]", "[4611686018427387904]", "2^60 bytes"});
  check_error([&] { zeros({int64_t{1} << 30, int64_t{1} << 30}, DType::float64); }, {"[empty]", "2^60 bytes"});
  // a zero-size dim does not hide an overflowing stride: [0, 2^40, 2^40] floats span 2^82 bytes
  check_error([&] { empty({0, int64_t{1} << 40, int64_t{1} << 40}); }, {"[empty]", "2^60 bytes"});
  check_error([&] { empty({3, -1}); }, {"[empty]", "negative dimension"});
  Tensor half = expand(zeros({1}), {int64_t{1} << 62});  // views: nothing allocated
  check_error([&] { cat({half, half, half}); }, {"[cat]", "2^63 - 1"});
  // ... but a zero-size tensor whose strides fit is fine (nothing is allocated)
  CHECK(empty({0, int64_t{1} << 20, int64_t{1} << 20}).numel() == 0);
}

TEST_CASE("sizes: layers with absurd sizes are refused before allocating") {
  const int64_t huge = int64_t{1} << 62;
  check_error([&] { nn::Embedding(huge, 4); }, {"[empty]", "2^63 - 1 elements"});
  check_error([&] { nn::LayerNorm ln(huge); }, {"[empty]", "2^60 bytes"});
  check_error([&] { nn::Linear(int64_t{1} << 31, int64_t{1} << 31); }, {"[empty]", "2^60 bytes"});
  check_error([&] { nn::Linear(-1, 4); }, {"[Linear]", "positive"});
}

TEST_CASE("sizes: factories check counts and values") {
  check_error([&] { arange(0, 1e30); }, {"[arange]", "elements"});
  check_error([&] { arange(0, NAN); }, {"[arange]", "finite"});
  check_error([&] { arange(0, 10, INFINITY); }, {"[arange]", "finite"});
  // values an integer dtype cannot hold: the backends' scalar rules (tests/test_nan_rules.cpp)
  check_error([&] { arange(2.1e9, 2.3e9, 1e8, DType::int32); }, {"[arange]", "do not fit int32"});
  CHECK(arange(0, 3e9, 1e9, DType::int64).to_vector<int64_t>() == std::vector<int64_t>{0, 1000000000, 2000000000});
  check_error([&] { full({2}, NAN, DType::int64); }, {"[fill]", "int64", "nan"});
  check_error([&] { full({2}, 1e19, DType::int64); }, {"[fill]", "int64"});
  check_error([&] { full({2}, 3e9, DType::int32); }, {"[fill]", "int32"});
  CHECK(full({1}, -0x1p63, DType::int64).item<int64_t>() == INT64_MIN);
  CHECK(full({1}, NAN).to_vector<float>()[0] != full({1}, NAN).to_vector<float>()[0]);  // NaN fills floats
}
