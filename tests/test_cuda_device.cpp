// CUDA device tensors: moving data both ways, factories and RNG streams on the device, the
// caching allocator's exact statistics, and clear errors. Skips (with a message) without a GPU.
#include <doctest/doctest.h>

#include "autograd/ops.h"
#include "core/allocator.h"
#include "cuda_test_util.h"

using namespace memgrad;
using namespace memgrad::cudatest;
using optest::vals;

TEST_CASE("cuda: without a GPU, cuda tensors give a clear error") {
  if (cuda_available()) return;
  skip_without_gpu();
  CHECK_THROWS_WITH_AS(zeros({2}, DType::float32, kGpu), doctest::Contains("cuda:0"), Error);
  CHECK_THROWS_WITH_AS(to(ones({2}), kGpu), doctest::Contains("cuda:0"), Error);
}

TEST_CASE("cuda: tensors of every dtype go to the device and back unchanged") {
  if (skip_without_gpu()) return;
  for (DType dt : {DType::float32, DType::float64, DType::int32, DType::int64}) {
    Tensor x = optest::rnd({3, 5, 7}, dt, 11);  // [3, 5, 7]
    Tensor g = to(x, kGpu);
    CHECK(g.device() == kGpu);
    CHECK(vals(to(g, Device::cpu())) == vals(x));
    CHECK(vals(g) == vals(x));  // to_vector reads device memory directly
    Tensor gt = transpose(g, 0, 2);  // a strided view on the device
    CHECK(vals(to(contiguous(gt), Device::cpu())) == vals(contiguous(transpose(x, 0, 2))));
    CHECK(vals(gt) == vals(transpose(x, 0, 2)));
  }
  Tensor b = gt(optest::rnd({17}, DType::float32, 3), scalar(0.0));
  CHECK(vals(to(to(b, kGpu), Device::cpu())) == vals(b));
  CHECK(select(to(b, kGpu), 0, 3).item<bool>() == b.at<bool>({3}));  // item() works on device tensors
  CHECK(to(scalar(2.5), kGpu).item<float>() == 2.5f);
}

TEST_CASE("cuda: factories on the device draw the CPU's random streams") {
  if (skip_without_gpu()) return;
  for (DType dt : {DType::float32, DType::float64}) {
    Generator a(42), b(42);
    check_same(randn({1001}, dt, &a, 0.5, 2.0, kGpu), randn({1001}, dt, &b, 0.5, 2.0), "randn");
    check_same(rand({999}, dt, &a, -1.0, 3.0, kGpu), rand({999}, dt, &b, -1.0, 3.0), "rand");
    CHECK(a.offset() == b.offset());
  }
  Generator a(7), b(7);
  CHECK(vals(randint(-3, 9, {500}, DType::int64, &a, kGpu)) == vals(randint(-3, 9, {500}, DType::int64, &b)));
  manual_seed(5);
  Tensor dg = dropout(ones({4, 300}, DType::float32, kGpu), 0.3);
  manual_seed(5);
  Tensor dc = dropout(ones({4, 300}), 0.3);
  check_same(dg, dc, "dropout masks");
  check_same(zeros({4, 3}, DType::float32, kGpu), zeros({4, 3}), "zeros");
  check_same(full({5}, 1.5, DType::float64, kGpu), full({5}, 1.5, DType::float64), "full");
  CHECK(vals(arange(10, DType::int64, kGpu)) == vals(arange(10)));
  CHECK(vals(from_vector<int32_t>({1, 2, 3}, {3}, kGpu)) == optest::Vec{1, 2, 3});
}

TEST_CASE("cuda: the caching allocator counts exact bytes, caches, and empties its cache") {
  if (skip_without_gpu()) return;
  memory::empty_cache(kGpu);
  const MemoryStats s0 = memory::stats(kGpu);
  {
    memory::PeakMeter meter(kGpu);
    Tensor a = empty({1000}, DType::float32, kGpu);  // 4000 bytes
    Tensor b = empty({3, 1000, 1000}, DType::float64, kGpu);  // 24 MB
    MemoryStats s1 = memory::stats(kGpu);
    CHECK(s1.current - s0.current == 4000 + 24'000'000);
    CHECK(s1.allocations - s0.allocations == 2);
    CHECK(s1.reserved >= s1.current);
    b = Tensor();
    CHECK(memory::stats(kGpu).current - s0.current == 4000);
    CHECK(meter.overhead() == 4000 + 24'000'000);
    Tensor c = empty({3, 1000, 1000}, DType::float64, kGpu);  // reuses the cached block
    CHECK(memory::stats(kGpu).reserved == s1.reserved);
  }
  CHECK(memory::stats(kGpu).current == s0.current);
  memory::empty_cache(kGpu);
  CHECK(memory::stats(kGpu).reserved == memory::stats(kGpu).current - s0.current + s0.reserved);
  // the CPU's statistics do not see device bytes
  const int64_t cpu_before = memory::stats().current;
  Tensor d = empty({1 << 20}, DType::float32, kGpu);
  CHECK(memory::stats().current == cpu_before);
}

TEST_CASE("cuda: errors name the op, the devices and the shapes") {
  if (skip_without_gpu()) return;
  Tensor g = ones({2, 3}, DType::float32, kGpu);
  Tensor c = ones({2, 3});
  CHECK_THROWS_WITH_AS(add(g, c), doctest::Contains("different devices"), Error);
  CHECK_THROWS_WITH_AS(matmul(g, ones({4, 2}, DType::float32, kGpu)), doctest::Contains("[2, 3]"), Error);
  CHECK_THROWS_WITH_AS(empty({int64_t{1} << 45}, DType::float32, kGpu), doctest::Contains("out of memory"),
                       RuntimeError);
  // the device stays usable after a failed allocation
  CHECK(sum(ones({10}, DType::float32, kGpu)).item<float>() == 10.0f);
  CHECK_THROWS_WITH_AS(index_select(g, 1, from_vector<int64_t>({0, 7}, {2}, kGpu)), doctest::Contains("index_select"),
                       Error);
  CHECK_THROWS_WITH_AS(zeros({2}, DType::float32, Device::cuda(1)), doctest::Contains("cuda:1"), Error);
}
