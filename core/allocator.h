#pragma once
// Every byte of tensor storage goes through a device allocator that keeps exact statistics.
#include <cstddef>
#include <cstdint>

#include "core/device.h"

namespace memgrad {

struct MemoryStats {
  int64_t current = 0;            // bytes in live tensor storage (exactly what was asked for)
  int64_t peak = 0;               // highest `current` since the last reset_peak
  int64_t allocations = 0;        // live storage blocks
  int64_t total_allocations = 0;  // storage blocks handed out since start
  int64_t reserved = 0;           // bytes held from the system: live blocks (rounded) + cache
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* ptr, size_t nbytes) = 0;
  virtual MemoryStats stats() const = 0;
  virtual void reset_peak() = 0;
  // Sets the peak to max(peak, value): lets nested peak meters restore an outer peak.
  virtual void merge_peak(int64_t value) = 0;
  virtual void empty_cache() = 0;
};

Allocator& allocator_for(Device d);
// The CUDA allocator (core/cuda_allocator.cpp), or null in a CPU-only build or without a GPU.
Allocator* cuda_allocator_if_available();
// Copies device bytes to host memory (blocking). Errors in a CPU-only build.
void copy_device_to_host(void* dst, const void* src, size_t nbytes);
// Backends other than the CPU register theirs at start-up.
void register_allocator(DeviceType type, Allocator* a);

namespace memory {
MemoryStats stats(Device d = Device::cpu());
void reset_peak(Device d = Device::cpu());
void empty_cache(Device d = Device::cpu());

// Measures the peak bytes allocated inside a scope, above what was live when it began.
// Nests: an outer meter still sees the peaks reached inside an inner one.
class PeakMeter {
 public:
  explicit PeakMeter(Device d = Device::cpu());
  ~PeakMeter();
  PeakMeter(const PeakMeter&) = delete;
  PeakMeter& operator=(const PeakMeter&) = delete;
  int64_t baseline() const { return baseline_; }
  int64_t peak() const;      // absolute peak bytes since the meter began
  int64_t overhead() const;  // peak() - baseline()

 private:
  Device device_;
  int64_t baseline_;
  int64_t outer_peak_;
};
}  // namespace memory

}  // namespace memgrad
