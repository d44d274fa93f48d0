#pragma once
// Row-wise kernels (softmax, layer norm, cross-entropy): a team of threads owns one row at a time,
// either one warp (short rows, several rows per block) or the whole block (long rows). Device code
// only; nvcc includes it from .cu files.
#include <cmath>
#include <cstdint>

#include "backends/cuda/device_math.cuh"

namespace memgrad::cuda {

// Rows up to this length get one warp each; longer rows get a block of kThreads.
constexpr int64_t kWarpRowMax = 1024;

// block_reduce (device_math.cuh) with its own shared scratch.
template <class T, class Op>
__device__ __forceinline__ T block_reduce(T v, Op op, T identity) {
  __shared__ T scratch[kWarp];
  return block_reduce(v, op, identity, scratch);
}

// The threads that own one row. Rows advance by a team-uniform step, so every thread of a team
// runs the same iterations and the reductions' barriers and shuffles stay converged.
template <bool kWarpTeam>
struct RowTeam {
  int lane, size;
  int64_t first_row, row_step;

  __device__ RowTeam() {
    if constexpr (kWarpTeam) {
      lane = threadIdx.x % kWarp;
      size = kWarp;
      first_row = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp;
      row_step = static_cast<int64_t>(gridDim.x) * blockDim.x / kWarp;
    } else {
      lane = threadIdx.x;
      size = blockDim.x;
      first_row = blockIdx.x;
      row_step = gridDim.x;
    }
  }

  template <class T, class Op>
  __device__ __forceinline__ T reduce(T v, Op op, T identity) const {
    if constexpr (kWarpTeam) return warp_reduce(v, op);
    else return block_reduce(v, op, identity);
  }
};

// Launch shape of a row kernel over `rows` rows of `cols` elements: a warp per row or a block per row.
struct RowLaunch {
  bool warp;
  unsigned blocks;
};

inline RowLaunch row_launch(int64_t rows, int64_t cols, int threads) {
  const int64_t cap = 65535LL * 8;
  if (cols <= kWarpRowMax) {
    const int64_t per_block = threads / kWarp;
    int64_t b = (rows + per_block - 1) / per_block;
    return {true, static_cast<unsigned>(b < 1 ? 1 : (b > cap ? cap : b))};
  }
  return {false, static_cast<unsigned>(rows < 1 ? 1 : (rows > cap ? cap : rows))};
}

}  // namespace memgrad::cuda
