#include <doctest/doctest.h>

#include "autograd/ops.h"

using namespace memgrad;

TEST_CASE("smoke") {
  Tensor a = from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(a.at<float>({1, 2}) == 6);
}
