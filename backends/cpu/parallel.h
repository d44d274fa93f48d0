#pragma once
// OpenMP helpers for the CPU kernels. Loops smaller than a grain run on one thread: forking costs
// microseconds, more than a small loop's work.
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace memgrad::cpu {

constexpr int64_t kGrain = 32768;  // elements of simple work per thread, at least

// The threads for n items of cost_per_item: one per kGrain of work, at most one per item and
// omp_get_max_threads(); 1 inside a parallel region (nested loops run serially).
inline int parallel_threads(int64_t n, int64_t cost_per_item) {
  if (omp_in_parallel()) return 1;
  const int64_t work = n * std::max<int64_t>(cost_per_item, 1);
  return static_cast<int>(std::min<int64_t>({omp_get_max_threads(), std::max<int64_t>(work / kGrain, 1), n}));
}

// Calls f(begin, end) on disjoint ranges covering [0, n), in parallel when n * cost_per_item is large.
template <class F>
void parallel_for(int64_t n, int64_t cost_per_item, F&& f) {
  if (n <= 0) return;
  const int threads = parallel_threads(n, cost_per_item);
  if (threads <= 1) {
    f(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    int t = omp_get_thread_num(), nt = omp_get_num_threads();
    int64_t chunk = (n + nt - 1) / nt;
    int64_t b = std::min<int64_t>(n, t * chunk), e = std::min<int64_t>(n, b + chunk);
    if (b < e) f(b, e);
  }
}

// parallel_for over items of large or uneven cost (attention's blocks), handed out one at a time:
// a thread that runs slower (a core taken by something else, a block with more visible keys) takes
// fewer items, instead of the others waiting for it at the end. f(i, i + 1) per item. Measured on
// chunked attention forward + backward, one process alternating the two splits (2-core Zen 3 VM):
// equal within 3% while the VM was quiet, 5-10% faster in minutes when it was not. Which thread
// runs an item varies from run to run: callers keep results independent of that (attention).
template <class F>
void parallel_for_dynamic(int64_t n, int64_t cost_per_item, F&& f) {
  if (n <= 0) return;
  const int threads = parallel_threads(n, cost_per_item);
  if (threads <= 1) {
    f(int64_t{0}, n);
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t i = 0; i < n; ++i) f(i, i + 1);
}

}  // namespace memgrad::cpu
