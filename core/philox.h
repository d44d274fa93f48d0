#pragma once
// Philox-4x32-10 (Salmon et al. 2011, Random123): the one definition, for host and device code.
// core/random.h's generator, the CPU and CUDA random kernels and attention dropout
// (backends/attention_rules.h) all draw from it, so a GPU draw reproduces the CPU's stream for the
// same (seed, counter). Header-only with no dependencies, so .cu files include it too.
#include <cstdint>

#if defined(__CUDACC__)
#define MG_PHILOX __host__ __device__ __forceinline__
#else
#define MG_PHILOX inline
#endif

namespace memgrad {

struct Philox4 {
  uint32_t w[4];
};

MG_PHILOX Philox4 philox4x32(Philox4 c, uint32_t k0, uint32_t k1) {
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

// 32 random bits to a double in (0, 1].
MG_PHILOX double philox_uint_to_unit(uint32_t x) { return (static_cast<double>(x) + 1.0) * (1.0 / 4294967296.0); }

}  // namespace memgrad

#undef MG_PHILOX
