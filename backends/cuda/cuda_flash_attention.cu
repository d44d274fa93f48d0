// Fused chunked attention kernels (FlashAttention-2, Dao 2023) in float32 on CUDA cores.
//
// A block of 256 threads is a 16 x 16 grid: ty = tid / 16 picks rows, tx = tid % 16 columns, and
// each thread owns the rows ty + 16 r and columns tx + 16 c of every tile it computes, so the 16
// threads of a row are one half-warp (row reductions are 4 shuffles) and shared-memory reads of a
// warp hit distinct banks (row strides are padded to D + 1 and BC + 1, both 1 mod 32).
//
// Forward: a block owns BR = 64 query rows of one (b, h); it walks the key tiles (BC = 64 keys)
// from the tile's first visible key to its last (causal, window: backends/attention_visibility.h),
// with S = scale Q K^T and the online softmax in registers,
// P through shared memory into O += P V, and writes O / l and lse = m + log l at the end.
// Backward: a block owns BC = 64 keys of one (b, h), holds K and V in shared memory and dK, dV in
// registers (added atomically into the shared rows when G query heads share a key/value head),
// walks the query tiles that can see its keys, recomputes P = exp(S - lse), forms
// dS = P (dO V^T - delta) and adds scale dS K into dq with atomicAdd (one pass; dq's last bits
// depend on the order in which blocks finish).
//
// NaN / inf (autograd/attention.h): the host hands over only finite q, k, v and output gradients
// (others take the block-wise path), so a masked pair's 0 never meets a NaN operand; scores can
// still overflow to inf, so the running max propagates NaN and a masked pair's dS is 0 exactly.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "backends/attention_visibility.h"
#include "backends/cuda/device_math.cuh"
#include "backends/cuda/flash_attention_kernels.h"
#include "backends/scalar_math.h"

namespace memgrad::cuda {
namespace {

constexpr int kFlashThreads = 256;
constexpr int kSide = 16;  // the thread grid is kSide x kSide
constexpr int kFwdRows = 64, kFwdCols = 64;
constexpr int kBwdCols = 64;
// Backward query rows per tile: D = 128 halves it so shared memory (105 KB) fits two blocks per SM.
constexpr int bwd_rows(int D) { return D == 128 ? 32 : 64; }

__device__ __forceinline__ int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }


// Max (NaN-propagating) / sum over the kSide lanes of one tile row.
__device__ __forceinline__ float row_max(float x) { return warp_reduce<kSide>(x, MaxOp{}); }
__device__ __forceinline__ float row_sum(float x) { return warp_reduce<kSide>(x, SumOp{}); }

// Rows n0.. n0 + ROWS - 1 of the [N, D] matrix at src (row stride sn) into dst [ROWS, D + 1];
// rows past N become 0, so products over them stay finite.
template <int D, int ROWS>
__device__ __forceinline__ void load_tile(float* dst, const float* __restrict__ src, int64_t sn, int64_t n0,
                                          int64_t N) {
  for (int e = threadIdx.x; e < ROWS * D; e += kFlashThreads) {
    const int r = e / D, d = e % D;
    dst[r * (D + 1) + d] = n0 + r < N ? src[(n0 + r) * sn + d] : 0.f;
  }
}

template <int D>
constexpr size_t fwd_smem_bytes() {
  return sizeof(float) * ((kFwdRows + kFwdCols) * (D + 1) + kFwdRows * (kFwdCols + 1));
}

template <int D>
__global__ void __launch_bounds__(kFlashThreads) flash_fwd_kernel(const float* __restrict__ q, HeadLayout ql,
                                                                  const float* __restrict__ k, HeadLayout kl,
                                                                  const float* __restrict__ v, HeadLayout vl,
                                                                  FlashShape s, float* __restrict__ out,
                                                                  float* __restrict__ lse) {
  constexpr int BR = kFwdRows, BC = kFwdCols, RM = BR / kSide, CM = BC / kSide, DM = D / kSide;
  constexpr int LD = D + 1, LP = BC + 1;
  extern __shared__ float smem[];
  float* Qs = smem;             // [BR, LD]
  float* KVs = Qs + BR * LD;    // [BC, LD]: the key tile, then the value tile
  float* Ps = KVs + BC * LD;    // [BR, LP]: probabilities of the tile
  const int tx = threadIdx.x % kSide, ty = threadIdx.x / kSide;
  const int64_t bh = blockIdx.y, b = bh / s.H, h = bh % s.H;
  const int64_t i0 = (int64_t{gridDim.x} - 1 - blockIdx.x) * BR;  // the longest causal rows start first
  const float* qh = q + b * ql.sb + h * ql.sh;
  const float* kh = k + b * kl.sb + (h / s.G) * kl.sh;  // the key/value head of query head h
  const float* vh = v + b * vl.sb + (h / s.G) * vl.sh;
  const bool* valid = s.valid ? s.valid + b * s.Nk : nullptr;
  const float ninf = -INFINITY;

  load_tile<D, BR>(Qs, qh, ql.sr, i0, s.Nq);
  float o[RM][DM];  // unnormalised output rows ty + 16 r, columns tx + 16 e
  float m[RM], l[RM];
  int64_t first[RM], last[RM];  // each row's band of keys (the rule: backends/attention_visibility.h)
#pragma unroll
  for (int r = 0; r < RM; ++r) {
    m[r] = ninf, l[r] = 0.f;
    first[r] = s.vis.first_key(i0 + ty + kSide * r);
    last[r] = s.vis.last_key(i0 + ty + kSide * r);
#pragma unroll
    for (int e = 0; e < DM; ++e) o[r][e] = 0.f;
  }
  // keys outside first_key(first row) .. last_key(last row) are masked for all the tile's rows
  const int64_t k_begin = s.vis.first_key(i0) / BC * BC, k_end = s.vis.last_key(min64(i0 + BR, s.Nq) - 1) + 1;
  for (int64_t j0 = k_begin; j0 < k_end; j0 += BC) {
    __syncthreads();  // the previous tile's V and P reads are done (and Q is in place)
    load_tile<D, BC>(KVs, kh, kl.sr, j0, s.Nk);
    __syncthreads();
    float sc[RM][CM];  // scores of rows ty + 16 r, keys j0 + tx + 16 c
#pragma unroll
    for (int r = 0; r < RM; ++r)
#pragma unroll
      for (int c = 0; c < CM; ++c) sc[r][c] = 0.f;
#pragma unroll 8
    for (int d = 0; d < D; ++d) {
      float a[RM], bk[CM];
#pragma unroll
      for (int r = 0; r < RM; ++r) a[r] = Qs[(ty + kSide * r) * LD + d];
#pragma unroll
      for (int c = 0; c < CM; ++c) bk[c] = KVs[(tx + kSide * c) * LD + d];
#pragma unroll
      for (int r = 0; r < RM; ++r)
#pragma unroll
        for (int c = 0; c < CM; ++c) sc[r][c] = fmaf(a[r], bk[c], sc[r][c]);
    }
    bool col_ok[CM];  // in range and not padding
#pragma unroll
    for (int c = 0; c < CM; ++c) {
      const int64_t j = j0 + tx + kSide * c;
      col_ok[c] = j < s.Nk && (!valid || valid[j]);
    }
    __syncthreads();  // every thread is done reading K
    load_tile<D, BC>(KVs, vh, vl.sr, j0, s.Nk);
#pragma unroll
    for (int r = 0; r < RM; ++r) {
      float mx = ninf;
#pragma unroll
      for (int c = 0; c < CM; ++c) {
        const int64_t j = j0 + tx + kSide * c;
        const bool vis = col_ok[c] && j >= first[r] && j <= last[r];
        sc[r][c] = vis ? sc[r][c] * s.scale : ninf;  // -inf marks a masked key
        mx = nan_max(mx, sc[r][c]);
      }
      mx = row_max(mx);
      const float m_new = nan_max(m[r], mx);  // NaN: the row's output is NaN
      const bool any = m_new != ninf;  // else every key so far is masked for this row: P = 0
      float sum = 0.f;
#pragma unroll
      for (int c = 0; c < CM; ++c) {
        const float pr = any && sc[r][c] != ninf ? expf(sc[r][c] - m_new) : 0.f;
        sum += pr;
        Ps[(ty + kSide * r) * LP + tx + kSide * c] = pr;
      }
      sum = row_sum(sum);
      if (any) {
        const float alpha = expf(m[r] - m_new);  // rescales what was summed under the old max (0 at first)
        l[r] = l[r] * alpha + sum;
        m[r] = m_new;
#pragma unroll
        for (int e = 0; e < DM; ++e) o[r][e] *= alpha;
      }
    }
    __syncthreads();  // V and P are in place
#pragma unroll 4
    for (int j = 0; j < BC; ++j) {
      float pr[RM], vv[DM];
#pragma unroll
      for (int r = 0; r < RM; ++r) pr[r] = Ps[(ty + kSide * r) * LP + j];
#pragma unroll
      for (int e = 0; e < DM; ++e) vv[e] = KVs[j * LD + tx + kSide * e];
#pragma unroll
      for (int r = 0; r < RM; ++r)
#pragma unroll
        for (int e = 0; e < DM; ++e) o[r][e] = fmaf(pr[r], vv[e], o[r][e]);
    }
  }
#pragma unroll
  for (int r = 0; r < RM; ++r) {
    const int64_t i = i0 + ty + kSide * r;
    if (i >= s.Nq) continue;
    float* orow = out + (bh * s.Nq + i) * D;
    if (l[r] == 0.f) {  // no visible key: output 0, and lse = +inf makes every P = 0 in backward
#pragma unroll
      for (int e = 0; e < DM; ++e) orow[tx + kSide * e] = 0.f;
      if (tx == 0) lse[bh * s.Nq + i] = INFINITY;
      continue;
    }
    const float inv = 1.f / l[r];
#pragma unroll
    for (int e = 0; e < DM; ++e) orow[tx + kSide * e] = o[r][e] * inv;
    if (tx == 0) lse[bh * s.Nq + i] = m[r] + logf(l[r]);
  }
}

template <int D>
constexpr size_t bwd_smem_bytes() {
  constexpr int BR = bwd_rows(D);
  return sizeof(float) * (2 * kBwdCols * (D + 1) + 2 * BR * (D + 1) + BR * (kBwdCols + 1) + 2 * BR);
}

template <int D>
__global__ void __launch_bounds__(kFlashThreads) flash_bwd_kernel(const float* __restrict__ q, HeadLayout ql,
                                                                  const float* __restrict__ k, HeadLayout kl,
                                                                  const float* __restrict__ v, HeadLayout vl,
                                                                  FlashShape s, const float* __restrict__ dO,
                                                                  const float* __restrict__ lse,
                                                                  const float* __restrict__ delta, float* dq,
                                                                  float* __restrict__ dk, float* __restrict__ dv) {
  constexpr int BR = bwd_rows(D), BC = kBwdCols, RM = BR / kSide, CM = BC / kSide, DM = D / kSide;
  constexpr int LD = D + 1, LP = BC + 1;
  extern __shared__ float smem[];
  float* Ks = smem;            // [BC, LD]
  float* Vs = Ks + BC * LD;    // [BC, LD]
  float* Qs = Vs + BC * LD;    // [BR, LD]
  float* dOs = Qs + BR * LD;   // [BR, LD]
  float* PSs = dOs + BR * LD;  // [BR, LP]: P of the tile, then dS
  float* Ls = PSs + BR * LP;   // [BR] lse of the tile's rows
  float* Dls = Ls + BR;        // [BR] delta of the tile's rows
  const int tx = threadIdx.x % kSide, ty = threadIdx.x / kSide;
  const int64_t bh = blockIdx.y, b = bh / s.H, h = bh % s.H;
  const int64_t j0 = int64_t{blockIdx.x} * BC;
  const float* qh = q + b * ql.sb + h * ql.sh;
  const float* dOh = dO + bh * s.Nq * D;  // [Nq, D]
  const bool* valid = s.valid ? s.valid + b * s.Nk : nullptr;

  const int64_t hk = h / s.G;  // the key/value head of query head h
  load_tile<D, BC>(Ks, k + b * kl.sb + hk * kl.sh, kl.sr, j0, s.Nk);
  load_tile<D, BC>(Vs, v + b * vl.sb + hk * vl.sh, vl.sr, j0, s.Nk);
  bool col_ok[CM];  // keys j0 + tx + 16 c: in range and not padding
#pragma unroll
  for (int c = 0; c < CM; ++c) {
    const int64_t j = j0 + tx + kSide * c;
    col_ok[c] = j < s.Nk && (!valid || valid[j]);
  }
  float dK[CM][DM], dV[CM][DM];  // rows: keys j0 + ty + 16 c; columns tx + 16 e
#pragma unroll
  for (int c = 0; c < CM; ++c)
#pragma unroll
    for (int e = 0; e < DM; ++e) dK[c][e] = 0.f, dV[c][e] = 0.f;

  // the queries that may see a key of the tile: first_query(j0) .. last_query(last key)
  const int64_t i_first = s.vis.first_query(j0);
  const int64_t i_end = min64(s.Nq, s.vis.last_query(min64(j0 + BC, s.Nk) - 1) + 1);
  for (int64_t i0 = i_first / BR * BR; i0 < i_end; i0 += BR) {
    __syncthreads();  // the previous tile's reads of Q, dO and P / dS are done
    load_tile<D, BR>(Qs, qh, ql.sr, i0, s.Nq);
    load_tile<D, BR>(dOs, dOh, D, i0, s.Nq);
    for (int r = threadIdx.x; r < BR; r += kFlashThreads) {
      const int64_t i = i0 + r;
      Ls[r] = i < s.Nq ? lse[bh * s.Nq + i] : INFINITY;  // +inf: P = 0
      Dls[r] = i < s.Nq ? delta[bh * s.Nq + i] : 0.f;
    }
    __syncthreads();
    float sc[RM][CM], dp[RM][CM];  // S, then P; dP, then dS (rows ty + 16 r, keys tx + 16 c)
#pragma unroll
    for (int r = 0; r < RM; ++r)
#pragma unroll
      for (int c = 0; c < CM; ++c) sc[r][c] = 0.f, dp[r][c] = 0.f;
#pragma unroll 4
    for (int d = 0; d < D; ++d) {
      float a[RM], g[RM], bk[CM], bv[CM];
#pragma unroll
      for (int r = 0; r < RM; ++r) a[r] = Qs[(ty + kSide * r) * LD + d], g[r] = dOs[(ty + kSide * r) * LD + d];
#pragma unroll
      for (int c = 0; c < CM; ++c) bk[c] = Ks[(tx + kSide * c) * LD + d], bv[c] = Vs[(tx + kSide * c) * LD + d];
#pragma unroll
      for (int r = 0; r < RM; ++r)
#pragma unroll
        for (int c = 0; c < CM; ++c) {
          sc[r][c] = fmaf(a[r], bk[c], sc[r][c]);
          dp[r][c] = fmaf(g[r], bv[c], dp[r][c]);
        }
    }
#pragma unroll
    for (int r = 0; r < RM; ++r) {
      const int row = ty + kSide * r;
      const int64_t first = s.vis.first_key(i0 + row), last = s.vis.last_key(i0 + row);
      const float L = Ls[row], dr = Dls[row];
#pragma unroll
      for (int c = 0; c < CM; ++c) {
        const int64_t j = j0 + tx + kSide * c;
        const bool vis = col_ok[c] && j >= first && j <= last;
        const float pr = vis ? expf(sc[r][c] * s.scale - L) : 0.f;  // 0 too where L = +inf
        sc[r][c] = pr;
        dp[r][c] = vis ? pr * (dp[r][c] - dr) : 0.f;  // a masked pair's 0 even where delta is NaN
        PSs[row * LP + tx + kSide * c] = pr;
      }
    }
    __syncthreads();  // P is in place
    // dV += P^T dO
#pragma unroll 4
    for (int i = 0; i < BR; ++i) {
      float pc[CM], gv[DM];
#pragma unroll
      for (int c = 0; c < CM; ++c) pc[c] = PSs[i * LP + ty + kSide * c];
#pragma unroll
      for (int e = 0; e < DM; ++e) gv[e] = dOs[i * LD + tx + kSide * e];
#pragma unroll
      for (int c = 0; c < CM; ++c)
#pragma unroll
        for (int e = 0; e < DM; ++e) dV[c][e] = fmaf(pc[c], gv[e], dV[c][e]);
    }
    __syncthreads();  // every thread is done reading P
#pragma unroll
    for (int r = 0; r < RM; ++r)
#pragma unroll
      for (int c = 0; c < CM; ++c) PSs[(ty + kSide * r) * LP + tx + kSide * c] = dp[r][c];
    __syncthreads();  // dS is in place
    // dK += dS^T Q (scaled at the end)
#pragma unroll 4
    for (int i = 0; i < BR; ++i) {
      float dc[CM], qv[DM];
#pragma unroll
      for (int c = 0; c < CM; ++c) dc[c] = PSs[i * LP + ty + kSide * c];
#pragma unroll
      for (int e = 0; e < DM; ++e) qv[e] = Qs[i * LD + tx + kSide * e];
#pragma unroll
      for (int c = 0; c < CM; ++c)
#pragma unroll
        for (int e = 0; e < DM; ++e) dK[c][e] = fmaf(dc[c], qv[e], dK[c][e]);
    }
    // dQ += scale dS K, one row at a time to keep registers low
#pragma unroll
    for (int r = 0; r < RM; ++r) {
      const int row = ty + kSide * r;
      float acc[DM];
#pragma unroll
      for (int e = 0; e < DM; ++e) acc[e] = 0.f;
#pragma unroll 4
      for (int j = 0; j < BC; ++j) {
        const float ds = PSs[row * LP + j];
#pragma unroll
        for (int e = 0; e < DM; ++e) acc[e] = fmaf(ds, Ks[j * LD + tx + kSide * e], acc[e]);
      }
      const int64_t i = i0 + row;
      if (i < s.Nq) {
        float* dqrow = dq + (bh * s.Nq + i) * D;
#pragma unroll
        for (int e = 0; e < DM; ++e) atomicAdd(dqrow + tx + kSide * e, s.scale * acc[e]);
      }
    }
  }
#pragma unroll
  for (int c = 0; c < CM; ++c) {
    const int64_t j = j0 + ty + kSide * c;
    if (j >= s.Nk) continue;
    const int64_t bhk = b * (s.H / s.G) + hk;  // dk, dv [B, H / G, Nk, D]
    float* dkrow = dk + (bhk * s.Nk + j) * D;
    float* dvrow = dv + (bhk * s.Nk + j) * D;
#pragma unroll
    for (int e = 0; e < DM; ++e) {
      if (s.G > 1) {  // the group's G blocks for these keys add into the same rows
        atomicAdd(dkrow + tx + kSide * e, s.scale * dK[c][e]);
        atomicAdd(dvrow + tx + kSide * e, dV[c][e]);
      } else {
        dkrow[tx + kSide * e] += s.scale * dK[c][e];
        dvrow[tx + kSide * e] += dV[c][e];
      }
    }
  }
}

unsigned tiles(int64_t n, int rows) { return static_cast<unsigned>((n + rows - 1) / rows); }

template <int D>
void fwd(const float* q, HeadLayout ql, const float* k, HeadLayout kl, const float* v, HeadLayout vl,
         const FlashShape& s, float* out, float* lse) {
  constexpr size_t bytes = fwd_smem_bytes<D>();
  // above the 48 KB default for dynamic shared memory (once); a failure shows at check_launch
  static const cudaError_t opt_in = cudaFuncSetAttribute(
      flash_fwd_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
  (void)opt_in;
  const dim3 grid(tiles(s.Nq, kFwdRows), static_cast<unsigned>(s.BH));
  flash_fwd_kernel<D><<<grid, kFlashThreads, bytes>>>(q, ql, k, kl, v, vl, s, out, lse);
}

template <int D>
void bwd(const float* q, HeadLayout ql, const float* k, HeadLayout kl, const float* v, HeadLayout vl,
         const FlashShape& s, const float* dO, const float* lse, const float* delta, float* dq, float* dk, float* dv) {
  constexpr size_t bytes = bwd_smem_bytes<D>();
  static const cudaError_t opt_in = cudaFuncSetAttribute(
      flash_bwd_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
  (void)opt_in;
  const dim3 grid(tiles(s.Nk, kBwdCols), static_cast<unsigned>(s.BH));
  flash_bwd_kernel<D><<<grid, kFlashThreads, bytes>>>(q, ql, k, kl, v, vl, s, dO, lse, delta, dq, dk, dv);
}

}  // namespace

void launch_flash_fwd(const float* q, HeadLayout ql, const float* k, HeadLayout kl, const float* v, HeadLayout vl,
                      const FlashShape& s, int64_t D, float* out, float* lse) {
  if (s.BH <= 0 || s.Nq <= 0) return;
  switch (D) {
    case 32: return fwd<32>(q, ql, k, kl, v, vl, s, out, lse);
    case 64: return fwd<64>(q, ql, k, kl, v, vl, s, out, lse);
    case 128: return fwd<128>(q, ql, k, kl, v, vl, s, out, lse);
    default: return;  // the host checks flash_head_dim_supported first
  }
}

void launch_flash_bwd(const float* q, HeadLayout ql, const float* k, HeadLayout kl, const float* v, HeadLayout vl,
                      const FlashShape& s, int64_t D, const float* dO, const float* lse, const float* delta, float* dq,
                      float* dk, float* dv) {
  if (s.BH <= 0 || s.Nq <= 0 || s.Nk <= 0) return;
  switch (D) {
    case 32: return bwd<32>(q, ql, k, kl, v, vl, s, dO, lse, delta, dq, dk, dv);
    case 64: return bwd<64>(q, ql, k, kl, v, vl, s, dO, lse, delta, dq, dk, dv);
    case 128: return bwd<128>(q, ql, k, kl, v, vl, s, dO, lse, delta, dq, dk, dv);
    default: return;
  }
}

}  // namespace memgrad::cuda
