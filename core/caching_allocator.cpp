#include "core/caching_allocator.h"

#include <algorithm>

namespace memgrad {

void* CachingAllocator::take_cached_locked(size_t cls, size_t& block) {
  auto take = [&](size_t c) -> void* {
    auto it = cache_.find(c);
    if (it == cache_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    block = c;
    return p;
  };
  if (void* p = take(cls)) return p;
  if (cls < kLargeFrom) return nullptr;
  for (size_t c = size_class(cls + 1); c <= 2 * cls; c = size_class(c + 1))
    if (void* p = take(c)) return p;
  return nullptr;
}

void* CachingAllocator::pool_allocate_locked(PagePool& pool, size_t cls) {
  int64_t delta = 0;
  void* p = pool.take(cls, delta);
  stats_.reserved += delta;
  if (!p) {  // give the cache back and try once more
    release_cache_locked();
    p = pool.take(cls, delta);
    stats_.reserved += delta;
  }
  return p;
}

void* CachingAllocator::allocate(size_t nbytes) {
  if (nbytes == 0) return nullptr;
  const size_t cls = size_class(nbytes);
  std::lock_guard lock(mu_);
  PagePool* pool = cls >= kLargeFrom ? page_pool() : nullptr;
  void* p = nullptr;
  size_t block = cls;
  if (pool) {
    p = pool_allocate_locked(*pool, cls);
    if (!p) out_of_memory(nbytes, stats_);
  } else {
    p = take_cached_locked(cls, block);
  }
  if (!p) {
    p = system_allocate(cls);
    if (!p) {  // give the cache back and try once more
      release_cache_locked();
      p = system_allocate(cls);
    }
    if (!p) out_of_memory(nbytes, stats_);
    stats_.reserved += static_cast<int64_t>(cls);
  }
  if (block != cls) larger_.emplace(p, block);
  stats_.current += static_cast<int64_t>(nbytes);
  stats_.peak = std::max(stats_.peak, stats_.current);
  stats_.allocations += 1;
  stats_.total_allocations += 1;
  return p;
}

void CachingAllocator::deallocate(void* p, size_t nbytes) {
  if (!p) return;
  std::lock_guard lock(mu_);
  size_t block = size_class(nbytes);
  stats_.current -= static_cast<int64_t>(nbytes);
  stats_.allocations -= 1;
  if (PagePool* pool = block >= kLargeFrom ? page_pool() : nullptr) {
    pool->give(p, block);
    return;
  }
  if (!larger_.empty()) {
    auto it = larger_.find(p);
    if (it != larger_.end()) block = it->second, larger_.erase(it);
  }
  cache_[block].push_back(p);
}

MemoryStats CachingAllocator::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard lock(mu_);
  stats_.peak = stats_.current;
}

void CachingAllocator::merge_peak(int64_t v) {
  std::lock_guard lock(mu_);
  stats_.peak = std::max(stats_.peak, v);
}

void CachingAllocator::empty_cache() {
  std::lock_guard lock(mu_);
  release_cache_locked();
}

void CachingAllocator::release_cache_locked() {
  if (PagePool* pool = page_pool()) stats_.reserved -= static_cast<int64_t>(pool->release_idle());
  for (auto& [cls, blocks] : cache_) {
    for (void* p : blocks) system_free(p);
    stats_.reserved -= static_cast<int64_t>(cls * blocks.size());
    blocks.clear();
  }
}

}  // namespace memgrad
