// The CPU allocator: 64-byte aligned blocks, cached by size class for reuse. Giving large blocks
// back to the system on every free makes the next step page-fault them in again, which costs
// more than the arithmetic for attention-sized tensors (DESIGN.md, "Core").
#include <algorithm>
#include <array>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/allocator.h"
#include "core/error.h"

namespace memgrad {
namespace {

constexpr size_t kAlign = 64;

// Rounds up to a size class: multiples of 64 bytes below 4 KiB, then 4 classes per power of two
// (at most 25% slack).
size_t size_class(size_t n) {
  if (n <= 4096) return (n + kAlign - 1) / kAlign * kAlign;
  size_t p = size_t{1} << (63 - __builtin_clzll(n));  // largest power of two <= n
  size_t step = p / 4;
  return (n + step - 1) / step * step;
}

class CpuCachingAllocator final : public Allocator {
 public:
  void* allocate(size_t nbytes) override {
    if (nbytes == 0) return nullptr;
    size_t cls = size_class(nbytes);
    std::lock_guard lock(mu_);
    void* p = nullptr;
    auto it = cache_.find(cls);
    if (it != cache_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
    } else {
      p = std::aligned_alloc(kAlign, cls);
      if (!p) {  // give the cache back and try once more
        release_cache_locked();
        p = std::aligned_alloc(kAlign, cls);
      }
      if (!p)
        throw RuntimeError(fmt::format("[alloc] out of memory allocating {} bytes on cpu ({} bytes in use)", nbytes,
                                       stats_.current));
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
      for (void* p : blocks) std::free(p);
      stats_.reserved -= static_cast<int64_t>(cls * blocks.size());
      blocks.clear();
    }
  }

  mutable std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> cache_;
  MemoryStats stats_;
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
