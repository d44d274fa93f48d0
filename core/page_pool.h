#pragma once
// Large CPU blocks as page ranges whose physical pages outlive their addresses (Linux mmap and
// mremap), for the caching allocator (core/caching_allocator.h). With blocks cached by size alone,
// a training step held blocks of one size idle while it asked the system for another: at L = 4096
// the [T, d] blocks freed by one phase sat idle while the next asked for [T, 3d] and [T, ff] ones,
// and the process held 318.6 MiB for a live peak of 296.7 (bench_train_step, docs/benchmarks.md).
//
// take(bytes) serves a request, in this order, by
//  1. the smallest idle block at least as large: its first `bytes`, the rest stays idle (no
//     system call);
//  2. a new mapping into which idle blocks' pages are moved, largest blocks first (mremap: no copy,
//     no page fault), the rest of it new pages that fault in when first touched;
//  3. a new mapping, when nothing is idle.
// A block given back merges with idle blocks at adjacent addresses. So the pages held from the
// system (`reserved`) follow the peak of the live bytes rather than the history of sizes.
//
// A block is a list of pieces, each inside one kernel mapping (mremap moves a range of one mapping
// per call, and a moved range becomes a mapping of its own). Adjacent pieces of the same mapping
// are kept as one, so a block split and merged again is one piece as before. The kernel limits a
// process's mappings (vm.max_map_count, 65530 by default): past max_pieces pieces the pool gives
// its idle blocks back to the system instead of moving them, and a move the kernel refuses leaves
// the rest of the new block as new pages. Nothing is lost then but the reuse.
//
// Under AddressSanitizer, idle blocks are poisoned: a use after free of a large tensor is reported.
// Not thread-safe: the allocator's lock guards it. Linux only (page_pool_supported()).
#include <cstddef>
#include <cstdint>
#include <map>
#include <unordered_map>
#include <vector>

namespace memgrad {

// Whether this build can move pages between mappings (Linux's mremap).
bool page_pool_supported();

class PagePool {
 public:
  explicit PagePool(size_t max_pieces = 4096);
  PagePool(const PagePool&) = delete;
  PagePool& operator=(const PagePool&) = delete;

  // A block of `bytes` (a multiple of the page size), or nullptr when the system refuses a new
  // mapping. `reserved_delta` is set to the change in bytes held from the system, also when it
  // returns nullptr: the new pages (0 when idle blocks served it all), or minus the idle pages a
  // failed take gave back.
  void* take(size_t bytes, int64_t& reserved_delta);
  // Returns a block that take() handed out, with the same size; it becomes idle.
  void give(void* p, size_t bytes);
  // Unmaps every idle block; returns the bytes released.
  size_t release_idle();

  size_t idle_bytes() const { return idle_bytes_; }
  // System calls so far: new mappings and page moves (for tests and diagnostics).
  int64_t maps() const { return maps_; }
  int64_t moves() const { return moves_; }
  size_t pieces() const { return pieces_count_; }  // over all blocks held

 private:
  struct Piece {
    char* addr;
    size_t len;
    int64_t mapping;  // which kernel mapping holds it: one per mmap and per move
  };
  using Pieces = std::vector<Piece>;

  void set_pieces(char* p, Pieces ps);  // block p's pieces (pieces_count_ follows)
  Pieces take_pieces(char* p);           // removes block p's pieces and returns them
  void add_idle(char* p, size_t n);
  void remove_idle(char* p, size_t n);
  // Splits block p's pieces at byte offset `at`: p keeps [0, at); [at, end) becomes block p + at.
  void split(char* p, size_t at);
  // Appends block q's pieces to block p's (q starts where p ends) and forgets q.
  void join(char* p, char* q);
  // Moves the first `need` bytes of block p (n bytes, already out of the idle sets) to dst,
  // appending the moved pieces to `out`; the rest of p stays idle. Returns the bytes moved, fewer
  // than `need` only when the kernel refused a move: the unmoved part stays idle where it is.
  size_t move_front(char* p, size_t n, size_t need, char* dst, Pieces& out);
  char* map(size_t bytes);

  std::map<char*, size_t> idle_;               // idle blocks: start -> bytes, in address order
  std::multimap<size_t, char*> idle_by_size_;  // the same blocks by size
  std::unordered_map<char*, Pieces> pieces_;   // every block held, idle or in use: start -> pieces
  size_t idle_bytes_ = 0, pieces_count_ = 0;
  const size_t max_pieces_;
  int64_t next_mapping_ = 0, maps_ = 0, moves_ = 0;
};

}  // namespace memgrad
