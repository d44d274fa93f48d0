// The allocator's statistics are exact byte counts.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "backends/backend.h"
#include "core/caching_allocator.h"
#include "core/page_pool.h"

using namespace memgrad;

TEST_CASE("current, peak and allocation counts are exact") {
  const MemoryStats s0 = memory::stats();
  {
    Tensor a = zeros({1000});                     // 4000 bytes
    Tensor b = zeros({10, 10}, DType::float64);   // 800 bytes
    Tensor c = zeros({3}, DType::int32);          // 12 bytes
    MemoryStats s1 = memory::stats();
    CHECK(s1.current - s0.current == 4812);
    CHECK(s1.allocations - s0.allocations == 3);
    CHECK(s1.total_allocations - s0.total_allocations == 3);
    CHECK(s1.reserved >= s1.current);
    Tensor v = reshape(transpose(b, 0, 1), {100});  // non-contiguous: reshape copies (800 more)
    CHECK(memory::stats().current - s0.current == 5612);
    Tensor w = transpose(b, 0, 1);  // a view: no bytes
    CHECK(memory::stats().current - s0.current == 5612);
  }
  CHECK(memory::stats().current == s0.current);
  CHECK(memory::stats().allocations == s0.allocations);
  CHECK(empty({0}).numel() == 0);
  CHECK(memory::stats().current == s0.current);
}

TEST_CASE("peak meter measures a scope and nests") {
  memory::PeakMeter outer;
  Tensor keep = zeros({256});  // 1 KiB stays live
  {
    memory::PeakMeter inner;
    CHECK(inner.baseline() == outer.baseline() + 1024);
    {
      Tensor a = zeros({1024});  // 4 KiB
      Tensor b = zeros({512});   // 2 KiB
    }
    Tensor c = zeros({256});  // 1 KiB, after a and b died
    CHECK(inner.overhead() == 6144);
    CHECK(inner.peak() == inner.baseline() + 6144);
  }
  // the outer meter still sees the inner peak
  CHECK(outer.overhead() == 1024 + 6144);
  memory::reset_peak();
  CHECK(memory::stats().peak == memory::stats().current);
}

TEST_CASE("the cache is reused and can be emptied") {
  memory::empty_cache();
  const MemoryStats s0 = memory::stats();
  { Tensor a = zeros({1 << 20}); }
  MemoryStats s1 = memory::stats();
  CHECK(s1.current == s0.current);
  CHECK(s1.reserved >= s0.reserved + (4 << 20));  // the block stays cached
  { Tensor b = zeros({1 << 20}); }
  CHECK(memory::stats().reserved == s1.reserved);  // reused, not allocated again
  memory::empty_cache();
  CHECK(memory::stats().reserved == s0.reserved);
}

namespace {

// A device without a page pool, as CUDA: large blocks cached by class (1 MiB multiples here).
class ClassCache final : public CachingAllocator {
 public:
  ~ClassCache() override { empty_cache(); }

 protected:
  size_t size_class(size_t n) const override {
    const size_t unit = n < (size_t{1} << 20) ? 64 : size_t{1} << 20;
    return (n + unit - 1) / unit * unit;
  }
  void* system_allocate(size_t bytes) override { return std::malloc(bytes); }
  void system_free(void* p) override { std::free(p); }
  [[noreturn]] void out_of_memory(size_t, const MemoryStats&) override { throw std::bad_alloc(); }
};

// Resident bytes of this process (/proc/self/statm), or -1.
int64_t resident_bytes() {
  std::ifstream f("/proc/self/statm");
  int64_t size = 0, pages = -1;
  if (!(f >> size >> pages)) return -1;
  return pages * sysconf(_SC_PAGESIZE);
}

}  // namespace

TEST_CASE("without a page pool, a request takes a cached block of up to twice its class") {
  ClassCache a;
  const size_t mib = 1 << 20;
  void* p8 = a.allocate(8 * mib);
  a.deallocate(p8, 8 * mib);
  const int64_t r1 = a.stats().reserved;
  CHECK(r1 == static_cast<int64_t>(8 * mib));
  void* p5 = a.allocate(5 * mib);  // served by the cached 8 MiB block
  CHECK(p5 == p8);
  CHECK(a.stats().reserved == r1);
  CHECK(a.stats().current == static_cast<int64_t>(5 * mib));  // `current` counts the bytes asked for
  a.deallocate(p5, 5 * mib);
  void* again = a.allocate(8 * mib);  // the block went back to the 8 MiB class: reused
  CHECK(again == p8);
  a.deallocate(again, 8 * mib);
  void* p3 = a.allocate(3 * mib);  // 8 MiB is more than twice 3: a new block
  CHECK(a.stats().reserved == r1 + static_cast<int64_t>(3 * mib));
  a.deallocate(p3, 3 * mib);
  a.empty_cache();
  CHECK(a.stats().reserved == 0);
}

TEST_CASE("page pool: a request takes the front of a larger idle block, and freed neighbours merge") {
  if (!page_pool_supported()) return;
  const size_t mib = 1 << 20;
  PagePool pool;
  int64_t delta = 0;
  char* p = static_cast<char*>(pool.take(8 * mib, delta));
  REQUIRE(p != nullptr);
  CHECK(delta == static_cast<int64_t>(8 * mib));
  pool.give(p, 8 * mib);
  char* a = static_cast<char*>(pool.take(3 * mib, delta));
  CHECK(a == p);
  CHECK(delta == 0);
  char* b = static_cast<char*>(pool.take(5 * mib, delta));
  CHECK(b == p + 3 * mib);
  CHECK(delta == 0);
  pool.give(a, 3 * mib);
  pool.give(b, 5 * mib);  // merges with a's block: one 8 MiB block again
  CHECK(pool.idle_bytes() == 8 * mib);
  CHECK(pool.take(8 * mib, delta) == p);
  CHECK(delta == 0);
  CHECK(pool.maps() == 1);
  CHECK(pool.moves() == 0);
  CHECK(pool.pieces() == 1);  // split and merged again: one piece of one mapping
  pool.give(p, 8 * mib);
  CHECK(pool.release_idle() == 8 * mib);
  CHECK(pool.idle_bytes() == 0);
}

TEST_CASE("page pool: idle pages move into a larger block, without new resident memory") {
  if (!page_pool_supported()) return;
  const size_t mib = 1 << 20;
  PagePool pool;
  int64_t delta = 0;
  char* a = static_cast<char*>(pool.take(4 * mib, delta));
  char* sep = static_cast<char*>(pool.take(4 * mib, delta));  // keeps a and b apart
  char* b = static_cast<char*>(pool.take(4 * mib, delta));
  REQUIRE((a && sep && b));
  std::memset(a, 0xA5, 4 * mib);  // resident now
  std::memset(b, 0x5A, 4 * mib);
  pool.give(a, 4 * mib);
  pool.give(b, 4 * mib);
  const int64_t rss0 = resident_bytes();
  char* big = static_cast<char*>(pool.take(12 * mib, delta));
  REQUIRE(big != nullptr);
  CHECK(delta == static_cast<int64_t>(4 * mib));  // 8 MiB of idle pages moved in, 4 MiB new
  CHECK(pool.moves() >= 1);
  CHECK(pool.idle_bytes() == 0);
  // the moved pages keep their bytes (no copy, no fault); the new ones read 0
  const auto moved = [](unsigned char c) { return c == 0xA5 || c == 0x5A; };
  CHECK(moved(static_cast<unsigned char>(big[0])));
  CHECK(moved(static_cast<unsigned char>(big[8 * mib - 1])));
  CHECK(big[8 * mib] == 0);
  std::memset(big, 1, 12 * mib);
  // 4 MiB new, where a block of new pages would add 12 (AddressSanitizer's shadow adds up to 1.5)
  if (rss0 >= 0) CHECK(resident_bytes() - rss0 <= static_cast<int64_t>(8 * mib));
  pool.give(big, 12 * mib);
  pool.give(sep, 4 * mib);
  CHECK(pool.release_idle() == 16 * mib);
}

TEST_CASE("page pool: past its bound on pieces, idle blocks go back to the system instead of moving") {
  if (!page_pool_supported()) return;
  const size_t mib = 1 << 20;
  PagePool pool(2);  // at most 2 pieces before it stops moving pages
  int64_t delta = 0;
  char* a = static_cast<char*>(pool.take(4 * mib, delta));
  char* sep = static_cast<char*>(pool.take(4 * mib, delta));
  char* b = static_cast<char*>(pool.take(4 * mib, delta));
  REQUIRE((a && sep && b));
  CHECK(pool.pieces() == 3);
  pool.give(a, 4 * mib);
  pool.give(b, 4 * mib);
  char* big = static_cast<char*>(pool.take(12 * mib, delta));
  REQUIRE(big != nullptr);
  CHECK(delta == static_cast<int64_t>(4 * mib));  // 12 MiB new, the idle 8 MiB given back
  CHECK(pool.moves() == 0);
  CHECK(pool.idle_bytes() == 0);
  CHECK(pool.pieces() == 2);
  pool.give(big, 12 * mib);
  pool.give(sep, 4 * mib);
  CHECK(pool.release_idle() == 16 * mib);
  CHECK(pool.pieces() == 0);
}

TEST_CASE("the CPU allocator's large blocks of any size share idle pages") {
  const char* env = std::getenv("MEMGRAD_PAGE_POOL");
  if (!page_pool_supported() || (env && std::strcmp(env, "0") == 0)) return;  // the pool is turned off
  memory::empty_cache();
  const int64_t mib = 1 << 20;
  const int64_t r0 = memory::stats().reserved;
  { Tensor a = zeros({2 * mib}); }  // 8 MiB, idle
  CHECK(memory::stats().reserved == r0 + 8 * mib);
  {
    const int64_t c0 = memory::stats().current;
    Tensor b = zeros({5 * mib / 4});  // 5 MiB and 3 MiB: both from the idle 8 MiB
    Tensor c = zeros({3 * mib / 4});
    CHECK(memory::stats().reserved == r0 + 8 * mib);
    CHECK(memory::stats().current - c0 == 8 * mib);  // `current` counts the bytes asked for
  }
  { Tensor d = zeros({3 * mib}); }  // 12 MiB: the idle 8 MiB moved in, 4 MiB new
  CHECK(memory::stats().reserved == r0 + 12 * mib);
  memory::empty_cache();
  CHECK(memory::stats().reserved == r0);
}

TEST_CASE("backward releases saved tensors as each node runs") {
  const int64_t n = 1 << 16, bytes = n * 4;
  Tensor x = randn({n}).set_requires_grad();
  const int64_t base = memory::stats().current;
  Tensor loss;
  {
    Tensor h = x;
    for (int i = 0; i < 8; ++i) h = tanh(h);  // each tanh saves its output
    loss = sum(h);
  }
  // the graph holds the 8 saved outputs (+ the 4-byte loss)
  CHECK(memory::stats().current - base == 8 * bytes + 4);
  memory::PeakMeter meter;
  loss.backward();
  // all saved tensors are gone; x.grad remains
  CHECK(memory::stats().current - base == bytes + 4);
  // released one by one: the peak never exceeds the start by more than a few gradient buffers
  CHECK(meter.overhead() <= 3 * bytes);
}

TEST_CASE("retain_graph keeps saved tensors until the graph dies") {
  const int64_t n = 1 << 16, bytes = n * 4;
  Tensor x = randn({n}).set_requires_grad();
  const int64_t base = memory::stats().current;
  {
    Tensor loss = sum(exp(x));
    loss.backward({}, /*retain_graph=*/true);
    CHECK(memory::stats().current - base == 2 * bytes + 4);  // saved exp output + x.grad + loss
    loss.backward();
  }
  CHECK(memory::stats().current - base == bytes);  // only x.grad
}

TEST_CASE("layer_norm's backward reads a broadcast gradient in place (mean pooling's), with the same values") {
  Generator gen(5);
  const int64_t B = 2, N = 512, C = 64;
  const Tensor w = randn({C}, DType::float64, &gen), b = randn({C}, DType::float64, &gen);
  Tensor x1 = randn({B, N, C}, DType::float64, &gen).set_requires_grad();
  Tensor x2 = clone(detach(x1)).set_requires_grad();
  // sum over the tokens hands layer_norm an expand view of [B, 1, C], stride 0 along N
  Tensor loss1 = sum(sum(layer_norm(x1, w, b), {1}) * b);
  Tensor loss2 = sum(layer_norm(x2, w, b) * contiguous(expand(reshape(b, {1, 1, C}), {B, N, C})));
  {
    memory::PeakMeter meter;
    loss1.backward();
    // x's gradient [B, N, C] and [B, C]-sized pieces; a copy of the gradient would be a second [B, N, C]
    CHECK(meter.overhead() < 2 * B * N * C * 8);
  }
  loss2.backward();
  CHECK(amax(abs(x1.grad() - x2.grad())).item<double>() <= 1e-12);
}

TEST_CASE("a node's gradients are summed in place when nothing else holds the buffer") {
  const int64_t n = 1 << 16, bytes = n * 4;
  const int K = 6;
  Tensor x = randn({n}).set_requires_grad();
  Tensor loss;
  {
    Tensor h = x * 1.5;  // a node: the residual merges below sum into node buffers, not into a leaf
    for (int k = 0; k < K; ++k) h = h + h * 0.5;  // neither op saves a tensor
    loss = sum(h);
  }
  memory::PeakMeter meter;
  loss.backward();
  // Each merge holds the running sum and the branch's gradient; a new sum beside them would make
  // three [n] at once.
  CHECK(meter.overhead() <= 2 * bytes + 64);
  CHECK(amax(abs(x.grad() - std::pow(1.5, K + 1))).item<float>() <= 1e-3f);
}

TEST_CASE("gradients the caller passes or that two inputs share are not summed in place") {
  Generator gen(3);
  Tensor x = randn({64}, DType::float64, &gen).set_requires_grad();
  Tensor a = x * 2.0;
  Tensor y1 = a + a;         // add's backward hands one tensor to both of a's edges
  Tensor y2 = exp(y1) * 0.5;  // y1's node also receives the gradient through y2
  const Tensor g1 = randn({64}, DType::float64, &gen), g2 = randn({64}, DType::float64, &gen);
  const Tensor g1_before = clone(g1);
  backward({y1, y2}, {g1, g2});
  CHECK(amax(abs(g1 - g1_before)).item<double>() == 0.0);  // y1's buffer started as g1
  const Tensor want = (g1 + g2 * 0.5 * exp(detach(y1))) * 4.0;  // dy1/dx = 4
  CHECK(amax(abs(x.grad() - want)).item<double>() <= 1e-12);
}

TEST_CASE("layer_norm_backward may write grad_x over grad, with the same values") {
  Generator gen(11);
  const int64_t R = 37, C = 48;
  for (DType dt : {DType::float32, DType::float64}) {
    const Tensor x = randn({R, C}, dt, &gen), w = randn({C}, dt, &gen), b = randn({C}, dt, &gen);
    const Tensor g = randn({R, C}, dt, &gen);
    Backend& be = backend_for(x.device());
    Tensor y = empty({R, C}, dt), mu = empty({R}, dt), rs = empty({R}, dt);
    be.layer_norm(x, w, b, 1e-5, y, mu, rs);
    Tensor gx = empty({R, C}, dt), gw = empty({C}, dt), gb = empty({C}, dt);
    be.layer_norm_backward(g, x, w, mu, rs, gx, gw, gb);
    Tensor g_in = clone(g), gw2 = empty({C}, dt), gb2 = empty({C}, dt);
    be.layer_norm_backward(g_in, x, w, mu, rs, g_in, gw2, gb2);  // dX over dY
    auto differ = [](const Tensor& a, const Tensor& b) { return to(amax(abs(a - b)), DType::float64).item<double>(); };
    CHECK(differ(g_in, gx) == 0.0);
    CHECK(differ(gw2, gw) == 0.0);
    CHECK(differ(gb2, gb) == 0.0);
  }
}

TEST_CASE("linear with an input norm computes dX over its dY: one [R, in] in backward") {
  Generator gen(13);
  const int64_t R = 4096, in = 64, out = 64, row_bytes = R * in * 4;
  const Tensor w = randn({out, in}, DType::float32, &gen).set_requires_grad();
  const Tensor nw = randn({in}, DType::float32, &gen).set_requires_grad();
  const Tensor nb = randn({in}, DType::float32, &gen).set_requires_grad();
  Tensor x = randn({R, in}, DType::float32, &gen).set_requires_grad();
  const Tensor y = linear(x, w, Tensor(), Activation::none, InputNorm{.on = true, .weight = nw, .bias = nb});
  const Tensor gy = randn({R, out}, DType::float32, &gen);
  memory::PeakMeter meter;
  y.backward(gy);
  // One [R, in] at a time, plus [R]-, [in]- and [out, in]-sized pieces: dW's product reads the
  // normalized rows recomputed (freed after it), then dL/d(rows) is made and overwritten by x's
  // gradient. A separate dX would make two.
  CHECK(meter.overhead() < row_bytes + row_bytes / 4);
  const Tensor x2 = detach(x).set_requires_grad();
  linear(layer_norm(x2, detach(nw), detach(nb)), detach(w), Tensor()).backward(gy);
  CHECK(amax(abs(x.grad() - x2.grad())).item<float>() <= 1e-4f);
}
