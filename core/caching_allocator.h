#pragma once
// The bookkeeping both device allocators share (core/cpu_allocator.cpp, core/cuda_allocator.cpp):
// freed blocks are cached by size class and handed out again, and the statistics are exact
// (`current` counts the bytes asked for, `reserved` the rounded blocks held, cache included). A
// device supplies its size classes, its system allocation and free, and its out-of-memory message.
// Thread-safe: one lock around the cache and the statistics.
#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/allocator.h"

namespace memgrad {

class CachingAllocator : public Allocator {
 public:
  // A cached block of the size class, or a new one from the system; when the system refuses,
  // the cache is given back and the system asked once more, then out_of_memory throws.
  void* allocate(size_t nbytes) final;
  void deallocate(void* ptr, size_t nbytes) final;
  MemoryStats stats() const final;
  void reset_peak() final;
  void merge_peak(int64_t value) final;
  void empty_cache() final;

 protected:
  // The size of the block that serves `nbytes` (>= nbytes; equal requests share a class).
  virtual size_t size_class(size_t nbytes) const = 0;
  // A block of `bytes` from the system, or nullptr when it refuses (never throws).
  virtual void* system_allocate(size_t bytes) = 0;
  virtual void system_free(void* ptr) = 0;
  // Throws the device's error for a request of `nbytes` the system refused twice; `s` is the
  // statistics at that moment.
  [[noreturn]] virtual void out_of_memory(size_t nbytes, const MemoryStats& s) = 0;

 private:
  void release_cache_locked();

  mutable std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> cache_;
  MemoryStats stats_;
};

}  // namespace memgrad
