#pragma once
// Philox-4x32-10 for host and device, word for word core/random.cpp's philox4x32 (same constants,
// same round structure), so a GPU draw reproduces the CPU's stream for the same (seed, offset).
#include <cstdint>

#ifdef __CUDACC__
#define MG_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define MG_HOST_DEVICE inline
#endif

namespace memgrad::cuda {

struct Philox4 {
  uint32_t w[4];
};

MG_HOST_DEVICE Philox4 philox4x32(Philox4 c, uint32_t k0, uint32_t k1) {
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(M0) * c.w[0];
    const uint64_t p1 = static_cast<uint64_t>(M1) * c.w[2];
    const Philox4 n{{static_cast<uint32_t>(p1 >> 32) ^ c.w[1] ^ k0, static_cast<uint32_t>(p1),
                     static_cast<uint32_t>(p0 >> 32) ^ c.w[3] ^ k1, static_cast<uint32_t>(p0)}};
    c = n;
    k0 += W0;
    k1 += W1;
  }
  return c;
}

// core/random.h's uint_to_unit: 32 random bits to a double in (0, 1].
MG_HOST_DEVICE double philox_uint_to_unit(uint32_t x) { return (static_cast<double>(x) + 1.0) * (1.0 / 4294967296.0); }

}  // namespace memgrad::cuda

#undef MG_HOST_DEVICE
