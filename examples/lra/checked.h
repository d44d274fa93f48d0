#pragma once
// Checked int64 arithmetic for element and byte counts computed from user-given sizes (the
// memory estimate, the option checks): a sum, difference or product that does not fit int64
// throws SizeOverflow instead of wrapping to a negative or small count. Local to the lra program
// (core has no checked-multiply helper); the caller catches SizeOverflow and names the sizes.
#include <compare>
#include <cstdint>
#include <initializer_list>

#include "core/error.h"

namespace memgrad::lra {

class SizeOverflow : public Error {
 public:
  SizeOverflow() : Error("[lra] a size or byte count does not fit 64 bits") {}
};

// An int64 count whose +, - and * throw SizeOverflow on overflow.
class Count {
 public:
  constexpr Count(int64_t v = 0) : v_(v) {}  // NOLINT: implicit, so that `4 * count` reads naturally
  constexpr int64_t value() const { return v_; }

  friend Count operator+(Count a, Count b) {
    int64_t r;
    if (__builtin_add_overflow(a.v_, b.v_, &r)) throw SizeOverflow();
    return r;
  }
  friend Count operator-(Count a, Count b) {
    int64_t r;
    if (__builtin_sub_overflow(a.v_, b.v_, &r)) throw SizeOverflow();
    return r;
  }
  friend Count operator*(Count a, Count b) {
    int64_t r;
    if (__builtin_mul_overflow(a.v_, b.v_, &r)) throw SizeOverflow();
    return r;
  }
  Count& operator+=(Count b) { return *this = *this + b; }
  friend bool operator==(Count a, Count b) { return a.v_ == b.v_; }
  friend auto operator<=>(Count a, Count b) { return a.v_ <=> b.v_; }

 private:
  int64_t v_;
};

// The product of sizes, throwing SizeOverflow when it does not fit int64.
inline int64_t checked_product(std::initializer_list<int64_t> sizes) {
  Count p = 1;
  for (int64_t s : sizes) p = p * s;
  return p.value();
}

}  // namespace memgrad::lra
