// The opt-in profiler (backends/profiler.h): off records nothing and hands out the device's own
// backend; on, every kernel call is attributed to its name and phase and every backward node to
// its name; nested kernel calls are timed exclusively, so totals add up within the wall time.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "autograd/ops.h"
#include "backends/backend.h"
#include "backends/profiler.h"

using namespace memgrad;
namespace prof = memgrad::profiler;

namespace {

// Leaves the profiler off and empty whatever a test does.
struct ProfilerOff {
  ProfilerOff() { prof::disable(), prof::reset(); }
  ~ProfilerOff() { prof::disable(), prof::reset(); }
};

const prof::Entry* find(const std::vector<prof::Entry>& e, prof::Source s, const std::string& phase,
                        const std::string& name) {
  for (const auto& x : e)
    if (x.source == s && x.phase == phase && x.name == name) return &x;
  return nullptr;
}

// A small step: gelu(x W) summed, forward and backward. x [5, 7], w [7, 3].
struct Step {
  Tensor x, w, loss;
  double forward_s = 0, backward_s = 0;
  void run() {
    Generator g(3);
    x = randn({5, 7}, DType::float32, &g).set_requires_grad();
    w = randn({7, 3}, DType::float32, &g).set_requires_grad();
    double t0 = prof::now();
    {
      prof::Phase p("forward");
      loss = sum(gelu(matmul(x, w)));  // []
    }
    double t1 = prof::now();
    loss.backward();
    double t2 = prof::now();
    forward_s = t1 - t0, backward_s = t2 - t1;
  }
};

void check_equal(const Tensor& a, const Tensor& b) {
  REQUIRE(a.numel() == b.numel());
  Tensor ca = contiguous(a), cb = contiguous(b);
  for (int64_t i = 0; i < a.numel(); ++i) CHECK(ca.data<float>()[i] == cb.data<float>()[i]);
}

void busy_wait(double seconds) {
  const double until = prof::now() + seconds;
  while (prof::now() < until) {
  }
}

}  // namespace

TEST_CASE("profiler: disabled, nothing is recorded and backend_for is the device's backend") {
  ProfilerOff off;
  Backend& plain = backend_for(Device::cpu());
  Step s;
  s.run();
  CHECK(prof::entries().empty());
  CHECK(&backend_for(Device::cpu()) == &plain);
  prof::record(prof::Source::kernel, "by hand", 1.0);  // record() itself checks the switch
  CHECK(prof::entries().empty());
}

TEST_CASE("profiler: kernels by name and phase, backward nodes by name, totals within the wall time") {
  ProfilerOff off;
  Step plain;
  plain.run();
  Backend& device_backend = backend_for(Device::cpu());
  prof::enable();
  CHECK(&backend_for(Device::cpu()) != &device_backend);  // the timing decorator
  CHECK(std::string(backend_for(Device::cpu()).name()) == device_backend.name());
  Step s;
  s.run();
  prof::disable();
  const auto e = prof::entries();

  // Same values with the decorator in between.
  check_equal(s.loss, plain.loss);
  check_equal(s.x.grad(), plain.x.grad());
  check_equal(s.w.grad(), plain.w.grad());

  for (const char* k : {"matmul", "unary.gelu", "reduce.sum"}) {
    INFO(k);
    const auto* x = find(e, prof::Source::kernel, "forward", k);
    REQUIRE(x != nullptr);
    CHECK(x->calls >= 1);
    CHECK(x->seconds >= 0);
  }
  CHECK(find(e, prof::Source::kernel, "forward", "matmul")->calls == 1);
  // matmul's backward makes two products (dx = g w^T, dw = x^T g); gelu's uses its own kernel.
  CHECK(find(e, prof::Source::kernel, "backward", "matmul")->calls == 2);
  CHECK(find(e, prof::Source::kernel, "backward", "unary_backward.gelu") != nullptr);
  for (const char* n : {"matmul", "gelu", "sum"}) {
    INFO(n);
    const auto* x = find(e, prof::Source::node, "backward", n);
    REQUIRE(x != nullptr);
    CHECK(x->calls == 1);
  }
  CHECK(find(e, prof::Source::node, "forward", "matmul") == nullptr);  // nodes run in backward only

  // Totals: the entries of a phase add up to its total, which fits in the phase's wall time.
  double fwd = 0;
  for (const auto& x : e)
    if (x.source == prof::Source::kernel && x.phase == "forward") fwd += x.seconds;
  CHECK(prof::total_seconds(e, prof::Source::kernel, "forward") == doctest::Approx(fwd));
  CHECK(fwd > 0);
  CHECK(fwd <= s.forward_s);
  CHECK(prof::total_seconds(e, prof::Source::kernel, "backward") <= s.backward_s);
  CHECK(prof::total_seconds(e, prof::Source::node) <= s.backward_s);
  // The total is the sum over every phase; kernels run outside a Phase scope (e.g. the engine's
  // seed gradient, whose timing differs by build) count under "other".
  CHECK(prof::total_seconds(e, prof::Source::kernel) ==
        doctest::Approx(prof::total_seconds(e, prof::Source::kernel, "forward") +
                        prof::total_seconds(e, prof::Source::kernel, "backward") +
                        prof::total_seconds(e, prof::Source::kernel, "other")));
  // Sorted slowest first.
  CHECK(std::is_sorted(e.begin(), e.end(), [](const auto& a, const auto& b) { return a.seconds > b.seconds; }));

  const std::string r = prof::report(e, s.forward_s + s.backward_s, 1, 50);
  for (const char* word : {"unary.gelu", "matmul", "% step", "backward nodes", "kernel totals"}) {
    INFO(word);
    CHECK(r.find(word) != std::string::npos);
  }
  prof::reset();
  CHECK(prof::entries().empty());
}

TEST_CASE("profiler: nested kernel calls are exclusive; phases nest") {
  ProfilerOff off;
  prof::enable();
  const double t0 = prof::now();
  {
    prof::Phase outer_phase("outer");
    prof::KernelTimer outer("outer_kernel");
    busy_wait(0.010);
    {
      prof::Phase inner_phase("inner");
      CHECK(std::string(prof::current_phase()) == "inner");
      prof::KernelTimer inner("inner_kernel");
      busy_wait(0.060);
    }
    CHECK(std::string(prof::current_phase()) == "outer");
  }
  const double wall = prof::now() - t0;
  CHECK(std::string(prof::current_phase()) == "other");
  prof::disable();
  const auto e = prof::entries();
  const auto* outer = find(e, prof::Source::kernel, "outer", "outer_kernel");
  const auto* inner = find(e, prof::Source::kernel, "inner", "inner_kernel");
  REQUIRE(outer != nullptr);
  REQUIRE(inner != nullptr);
  CHECK(inner->seconds >= 0.060);
  CHECK(outer->seconds >= 0.010);
  // The inner 60 ms are not counted twice: the exclusive times add up to at most the wall time.
  CHECK(outer->seconds + inner->seconds <= wall);
  CHECK(outer->seconds < inner->seconds);
}

TEST_CASE("profiler: a copy made inside a kernel is its own entry, not the kernel's time") {
  ProfilerOff off;
  Generator g(5);
  // k with a transposed last dim: the kernel copies it (attention_input, through backend_for).
  Tensor q = randn({1, 2, 6, 4}, DType::float32, &g), v = randn({1, 2, 6, 4}, DType::float32, &g);  // [B, H, N, D]
  Tensor k = transpose(randn({1, 2, 4, 6}, DType::float32, &g), 2, 3);                                // [B, H, N, D] view
  Tensor out = empty({1, 2, 6, 4}), lse = empty({1, 2, 6});
  AttentionParams p;
  p.scale = 0.5;
  prof::enable();
  backend_for(Device::cpu()).attention_chunked_forward(q, k, v, AttentionMods{}, p, out, lse);
  prof::disable();
  const auto e = prof::entries();
  const auto* kernel = find(e, prof::Source::kernel, "other", "attention_chunked_forward");
  const auto* copy = find(e, prof::Source::kernel, "other", "copy");
  REQUIRE(kernel != nullptr);
  REQUIRE(copy != nullptr);
  CHECK(kernel->calls == 1);
  CHECK(copy->calls == 1);
}
