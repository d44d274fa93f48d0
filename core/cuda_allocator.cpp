// The CUDA allocator: plain cudaMalloc'd device memory, cached by size class like the CPU one
// (cudaMalloc/cudaFree synchronise the device and cost ~0.1-1 ms each). Compiled only when the
// CUDA toolkit is found; registered for DeviceType::cuda the first time a cuda tensor is made.
// One stream (the legacy default) orders every kernel, so a freed block can be handed out again
// at once: the next kernel that uses it runs after the last one that read it.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/allocator.h"
#include "core/error.h"

namespace memgrad {
namespace {

// 512-byte multiples below 1 MiB (cudaMalloc aligns to 256 anyway), then 2 MiB multiples:
// large blocks are few, and the coarse classes let the next step's slightly different shapes reuse them.
size_t size_class(size_t n) {
  constexpr size_t small = 512, large = size_t{2} << 20;
  if (n <= (size_t{1} << 20)) return (n + small - 1) / small * small;
  return (n + large - 1) / large * large;
}

std::string mib(int64_t b) { return fmt::format("{:.1f} MiB", static_cast<double>(b) / (1 << 20)); }

class CudaCachingAllocator final : public Allocator {
 public:
  void* allocate(size_t nbytes) override {
    if (nbytes == 0) return nullptr;
    const size_t cls = size_class(nbytes);
    std::lock_guard lock(mu_);
    void* p = nullptr;
    auto it = cache_.find(cls);
    if (it != cache_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
    } else {
      cudaError_t e = cudaMalloc(&p, cls);
      if (e == cudaErrorMemoryAllocation) {  // give the cache back and try once more
        cudaGetLastError();                 // clear the sticky-free error state of the runtime
        release_cache_locked();
        e = cudaMalloc(&p, cls);
      }
      if (e != cudaSuccess) {
        cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        throw RuntimeError(fmt::format(
            "[alloc] CUDA out of memory allocating {} on cuda:0 ({}): {} in tensors, {} reserved by memgrad, "
            "{} free of {} on the device",
            mib(static_cast<int64_t>(nbytes)), cudaGetErrorName(e), mib(stats_.current), mib(stats_.reserved),
            mib(static_cast<int64_t>(free_b)), mib(static_cast<int64_t>(total_b))));
      }
      stats_.reserved += static_cast<int64_t>(cls);
    }
    stats_.current += static_cast<int64_t>(nbytes);
    stats_.peak = std::max(stats_.peak, stats_.current);
    stats_.allocations += 1;
    stats_.total_allocations += 1;
    return p;
  }

  void deallocate(void* p, size_t nbytes) override {
    if (!p) return;
    std::lock_guard lock(mu_);
    cache_[size_class(nbytes)].push_back(p);
    stats_.current -= static_cast<int64_t>(nbytes);
    stats_.allocations -= 1;
  }

  MemoryStats stats() const override {
    std::lock_guard lock(mu_);
    return stats_;
  }
  void reset_peak() override {
    std::lock_guard lock(mu_);
    stats_.peak = stats_.current;
  }
  void merge_peak(int64_t v) override {
    std::lock_guard lock(mu_);
    stats_.peak = std::max(stats_.peak, v);
  }
  void empty_cache() override {
    std::lock_guard lock(mu_);
    release_cache_locked();
  }

 private:
  void release_cache_locked() {
    for (auto& [cls, blocks] : cache_) {
      for (void* p : blocks) cudaFree(p);
      stats_.reserved -= static_cast<int64_t>(cls * blocks.size());
      blocks.clear();
    }
  }

  mutable std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> cache_;
  MemoryStats stats_;
};

}  // namespace

Allocator* cuda_allocator_if_available() {
  if (cuda_device_count() == 0) return nullptr;
  static auto* a = new CudaCachingAllocator();  // never destroyed: static tensors may outlive main
  return a;
}

void copy_device_to_host(void* dst, const void* src, size_t nbytes) {
  cudaError_t e = cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToHost);
  MG_CHECK(e == cudaSuccess, "to_cpu", "cudaMemcpy of {} bytes from cuda:0 failed: {} ({})", nbytes,
           cudaGetErrorName(e), cudaGetErrorString(e));
}

}  // namespace memgrad
