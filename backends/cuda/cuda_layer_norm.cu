// Layer norm over the last dim: a warp or block per row for the output and grad_x; grad_weight
// and grad_bias as per-chunk column partial sums then one fixed-order sum per column (no atomics,
// so the result is deterministic).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "backends/cuda/kernel_args.h"
#include "backends/cuda/layer_norm_kernels.h"
#include "backends/cuda/row_team.cuh"

namespace memgrad::cuda {
namespace {

constexpr int kTileCols = 32;  // columns per block of the weight/bias partial sums
constexpr int kTileRows = 8;   // threads down the rows of one column
constexpr int64_t kMaxChunks = 256;
constexpr int64_t kMinChunkRows = 64;

template <class T, bool kWarpTeam>
__global__ void layer_norm_kernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b,
                                  T* __restrict__ out, T* __restrict__ mean, T* __restrict__ rstd, int64_t rows,
                                  int64_t C, double eps) {
  const RowTeam<kWarpTeam> team;
  for (int64_t r = team.first_row; r < rows; r += team.row_step) {
    const T* xr = x + r * C;
    double s = 0;
    for (int64_t c = team.lane; c < C; c += team.size) s += xr[c];
    s = team.reduce(s, SumOp{}, 0.0);
    const double mu = s / C;
    double ss = 0;
    for (int64_t c = team.lane; c < C; c += team.size) {
      const double d = xr[c] - mu;
      ss += d * d;
    }
    ss = team.reduce(ss, SumOp{}, 0.0);
    const T m = static_cast<T>(mu), rs = static_cast<T>(1.0 / sqrt(ss / C + eps));
    if (team.lane == 0) mean[r] = m, rstd[r] = rs;
    T* orow = out + r * C;
    for (int64_t c = team.lane; c < C; c += team.size) {
      T v = (xr[c] - m) * rs;
      if (w) v *= w[c];
      if (b) v += b[c];
      orow[c] = v;
    }
  }
}

// g and dx may be the same memory (backend.h), hence no __restrict__ on them: a lane reads each
// of its row's g[c] for the sums, and after the team's reduction reads g[c] again and writes dx[c],
// the same c, so no lane reads what another has written.
template <class T, bool kWarpTeam>
__global__ void layer_norm_backward_x_kernel(const T* g, const T* __restrict__ x, const T* __restrict__ w,
                                             const T* __restrict__ mean, const T* __restrict__ rstd, T* dx,
                                             int64_t rows, int64_t C) {
  const RowTeam<kWarpTeam> team;
  for (int64_t r = team.first_row; r < rows; r += team.row_step) {
    const T* xr = x + r * C;
    const T* gr = g + r * C;
    const T m = mean[r], rs = rstd[r];
    double sum_dy = 0, sum_dy_xhat = 0;  // dy = g * w: the gradient of xhat
    for (int64_t c = team.lane; c < C; c += team.size) {
      const T xhat = (xr[c] - m) * rs;
      const T dy = w ? gr[c] * w[c] : gr[c];
      sum_dy += dy;
      sum_dy_xhat += dy * xhat;
    }
    sum_dy = team.reduce(sum_dy, SumOp{}, 0.0);
    sum_dy_xhat = team.reduce(sum_dy_xhat, SumOp{}, 0.0);
    const T mdy = static_cast<T>(sum_dy / C), mdyx = static_cast<T>(sum_dy_xhat / C);
    T* dxr = dx + r * C;
    for (int64_t c = team.lane; c < C; c += team.size) {
      const T xhat = (xr[c] - m) * rs;
      const T dy = w ? gr[c] * w[c] : gr[c];
      dxr[c] = rs * (dy - mdy - xhat * mdyx);
    }
  }
}

// Block (tile, chunk): columns [tile*32, +32) over rows [chunk*chunk_rows, +chunk_rows);
// partials[chunk][0][c] = sum of grad * xhat, partials[chunk][1][c] = sum of grad.
template <class T>
__global__ void layer_norm_wb_partial_kernel(const T* __restrict__ g, const T* __restrict__ x,
                                             const T* __restrict__ mean, const T* __restrict__ rstd,
                                             double* __restrict__ partials, int64_t rows, int64_t C,
                                             int64_t chunk_rows) {
  __shared__ double sw[kTileRows][kTileCols + 1], sb[kTileRows][kTileCols + 1];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kTileCols + threadIdx.x;
  const int64_t chunk = blockIdx.y;
  const int64_t r0 = chunk * chunk_rows, r1 = r0 + chunk_rows < rows ? r0 + chunk_rows : rows;
  double aw = 0, ab = 0;
  if (c < C)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kTileRows) {
      const T gi = g[r * C + c];
      const T xhat = (x[r * C + c] - mean[r]) * rstd[r];
      aw += static_cast<double>(gi) * xhat;
      ab += gi;
    }
  sw[threadIdx.y][threadIdx.x] = aw;
  sb[threadIdx.y][threadIdx.x] = ab;
  __syncthreads();
  if (threadIdx.y != 0 || c >= C) return;
  for (int y = 1; y < kTileRows; ++y) aw += sw[y][threadIdx.x], ab += sb[y][threadIdx.x];  // fixed order
  partials[(chunk * 2) * C + c] = aw;
  partials[(chunk * 2 + 1) * C + c] = ab;
}

template <class T>
__global__ void layer_norm_wb_final_kernel(const double* __restrict__ partials, T* __restrict__ gw,
                                           T* __restrict__ gb, int64_t chunks, int64_t C) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < C; c += step) {
    double sw = 0, sb = 0;
    for (int64_t k = 0; k < chunks; ++k) sw += partials[(k * 2) * C + c], sb += partials[(k * 2 + 1) * C + c];
    if (gw) gw[c] = static_cast<T>(sw);
    if (gb) gb[c] = static_cast<T>(sb);
  }
}

}  // namespace

template <class T>
void launch_layer_norm(const T* x, const T* weight, const T* bias, T* out, T* mean, T* rstd, int64_t rows,
                       int64_t cols, double eps) {
  const RowLaunch L = row_launch(rows, cols, kThreads);
  if (L.warp) layer_norm_kernel<T, true><<<L.blocks, kThreads>>>(x, weight, bias, out, mean, rstd, rows, cols, eps);
  else layer_norm_kernel<T, false><<<L.blocks, kThreads>>>(x, weight, bias, out, mean, rstd, rows, cols, eps);
}

template <class T>
void launch_layer_norm_backward_x(const T* grad, const T* x, const T* weight, const T* mean, const T* rstd,
                                  T* grad_x, int64_t rows, int64_t cols) {
  const RowLaunch L = row_launch(rows, cols, kThreads);
  if (L.warp)
    layer_norm_backward_x_kernel<T, true><<<L.blocks, kThreads>>>(grad, x, weight, mean, rstd, grad_x, rows, cols);
  else
    layer_norm_backward_x_kernel<T, false><<<L.blocks, kThreads>>>(grad, x, weight, mean, rstd, grad_x, rows, cols);
}

int64_t layer_norm_wb_chunks(int64_t rows) {
  const int64_t c = (rows + kMinChunkRows - 1) / kMinChunkRows;
  return c < kMaxChunks ? c : kMaxChunks;
}

template <class T>
void launch_layer_norm_backward_wb(const T* grad, const T* x, const T* mean, const T* rstd, double* partials,
                                   T* grad_weight, T* grad_bias, int64_t rows, int64_t cols) {
  const int64_t chunks = layer_norm_wb_chunks(rows);
  if (chunks > 0) {
    const int64_t chunk_rows = (rows + chunks - 1) / chunks;
    const dim3 grid(static_cast<unsigned>((cols + kTileCols - 1) / kTileCols), static_cast<unsigned>(chunks));
    layer_norm_wb_partial_kernel<T><<<grid, dim3(kTileCols, kTileRows)>>>(grad, x, mean, rstd, partials, rows, cols,
                                                                         chunk_rows);
  }
  layer_norm_wb_final_kernel<T><<<blocks_for(cols), kThreads>>>(partials, grad_weight, grad_bias, chunks, cols);
}

template void launch_layer_norm<float>(const float*, const float*, const float*, float*, float*, float*, int64_t,
                                       int64_t, double);
template void launch_layer_norm<double>(const double*, const double*, const double*, double*, double*, double*,
                                        int64_t, int64_t, double);
template void launch_layer_norm_backward_x<float>(const float*, const float*, const float*, const float*,
                                                  const float*, float*, int64_t, int64_t);
template void launch_layer_norm_backward_x<double>(const double*, const double*, const double*, const double*,
                                                   const double*, double*, int64_t, int64_t);
template void launch_layer_norm_backward_wb<float>(const float*, const float*, const float*, const float*, double*,
                                                   float*, float*, int64_t, int64_t);
template void launch_layer_norm_backward_wb<double>(const double*, const double*, const double*, const double*,
                                                    double*, double*, double*, int64_t, int64_t);

}  // namespace memgrad::cuda
