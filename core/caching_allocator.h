#pragma once
// The bookkeeping both device allocators share (core/cpu_allocator.cpp, core/cuda_allocator.cpp):
// freed blocks are cached by size class and handed out again, and the statistics are exact
// (`current` counts the bytes asked for, `reserved` the rounded blocks held, cache included). A
// device supplies its size classes, its system allocation and free, and its out-of-memory message.
// Thread-safe: one lock around the cache and the statistics.
//
// Reuse. A training step's tensors come in a few sizes whose counts change from phase to phase (the
// forward's [T, d] and [T, 3d] activations, the backward's [T, ff] gradients); exact classes alone
// left blocks of one size idle while the system was asked for another, and the reserved bytes
// (what the process's RSS grows by) ran 25% above the live peak of a transformer step
// (bench_train_step, docs/benchmarks.md). So requests from 1 MiB (kLargeFrom) go
//  - to the device's page pool where it has one (the CPU on Linux, core/page_pool.h): any idle
//    pages serve any size, split from a larger idle block or moved into a new one;
//  - else (CUDA) to a cached block of their own class, else the smallest cached block of up to
//    twice their class; the factor of two bounds the slack one tensor can hold.
// Smaller requests take a cached block of their own class only: they are many and cheap to serve
// from the system, and a search or a record of a larger block (`larger_`) would be overhead on
// every one.
#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/allocator.h"
#include "core/page_pool.h"

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
  // The device's page pool for classes from kLargeFrom (a multiple of the page size), or null.
  virtual PagePool* page_pool() { return nullptr; }

 private:
  void release_cache_locked();
  // Requests of this class and above go to the page pool, or may take a larger cached block.
  static constexpr size_t kLargeFrom = size_t{1} << 20;
  // The page pool serves class `cls`: a block, or nullptr after it gave the cache back once.
  void* pool_allocate_locked(PagePool& pool, size_t cls);
  // A cached block for class `cls` (its own, else the smallest up to 2 * cls), or nullptr; sets
  // `block` to the block's size.
  void* take_cached_locked(size_t cls, size_t& block);

  mutable std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> cache_;  // block size -> free blocks
  std::unordered_map<void*, size_t> larger_;  // blocks handed out for a smaller class -> their size
  MemoryStats stats_;
};

}  // namespace memgrad
