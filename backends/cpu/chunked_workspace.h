#pragma once
// The per-thread workspace of the CPU chunked attention kernels (cpu_attention_chunked.cpp), in
// elements of the inputs' dtype T: one rule for the kernels, the lra memory estimate and the memory
// tests. Cq, Ck are the block sizes the kernel uses (AttentionParams::q_chunk, k_chunk, at most
// Nq, Nk). The byte flags of masked pairs and dropout come on top where those options are on.
#include <cstdint>

#include "backends/cpu/block_gemm.h"

namespace memgrad::cpu {

// Forward: scores S [Cq, Ck], accumulator [Cq, Dv], running max and sum [Cq] each, and the key
// block packed for block_gemm: K_jᵀ [D, Ck] and V_j [Ck, Dv].
template <class T>
constexpr int64_t chunked_forward_workspace(int64_t Cq, int64_t Ck, int64_t D, int64_t Dv) {
  return Cq * Ck + Cq * Dv + 2 * Cq + block_gemm_packed_size<T>(D, Ck) + block_gemm_packed_size<T>(Ck, Dv);
}

// The row stride of the backward's P and dS blocks: Ck rounded up to whole 64-byte lines, plus one
// line. The dV and dK products read these blocks transposed, a few elements from each of hundreds
// of rows; with a stride of a power of two (k_chunk 256 or 512) those rows fall on a few cache sets
// and evict each other (measured 72 against 83 GFLOP/s per core for dV at D = 64).
constexpr int64_t chunked_block_ld(int64_t Ck) { return (Ck + 15) / 16 * 16 + 16; }

// Backward: P and dS [Cq, chunked_block_ld(Ck)], the dQ part [Cq, D]; packed once per key block K_jᵀ [D, Ck],
// V_jᵀ [Dv, Ck] and K_j [Ck, D], and per query block Q_i [Cq, D] and dO_i [Cq, Dv].
template <class T>
constexpr int64_t chunked_backward_workspace(int64_t Cq, int64_t Ck, int64_t D, int64_t Dv) {
  return 2 * Cq * chunked_block_ld(Ck) + Cq * D + block_gemm_packed_size<T>(D, Ck) + block_gemm_packed_size<T>(Dv, Ck) +
         block_gemm_packed_size<T>(Ck, D) + block_gemm_packed_size<T>(Cq, D) + block_gemm_packed_size<T>(Cq, Dv);
}

}  // namespace memgrad::cpu
