// One attention measurement (attention_measure.h).
#include "benchmarks/attention_measure.h"

#include <vector>

#include "autograd/ops.h"
#include "benchmarks/bench_common.h"

namespace memgrad::bench {

Inputs random_inputs(const Config& c, const Shape& qs, const Shape& kvs) {
  Generator g(0);
  const Device dev = c.device;
  return {randn(qs, DType::float32, &g, 0, 1, dev), randn(kvs, DType::float32, &g, 0, 1, dev),
          randn(kvs, DType::float32, &g, 0, 1, dev), randn(qs, DType::float32, &g, 0, 1, dev)};
}

Measure measure(const Config& c, int64_t N, const AttentionOptions& opts, bool backward) {
  const Shape shape{c.B, c.H, N, c.D};
  return measure(c, random_inputs(c, shape, shape), opts, backward);
}

Measure measure(const Config& c, Inputs in, const AttentionOptions& opts, bool backward) {
  Tensor q = in.q, k = in.k, v = in.v, w = in.w;
  const Device dev = c.device;
  if (backward) q.set_requires_grad(), k.set_requires_grad(), v.set_requires_grad();
  auto clear_grads = [&] { q.set_grad(Tensor()), k.set_grad(Tensor()), v.set_grad(Tensor()); };
  auto once = [&] {
    if (!backward) {
      NoGradGuard ng;
      Tensor out = attention(q, k, v, opts);
    } else {
      Tensor out = attention(q, k, v, opts);
      out.backward(w);
    }
  };
  DeviceTimer timer(dev);  // GPU: CUDA events around the calls; CPU: the steady clock
  Measure m{};
  m.results = (w.numel() + (backward ? q.numel() + k.numel() + v.numel() : 0)) * 4;  // float32
  double first, first_cpu;
  {
    memory::PeakMeter meter(dev);
    synchronize(dev);
    const double c0 = process_cpu_seconds();
    timer.start();
    once();  // measures memory, and warms up the allocator cache and thread pool for the timings
    first = timer.stop();
    first_cpu = process_cpu_seconds() - c0;
    m.peak = meter.overhead();
  }
  m.overhead = m.peak - m.results;
  if (first >= c.single_call_s) {
    m.seconds = first, m.cpu_seconds = first_cpu, m.samples = 1, m.first_call_timed = true;
    return m;
  }
  for (int r = 0; r < c.warmup; ++r) clear_grads(), once();
  synchronize(dev);
  std::vector<double> t, cpu;
  double spent = 0;
  for (int r = 0; r < c.repeats && (r == 0 || spent < c.budget_s); ++r) {
    clear_grads();
    const double c0 = process_cpu_seconds();
    timer.start();
    once();
    t.push_back(timer.stop());
    cpu.push_back(process_cpu_seconds() - c0);
    spent += t.back();
  }
  m.seconds = median(t), m.cpu_seconds = median(cpu), m.samples = static_cast<int>(t.size());
  return m;
}

}  // namespace memgrad::bench
