#pragma once
// A block of device memory shared by a tensor and all its views.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/device.h"
#include "core/memory_trace.h"

namespace memgrad {

class Storage {
 public:
  // Allocates nbytes from the device's allocator (counted in its memory stats), in this thread's
  // memory::CategoryScope category (core/memory_trace.h).
  Storage(size_t nbytes, Device device);
  // Wraps memory that someone else owns, e.g. a numpy array's buffer (the Python bindings).
  // `owner` keeps that memory alive and is released when the storage is destroyed; nothing is
  // allocated or freed here and the bytes are NOT counted in the allocator's stats. The caller
  // guarantees that [data, data + nbytes) stays valid while `owner` lives.
  Storage(void* data, size_t nbytes, Device device, std::shared_ptr<void> owner);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  // True for storage that wraps external memory (the second constructor).
  bool is_external() const { return owner_ != nullptr; }

  // The version counter (as PyTorch's): every in-place write through memgrad's in-place ops
  // (autograd/ops.h: copy_, fill_, add_, ..., optimizer steps, state loading) bumps it, and
  // backward refuses a tensor saved for backward whose storage version has changed since
  // (autograd/node.h, saved()). Writes that bypass memgrad (through a numpy array sharing this
  // memory, or raw data pointers) are not counted.
  uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

  // What the block holds (core/memory_trace.h lists who changes it, and when). External memory
  // is never counted: its category stays `user` and set_category leaves it.
  memory::Category category() const { return category_; }
  void set_category(memory::Category c);
  // The block's id in memory traces (0 until it first appears in one).
  uint64_t trace_id() const { return trace_id_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  std::shared_ptr<void> owner_;  // set for external memory
  std::atomic<uint64_t> version_{0};
  memory::Category category_;
  uint64_t trace_id_ = 0;
};

}  // namespace memgrad
