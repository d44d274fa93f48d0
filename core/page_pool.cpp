#include "core/page_pool.h"

#include <algorithm>
#include <iterator>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define MEMGRAD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MEMGRAD_ASAN 1
#endif
#endif
#ifdef MEMGRAD_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace memgrad {
namespace {

// Idle blocks are poisoned under AddressSanitizer; addresses that leave the pool (unmapped, or
// whose pages moved away) are unpoisoned, since the system may map something else there.
void poison(void* p, size_t n) {
#ifdef MEMGRAD_ASAN
  __asan_poison_memory_region(p, n);
#else
  (void)p, (void)n;
#endif
}
void unpoison(void* p, size_t n) {
#ifdef MEMGRAD_ASAN
  __asan_unpoison_memory_region(p, n);
#else
  (void)p, (void)n;
#endif
}

}  // namespace

#if defined(__linux__) && defined(MREMAP_FIXED)
bool page_pool_supported() { return true; }

namespace {
// A new private anonymous mapping of `bytes`, at `at` (replacing what is there) when given.
void* sys_map(void* at, size_t bytes) {
  const int flags = MAP_PRIVATE | MAP_ANONYMOUS | (at ? MAP_FIXED : 0);
  void* p = mmap(at, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}
bool sys_move(void* from, size_t bytes, void* to) {
  return mremap(from, bytes, bytes, MREMAP_MAYMOVE | MREMAP_FIXED, to) != MAP_FAILED;
}
void sys_unmap(void* p, size_t bytes) { munmap(p, bytes); }
}  // namespace
#else
bool page_pool_supported() { return false; }

namespace {
void* sys_map(void*, size_t) { return nullptr; }
bool sys_move(void*, size_t, void*) { return false; }
void sys_unmap(void*, size_t) {}
}  // namespace
#endif

PagePool::PagePool(size_t max_pieces) : max_pieces_(max_pieces) {}

void PagePool::set_pieces(char* p, Pieces ps) {
  pieces_count_ += ps.size();
  pieces_[p] = std::move(ps);
}

PagePool::Pieces PagePool::take_pieces(char* p) {
  auto it = pieces_.find(p);
  Pieces ps = std::move(it->second);
  pieces_.erase(it);
  pieces_count_ -= ps.size();
  return ps;
}

void PagePool::add_idle(char* p, size_t n) {
  idle_.emplace(p, n);
  idle_by_size_.emplace(n, p);
  idle_bytes_ += n;
}

void PagePool::remove_idle(char* p, size_t n) {
  idle_.erase(p);
  auto [lo, hi] = idle_by_size_.equal_range(n);
  for (auto it = lo; it != hi; ++it)
    if (it->second == p) {
      idle_by_size_.erase(it);
      break;
    }
  idle_bytes_ -= n;
}

void PagePool::split(char* p, size_t at) {
  Pieces head = take_pieces(p), tail;
  size_t off = 0;
  size_t i = 0;
  for (; i < head.size() && off + head[i].len <= at; ++i) off += head[i].len;
  if (i < head.size() && off < at) {  // `at` falls inside piece i: both halves stay in its mapping
    const size_t keep = at - off;
    tail.push_back(Piece{head[i].addr + keep, head[i].len - keep, head[i].mapping});
    head[i].len = keep;
    ++i;
  }
  tail.insert(tail.end(), head.begin() + static_cast<std::ptrdiff_t>(i), head.end());
  head.resize(i);
  set_pieces(p, std::move(head));
  set_pieces(p + at, std::move(tail));
}

void PagePool::join(char* p, char* q) {
  Pieces a = take_pieces(p), b = take_pieces(q);
  size_t i = 0;
  if (!a.empty() && !b.empty() && a.back().mapping == b[0].mapping && a.back().addr + a.back().len == b[0].addr)
    a.back().len += b[i++].len;  // the same mapping, contiguous: one piece
  a.insert(a.end(), b.begin() + static_cast<std::ptrdiff_t>(i), b.end());
  set_pieces(p, std::move(a));
}

size_t PagePool::move_front(char* p, size_t n, size_t need, char* dst, Pieces& out) {
  if (need < n) {
    split(p, need);
    add_idle(p + need, n - need);
  }
  const Pieces src = take_pieces(p);
  size_t moved = 0;
  for (size_t i = 0; i < src.size(); ++i) {
    const Piece& s = src[i];
    if (!sys_move(s.addr, s.len, dst + moved)) {  // refused (too many mappings): the rest stays idle here
      set_pieces(s.addr, Pieces(src.begin() + static_cast<std::ptrdiff_t>(i), src.end()));
      add_idle(s.addr, need - moved);
      return moved;
    }
    unpoison(s.addr, s.len);  // those addresses are no longer ours
    out.push_back(Piece{dst + moved, s.len, next_mapping_++});
    moved += s.len;
    ++moves_;
  }
  return moved;
}

char* PagePool::map(size_t bytes) {
  char* p = static_cast<char*>(sys_map(nullptr, bytes));
  if (p) ++maps_;
  return p;
}

void* PagePool::take(size_t bytes, int64_t& reserved_delta) {
  reserved_delta = 0;
  auto fit = idle_by_size_.lower_bound(bytes);
  if (fit != idle_by_size_.end()) {  // 1. the front of the smallest idle block that is large enough
    char* p = fit->second;
    const size_t n = fit->first;
    remove_idle(p, n);
    if (n > bytes) {
      split(p, bytes);
      add_idle(p + bytes, n - bytes);
    }
    unpoison(p, bytes);
    return p;
  }
  // Each moved piece is a kernel mapping of its own: past max_pieces, the idle blocks go back to
  // the system instead, so that the process stays far below the kernel's limit on mappings.
  if (pieces_count_ > max_pieces_) reserved_delta -= static_cast<int64_t>(release_idle());
  char* dst = map(bytes);
  if (!dst) return nullptr;
  Pieces out;
  size_t off = 0;
  bool refused = false;
  while (off < bytes && !idle_by_size_.empty() && !refused) {  // 2. idle pages moved in, largest first
    const auto largest = std::prev(idle_by_size_.end());
    char* p = largest->second;
    const size_t n = largest->first, want = std::min(n, bytes - off);
    remove_idle(p, n);
    const size_t moved = move_front(p, n, want, dst + off, out);
    off += moved;
    refused = moved < want;
  }
  int64_t tail_mapping = next_mapping_++;  // dst's own new pages
  if (refused && !sys_map(dst + off, bytes - off)) {
    // A refused move may have unmapped its destination, and dst's rest could not be mapped
    // afresh: dst goes back to the system, with the pages moved into it.
    sys_unmap(dst, bytes);
    reserved_delta -= static_cast<int64_t>(off);
    return nullptr;
  }
  if (off < bytes) out.push_back(Piece{dst + off, bytes - off, tail_mapping});
  set_pieces(dst, std::move(out));
  reserved_delta += static_cast<int64_t>(bytes - off);
  unpoison(dst, bytes);
  return dst;
}

void PagePool::give(void* ptr, size_t bytes) {
  char* p = static_cast<char*>(ptr);
  poison(p, bytes);
  auto next = idle_.find(p + bytes);
  if (next != idle_.end()) {  // merge with the idle block that starts where this one ends
    const size_t n = next->second;
    remove_idle(p + bytes, n);
    join(p, p + bytes);
    bytes += n;
  }
  auto after = idle_.lower_bound(p);
  if (after != idle_.begin()) {  // and with the one that ends where it starts
    const auto before = std::prev(after);
    if (before->first + before->second == p) {
      char* q = before->first;
      const size_t n = before->second;
      remove_idle(q, n);
      join(q, p);
      p = q;
      bytes += n;
    }
  }
  add_idle(p, bytes);
}

size_t PagePool::release_idle() {
  size_t total = 0;
  for (const auto& [p, n] : idle_) {
    sys_unmap(p, n);
    unpoison(p, n);
    take_pieces(p);
    total += n;
  }
  idle_.clear();
  idle_by_size_.clear();
  idle_bytes_ = 0;
  return total;
}

}  // namespace memgrad
