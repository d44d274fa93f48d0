// Tensors: factories, metadata, views that share storage, element access and printing.
#include <doctest/doctest.h>

#include "autograd/ops.h"

using namespace memgrad;

TEST_CASE("factories fill, shape and dtype") {
  Tensor z = zeros({2, 3});
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.dtype() == DType::float32);
  CHECK(z.device() == Device::cpu());
  CHECK(z.numel() == 6);
  CHECK(z.is_contiguous());
  CHECK(z.strides() == Strides{3, 1});
  for (float v : z.to_vector<float>()) CHECK(v == 0);
  for (double v : ones({4}, DType::float64).to_vector<double>()) CHECK(v == 1);
  for (int32_t v : full({3}, 7, DType::int32).to_vector<int32_t>()) CHECK(v == 7);
  CHECK(arange(5).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4});
  CHECK(arange(1, 2, 0.25, DType::float32).to_vector<float>() == std::vector<float>{1, 1.25, 1.5, 1.75});
  Tensor s = scalar(3.5, DType::float64);
  CHECK(s.dim() == 0);
  CHECK(s.item<double>() == 3.5);
  Tensor v = from_vector<int64_t>({1, 2, 3, 4, 5, 6}, {3, 2});
  CHECK(v.at<int64_t>({2, 1}) == 6);
  CHECK(from_vector<bool>({true, false}).to_vector<bool>() == std::vector<bool>{true, false});
  CHECK(empty({0, 3}).numel() == 0);
  CHECK(empty({2, 0, 3}).is_contiguous());
}

TEST_CASE("dtypes and conversions") {
  Tensor a = from_vector<float>({1.5f, -2.5f, 3.0f});
  Tensor i = to(a, DType::int32);
  CHECK(i.dtype() == DType::int32);
  CHECK(i.to_vector<int32_t>() == std::vector<int32_t>{1, -2, 3});
  CHECK(to(i, DType::float64).to_vector<double>() == std::vector<double>{1, -2, 3});
  CHECK(itemsize(DType::int64) == 8);
  CHECK(to_string(DType::boolean) == "bool");
}

TEST_CASE("views share storage") {
  Tensor a = arange(0, 24, 1, DType::float32);
  Tensor r = reshape(a, {2, 3, 4});
  CHECK(r.shares_storage(a));
  Tensor t = transpose(r, 0, 2);  // [4, 3, 2]
  CHECK(t.shares_storage(a));
  CHECK(t.shape() == Shape{4, 3, 2});
  CHECK(!t.is_contiguous());
  CHECK(t.at<float>({3, 1, 1}) == r.at<float>({1, 1, 3}));
  Tensor p = permute(r, {1, 2, 0});  // [3, 4, 2]
  CHECK(p.shares_storage(a));
  CHECK(p.at<float>({2, 3, 1}) == r.at<float>({1, 2, 3}));
  Tensor n = narrow(r, 2, 1, 2);  // [2, 3, 2]
  CHECK(n.shares_storage(a));
  CHECK(n.at<float>({1, 2, 0}) == r.at<float>({1, 2, 1}));
  Tensor s = slice(a, 0, 1, 20, 3);  // 1, 4, ..., 19
  CHECK(s.shares_storage(a));
  CHECK(s.to_vector<float>() == std::vector<float>{1, 4, 7, 10, 13, 16, 19});
  CHECK(slice(a, 0, -3, 100).to_vector<float>() == std::vector<float>{21, 22, 23});
  Tensor sel = select(r, 1, -1);  // [2, 4]
  CHECK(sel.shape() == Shape{2, 4});
  CHECK(sel.at<float>({1, 0}) == 20);
  Tensor e = expand(reshape(arange(0, 3, 1, DType::float32), {3, 1}), {2, 3, 4});
  CHECK(e.shares_storage(a) == false);
  CHECK(e.strides()[0] == 0);
  CHECK(e.at<float>({1, 2, 3}) == 2);
  Tensor u = unsqueeze(a, 0);
  CHECK(u.shape() == Shape{1, 24});
  CHECK(squeeze(u).shape() == Shape{24});
  CHECK(squeeze(u, 0).shares_storage(a));
  CHECK(flatten(r, 1).shape() == Shape{2, 12});
  CHECK(view(r, {6, -1}).shares_storage(a));

  // writing through a view is visible in the base
  n.data<float>()[0] = 100;
  CHECK(a.to_vector<float>()[1] == 100);
}

TEST_CASE("reshape copies only when it must; view refuses") {
  Tensor a = reshape(arange(0, 6, 1, DType::float32), {2, 3});
  Tensor t = transpose(a, 0, 1);  // [3, 2], not contiguous
  Tensor r = reshape(t, {6});
  CHECK(!r.shares_storage(a));
  CHECK(r.to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});
  CHECK_THROWS_WITH_AS(view(t, {6}), doctest::Contains("[view]"), Error);
  // merging dims that stay contiguous is still a view
  Tensor b = reshape(arange(0, 24, 1, DType::float32), {2, 3, 4});
  Tensor nb = narrow(b, 0, 1, 1);  // [1, 3, 4], offset 12
  CHECK(view(nb, {12}).shares_storage(b));
  CHECK(view(nb, {12}).to_vector<float>()[0] == 12);
}

TEST_CASE("contiguous, clone, cat and stack copy") {
  Tensor a = reshape(arange(0, 6, 1, DType::float32), {2, 3});
  CHECK(contiguous(a).shares_storage(a));
  Tensor t = transpose(a, 0, 1);
  Tensor c = contiguous(t);
  CHECK(!c.shares_storage(a));
  CHECK(c.is_contiguous());
  CHECK(c.to_vector<float>() == t.to_vector<float>());
  CHECK(!clone(a).shares_storage(a));
  Tensor k = cat({a, a}, 1);
  CHECK(k.shape() == Shape{2, 6});
  CHECK(k.to_vector<float>() == std::vector<float>{0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5});
  Tensor s = stack({a, a, a}, 1);
  CHECK(s.shape() == Shape{2, 3, 3});
  CHECK(s.at<float>({1, 2, 0}) == 3);
}

TEST_CASE("printing is readable") {
  Tensor a = from_vector<float>({1, 2.5, -3, 4}, {2, 2});
  std::string s = a.str();
  CHECK(s == "tensor([[1, 2.5],\n        [-3, 4]], shape=[2, 2], dtype=float32, device=cpu)");
  CHECK(scalar(2, DType::int64).str() == "tensor(2, shape=[], dtype=int64, device=cpu)");
  Tensor big = zeros({100, 100});
  std::string b = big.str();
  CHECK(b.find("...") != std::string::npos);
  CHECK(b.size() < 1000);
  Tensor g = ones({2}).set_requires_grad();
  CHECK(g.str().find("requires_grad=true") != std::string::npos);
}

TEST_CASE("device parsing and availability") {
  CHECK(Device::parse("cpu") == Device::cpu());
  CHECK(Device::parse("cuda:1") == Device::cuda(1));
  CHECK(Device::cuda(0).str() == "cuda:0");
  CHECK_THROWS_WITH_AS(Device::parse("tpu"), doctest::Contains("cannot parse device 'tpu'"), Error);
  if (!cuda_available()) {
    MESSAGE("no GPU: checking that cuda tensors give a clear error");
    CHECK_THROWS_WITH_AS(zeros({2}, DType::float32, Device::cuda()), doctest::Contains("cuda:0"), Error);
  }
}
