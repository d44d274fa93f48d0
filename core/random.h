#pragma once
// Counter-based random numbers (Philox-4x32-10): element i of a draw depends only on
// (seed, offset + i/4), so streams are reproducible and a GPU kernel can produce the same numbers.
#include <array>
#include <cstdint>

#include "core/philox.h"

namespace memgrad {

// core/philox.h's generator on arrays.
inline std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key) {
  const Philox4 r = philox4x32(Philox4{{counter[0], counter[1], counter[2], counter[3]}}, key[0], key[1]);
  return {r.w[0], r.w[1], r.w[2], r.w[3]};
}

// Maps 32 random bits to a float in (0, 1].
inline double uint_to_unit(uint32_t x) { return philox_uint_to_unit(x); }

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed, offset_ = offset; }
  // Reserves `n` elements' worth of counters; returns the first counter to use.
  uint64_t advance(int64_t n) {
    uint64_t start = offset_;
    offset_ += static_cast<uint64_t>((n + 3) / 4);
    return start;
  }

 private:
  uint64_t seed_ = 0;
  uint64_t offset_ = 0;
};

Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace memgrad
