// The CPU allocator: 64-byte aligned blocks, cached for reuse. Giving large blocks back to the
// system on every free makes the next step page-fault them in again, which costs more than the
// arithmetic for attention-sized tensors (DESIGN.md, "Core"). Blocks from 1 MiB are page ranges
// of the page pool (core/page_pool.h), whose idle pages serve requests of any size; smaller ones
// come from malloc, cached by size class. The cache and the statistics are the bookkeeping the
// CUDA allocator shares (core/caching_allocator.h). MEMGRAD_PAGE_POOL=0 in the environment turns
// the page pool off (large blocks cached by class as on CUDA), for comparisons.
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>

#include "core/allocator.h"
#include "core/caching_allocator.h"
#include "core/error.h"

namespace memgrad {
namespace {

constexpr size_t kAlign = 64;

// Rounds up to a size class: multiples of 64 bytes below 4 KiB, then 4 classes per power of two
// (at most 25% slack).
size_t cpu_size_class(size_t n) {
  if (n <= 4096) return (n + kAlign - 1) / kAlign * kAlign;
  size_t p = size_t{1} << (63 - __builtin_clzll(n));  // largest power of two <= n
  size_t step = p / 4;
  return (n + step - 1) / step * step;
}

class CpuCachingAllocator final : public CachingAllocator {
 protected:
  size_t size_class(size_t n) const override { return cpu_size_class(n); }
  void* system_allocate(size_t bytes) override { return std::aligned_alloc(kAlign, bytes); }
  void system_free(void* p) override { std::free(p); }
  [[noreturn]] void out_of_memory(size_t nbytes, const MemoryStats& s) override {
    throw RuntimeError(
        fmt::format("[alloc] out of memory allocating {} bytes on cpu ({} bytes in use)", nbytes, s.current));
  }
  PagePool* page_pool() override { return pool_on_ ? &pool_ : nullptr; }

 private:
  // Classes from 1 MiB are multiples of 256 KiB, so of the page size wherever that divides 256 KiB.
  static bool use_page_pool() {
    const char* env = std::getenv("MEMGRAD_PAGE_POOL");
    const long page = sysconf(_SC_PAGESIZE);
    return page_pool_supported() && page > 0 && (size_t{1} << 18) % static_cast<size_t>(page) == 0 &&
           !(env && std::strcmp(env, "0") == 0);
  }
  PagePool pool_;
  const bool pool_on_ = use_page_pool();
};

// Never destroyed: tensors in static storage may be freed after main returns.
CpuCachingAllocator& cpu_allocator() {
  static auto* a = new CpuCachingAllocator();
  return *a;
}

std::array<Allocator*, 2>& registry() {
  static std::array<Allocator*, 2> r{&cpu_allocator(), nullptr};
  return r;
}

}  // namespace

Allocator& allocator_for(Device d) {
  Allocator*& a = registry()[static_cast<size_t>(d.type)];
  if (d.is_cuda()) {
#ifdef MEMGRAD_HAVE_CUDA
    if (!a) a = cuda_allocator_if_available();
    MG_CHECK(a != nullptr, "alloc", "device {} is not available: no GPU was found at run time", d.str());
    MG_CHECK(d.index == 0, "alloc", "device {}: memgrad uses one GPU, cuda:0 ({} found)", d.str(),
             cuda_device_count());
#else
    MG_CHECK(a != nullptr, "alloc", "device {} is not available: memgrad was built without CUDA", d.str());
#endif
  }
  return *a;
}

#ifndef MEMGRAD_HAVE_CUDA
Allocator* cuda_allocator_if_available() { return nullptr; }
void copy_device_to_host(void*, const void*, size_t) { fail("to_cpu", "memgrad was built without CUDA"); }
#endif

void register_allocator(DeviceType type, Allocator* a) { registry()[static_cast<size_t>(type)] = a; }

namespace memory {
MemoryStats stats(Device d) { return allocator_for(d).stats(); }
void reset_peak(Device d) { allocator_for(d).reset_peak(); }
void empty_cache(Device d) { allocator_for(d).empty_cache(); }

PeakMeter::PeakMeter(Device d) : device_(d) {
  auto s = stats(d);
  baseline_ = s.current;
  outer_peak_ = s.peak;
  reset_peak(d);
}
PeakMeter::~PeakMeter() { allocator_for(device_).merge_peak(outer_peak_); }
int64_t PeakMeter::peak() const { return stats(device_).peak; }
int64_t PeakMeter::overhead() const { return peak() - baseline_; }
}  // namespace memory

}  // namespace memgrad
