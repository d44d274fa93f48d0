// The CUDA allocator: plain cudaMalloc'd device memory, cached by size class like the CPU one (the
// shared bookkeeping: core/caching_allocator.h)
// (cudaMalloc/cudaFree synchronise the device and cost ~0.1-1 ms each). Compiled only when the
// CUDA toolkit is found; registered for DeviceType::cuda the first time a cuda tensor is made.
// One stream (the legacy default) orders every kernel, so a freed block can be handed out again
// at once: the next kernel that uses it runs after the last one that read it.
#include <cuda_runtime_api.h>

#include <string>

#include "core/allocator.h"
#include "core/caching_allocator.h"
#include "core/error.h"

namespace memgrad {
namespace {

// 512-byte multiples below 1 MiB (cudaMalloc aligns to 256 anyway), then 2 MiB multiples:
// large blocks are few, and the coarse classes let the next step's slightly different shapes reuse them.
size_t cuda_size_class(size_t n) {
  constexpr size_t small = 512, large = size_t{2} << 20;
  if (n <= (size_t{1} << 20)) return (n + small - 1) / small * small;
  return (n + large - 1) / large * large;
}

std::string mib(int64_t b) { return fmt::format("{:.1f} MiB", static_cast<double>(b) / (1 << 20)); }

class CudaCachingAllocator final : public CachingAllocator {
 protected:
  size_t size_class(size_t n) const override { return cuda_size_class(n); }
  void* system_allocate(size_t bytes) override {
    void* p = nullptr;
    last_error_ = cudaMalloc(&p, bytes);
    if (last_error_ == cudaSuccess) return p;
    cudaGetLastError();  // clear the runtime's error state: the caller may give the cache back and retry
    return nullptr;
  }
  void system_free(void* p) override { cudaFree(p); }
  [[noreturn]] void out_of_memory(size_t nbytes, const MemoryStats& s) override {
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    throw RuntimeError(fmt::format(
        "[alloc] CUDA out of memory allocating {} on cuda:0 ({}): {} in tensors, {} reserved by memgrad, "
        "{} free of {} on the device",
        mib(static_cast<int64_t>(nbytes)), cudaGetErrorName(last_error_), mib(s.current), mib(s.reserved),
        mib(static_cast<int64_t>(free_b)), mib(static_cast<int64_t>(total_b))));
  }

 private:
  cudaError_t last_error_ = cudaSuccess;  // the last cudaMalloc's (read under the base's lock)
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
