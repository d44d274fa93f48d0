// Bad input gives an Error whose message names the op and the shapes.
#include <doctest/doctest.h>

#include "autograd/ops.h"

using namespace memgrad;

#define CHECK_ERROR(expr, text) CHECK_THROWS_WITH_AS(expr, doctest::Contains(text), Error)

TEST_CASE("shape errors name the op and the shapes") {
  CHECK_ERROR(matmul(zeros({2, 3}), zeros({4, 5})), "[matmul] shapes [2, 3] and [4, 5] cannot be multiplied");
  CHECK_ERROR(add(zeros({2, 3}), zeros({4})), "[add] shapes [2, 3] and [4] cannot be broadcast together");
  CHECK_ERROR(mul(zeros({2}), zeros({3})), "[mul] shapes [2] and [3] cannot be broadcast");
  CHECK_ERROR(reshape(zeros({2, 3}), {4, 2}), "[reshape] cannot reshape [2, 3] (6 elements) into [4, 2]");
  CHECK_ERROR(reshape(zeros({2, 3}), {-1, -1}), "[reshape] only one dim can be -1");
  CHECK_ERROR(transpose(zeros({2, 3}), 0, 2), "[transpose] dim 2 is out of range for shape [2, 3]");
  CHECK_ERROR(sum(zeros({2, 3}), {0, 0}), "[sum] repeated dim");
  CHECK_ERROR(narrow(zeros({4}), 0, 3, 2), "[narrow] range [3, 5) is out of bounds for dim 0 of shape [4]");
  CHECK_ERROR(expand(zeros({2, 3}), {4, 3}), "[expand] shape [2, 3] cannot be broadcast to [4, 3]");
  CHECK_ERROR(cat({zeros({2, 3}), zeros({2, 4})}, 0), "[cat] shapes [2, 3] and [2, 4] differ outside dim 0");
  CHECK_ERROR(stack({zeros({2}), zeros({3})}), "[stack] shapes [2] and [3] differ");
  CHECK_ERROR(permute(zeros({2, 3}), {0, 0}), "[permute] dim 0 repeated");
  CHECK_ERROR(layer_norm(zeros({2, 3}), zeros({4}), Tensor()), "[layer_norm] weight/bias of shape [4]");
  CHECK_ERROR(masked_fill(zeros({2, 3}), zeros({4}, DType::boolean), 0), "[masked_fill]");
  CHECK_ERROR(select(zeros({2, 3}), 1, 3), "[select] index 3 is out of range for dim 1 of shape [2, 3]");
  CHECK_ERROR(from_vector<float>({1, 2, 3}, {2, 2}), "[from_vector] 3 values for shape [2, 2]");
  CHECK_ERROR(empty({-1, 2}), "[empty] negative dimension in shape [-1, 2]");
}

TEST_CASE("dtype and device errors") {
  CHECK_ERROR(add(zeros({2}), zeros({2}, DType::float64)), "[add] dtype mismatch: float32 [2] and float64 [2]");
  CHECK_ERROR(matmul(zeros({2, 2}, DType::int32), zeros({2, 2}, DType::int32)), "[matmul] dtype int32");
  CHECK_ERROR(softmax(zeros({2}, DType::int64), 0), "[softmax] dtype int64 is not supported");
  CHECK_ERROR(where(zeros({2}), zeros({2}), zeros({2})), "[where] condition must be bool");
  CHECK_ERROR(zeros({2}).data<double>(), "[data] tensor has dtype float32, accessed as float64");
  CHECK_ERROR(zeros({2}).at<float>({0, 0}), "[at] index of 2 dims for shape [2]");
  CHECK_ERROR(zeros({2}).item<float>(), "[item] needs a tensor with one element, got shape [2]");
  CHECK_ERROR(gradcheck([](const std::vector<Tensor>& x) { return x; }, {zeros({2}).set_requires_grad()}),
              "[gradcheck] input 0 [2] is float32; gradcheck needs float64");
}

TEST_CASE("index errors never write out of bounds") {
  Tensor w = zeros({5, 3});
  CHECK_ERROR(embedding(w, from_vector<int64_t>({0, 7})), "[embedding] weight [5, 3], ids [2]");
  CHECK_ERROR(embedding(w, from_vector<int64_t>({0, 7})), "index 7 is out of range for dim 0 of size 5");
  CHECK_ERROR(embedding(w, from_vector<float>({0, 1})), "[embedding] index must be int32 or int64");
  CHECK_ERROR(index_select(w, 0, from_vector<int64_t>({-1})), "[index_select] index -1 is out of range");
  CHECK_ERROR(gather(w, 1, from_vector<int64_t>({3}, {1, 1})), "[gather] index of shape [1, 1] does not match");
  CHECK_ERROR(cross_entropy(zeros({2, 4}), from_vector<int64_t>({1, 4})),
              "[cross_entropy] target 4 at position 1 is out of range for 4 classes");
  CHECK_ERROR(cross_entropy(zeros({2, 4}), from_vector<int64_t>({1, 2, 3})),
              "[cross_entropy] logits [2, 4] and target [3] do not match");
  CHECK_ERROR(div(from_vector<int32_t>({1}), from_vector<int32_t>({0})), "[div] integer division by zero");
}

TEST_CASE("option errors") {
  CHECK_ERROR(dropout(zeros({2}), 1.5), "[dropout] p must be in [0, 1], got 1.5");
  CHECK_ERROR(rand({2}, DType::float32, nullptr, 1, 0), "[rand] needs low < high");
  CHECK_ERROR(randint(3, 3, {2}), "[randint] needs low < high");
  CHECK_ERROR(arange(0, 1, 0), "[arange] step must be non-zero");
  CHECK_ERROR(slice(zeros({4}), 0, 0, 4, 0), "[slice] step must be positive");
  CHECK_ERROR(cross_entropy(zeros({2, 4}), from_vector<int64_t>({1, 2}), {.label_smoothing = 2}),
              "[cross_entropy] label_smoothing must be in [0, 1]");
  CHECK_ERROR(layer_norm(zeros({2, 3}), Tensor(), Tensor(), 0), "[layer_norm] eps must be positive");
  CHECK_ERROR(Tensor().shape(), "[tensor] use of an undefined tensor");
}
