// Kernels of fused top-k attention (k <= 256). One warp per query row, a few rows per block; no
// score block exists outside one 32-key tile.
// Forward: the block streams over tiles of 32 keys (K tile in shared memory, one key per lane).
// Each warp keeps its row's candidates (score, key) in a shared buffer of cap = 2 * max(32, pow2
// >= kk) entries: a key is appended only when it beats tau, the kk-th best at the last
// compaction, and a full buffer is bitonic-sorted (higher score first, on equal scores the earlier
// key: the CPU's order) and cut to kk. Keys arrive in ascending order, so a key equal to tau is
// later than it and loses. At the end: sort, softmax over the best kk, re-sort them by key, gather V.
// NaN / inf (autograd/attention.h), as the CPU: every visible key is a candidate (one scored -inf
// too), NaN ranks above +inf; the softmax propagates NaN and gives 0 to picks all scored -inf.
// Backward: one warp per query row over its kk picks; dK and dV rows are shared, so atomic.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "backends/attention_visibility.h"
#include "backends/cuda/device_math.cuh"
#include "backends/cuda/kernel_args.h"
#include "backends/cuda/topk_fused_kernels.h"
#include "backends/scalar_math.h"

namespace memgrad::cuda {
namespace {

constexpr int kNoKey = 0x7fffffff;  // sentinel key of empty buffer slots: after every real key

__device__ __forceinline__ int pow2_at_least(int n) {
  int p = 1;
  while (p < n) p <<= 1;
  return p;
}

// The last key index query i may see; negative when none (the rule: backends/attention_visibility.h).
__device__ __forceinline__ int64_t fused_last_key(const AttnMask& mk, int64_t i) { return mk.vis.last_key(i); }

// Whether (sa, ja) ranks before (sb, jb): NaN first, then the higher score, on equal scores the lower key.
template <class T>
__device__ __forceinline__ bool ranks_before(T sa, int ja, T sb, int jb) {
  const bool an = sa != sa, bn = sb != sb;
  if (an != bn) return an;
  if (!an && sa != sb) return sa > sb;
  return ja < jb;
}

// Bitonic sort of the n (a power of 2) entries (s[t], j[t]) by the calling warp: best first
// (by_key false: ranks_before) or by ascending key (by_key true).
template <class T>
__device__ void warp_bitonic_sort(T* s, int* j, int n, bool by_key) {
  const int lane = threadIdx.x & 31;
  __syncwarp();  // the entries written by other lanes are visible
  for (int size = 2; size <= n; size <<= 1)
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int p = lane; p < n / 2; p += 32) {
        const int a = 2 * p - (p & (stride - 1)), b = a + stride;  // the p-th pair at this stride
        const bool forward = (a & size) == 0;  // this run sorts in the requested order, its neighbour reversed
        const T sa = s[a], sb = s[b];
        const int ja = j[a], jb = j[b];
        const bool b_first = by_key ? jb < ja : ranks_before(sb, jb, sa, ja);
        if (b_first == forward) s[a] = sb, s[b] = sa, j[a] = jb, j[b] = ja;
      }
      __syncwarp();
    }
}

// Sorts the warp's cnt candidates best first; slots up to the next power of 2 get sentinels
// (-inf, kNoKey), after every candidate (one scored -inf has a lower key).
template <class T>
__device__ void sort_candidates(T* s, int* j, int cnt) {
  const int lane = threadIdx.x & 31, n = pow2_at_least(cnt);
  for (int t = cnt + lane; t < n; t += 32) s[t] = -static_cast<T>(INFINITY), j[t] = kNoKey;
  warp_bitonic_sort(s, j, n, false);
}

template <class T>
__global__ void __launch_bounds__(256)
    topk_fused_fwd_kernel(const T* __restrict__ q, HeadLayout ql, const T* __restrict__ k, HeadLayout kl,
                          const T* __restrict__ v, HeadLayout vl, AttnMask mk, int64_t BH, int64_t D, int64_t Dv,
                          int kk, int cap, T scale, T* out, int32_t* idx, T* probs, T* lse) {
  extern __shared__ __align__(16) unsigned char fused_smem[];
  const int R = blockDim.x / 32, w = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int64_t ldk = D + 1;  // padded K rows: the lanes read 32 different keys without bank conflicts
  T* ks = reinterpret_cast<T*>(fused_smem);                               // [tile, D + 1]
  T* qs = ks + kTopkFusedTile * ldk;                                      // [R, D]
  T* cs = qs + R * D + static_cast<int64_t>(w) * cap;                     // this warp's scores [cap]
  int* cj = reinterpret_cast<int*>(qs + R * D + R * cap) + w * cap;      // and keys [cap]
  const T ninf = -static_cast<T>(INFINITY);
  const int64_t Nq = mk.Nq, Nk = mk.Nk, H = mk.H;
  const int64_t per_bh = (Nq + R - 1) / R, groups = BH * per_bh;
  for (int64_t g = blockIdx.x; g < groups; g += gridDim.x) {
    const int64_t bh = g / per_bh, i0 = (g % per_bh) * R, b = bh / H, h = bh % H;
    const int64_t i = i0 + w;  // this warp's query row
    // the keys it may see: f_row .. n_row - 1; the group's: from the first row's first to the last's last
    const int64_t n_row = i < Nq ? max(int64_t{0}, fused_last_key(mk, i) + 1) : 0;
    const int64_t f_row = i < Nq ? mk.vis.first_key(i) : 0;
    const int64_t n_blk = max(int64_t{0}, fused_last_key(mk, min(i0 + R - 1, Nq - 1)) + 1);
    const int64_t f_blk = mk.vis.first_key(i0) / kTopkFusedTile * kTopkFusedTile;
    const bool* vb = mk.valid ? mk.valid + b * Nk : nullptr;
    const T* kh = k + b * kl.sb + (h / mk.G) * kl.sh;  // [Nk, D], the key/value head of query head h
    for (int64_t d = lane; d < D; d += 32)  // warp w loads (and alone reads) its row
      qs[w * D + d] = i < Nq ? q[b * ql.sb + h * ql.sh + i * ql.sr + d] : T(0);
    int cnt = 0;  // candidates in the buffer (warp-uniform, as are tau, tau_j and has_tau)
    bool has_tau = false;
    T tau = ninf;
    int tau_j = 0;
    for (int64_t j0 = f_blk; j0 < n_blk; j0 += kTopkFusedTile) {
      const int64_t nt = min(int64_t{kTopkFusedTile}, n_blk - j0);
      __syncthreads();  // ks is free: every warp is done with the previous tile (of this or an earlier group)
      for (int64_t r = w; r < nt; r += R)  // a warp per key row, coalesced
        for (int64_t d = lane; d < D; d += 32) ks[r * ldk + d] = kh[(j0 + r) * kl.sr + d];
      __syncthreads();
      if (j0 >= n_row || j0 + nt <= f_row) continue;  // warp-uniform: this row sees no key of the tile
      const int64_t j = j0 + lane;
      T s = ninf;
      bool take = false;
      if (j < n_row && j >= f_row && (!vb || vb[j])) {
        const T* qr = qs + static_cast<int64_t>(w) * D;
        const T* kr = ks + lane * ldk;
        T acc = 0;
        for (int64_t d = 0; d < D; ++d) acc += qr[d] * kr[d];
        s = acc * scale;
        // equal to tau: a later key, it loses
        take = !has_tau || ranks_before(s, static_cast<int>(j), tau, tau_j);
      }
      unsigned m = __ballot_sync(kFullMask, take);
      if (cnt + __popc(m) > cap) {  // full (cnt > cap - 32 >= kk): keep the best kk, raise tau
        sort_candidates(cs, cj, cnt);
        cnt = kk;
        tau = cs[kk - 1];
        tau_j = cj[kk - 1];
        has_tau = true;
        take = take && ranks_before(s, static_cast<int>(j), tau, tau_j);
        m = __ballot_sync(kFullMask, take);
      }
      if (take) {
        const int pos = cnt + __popc(m & ((1u << lane) - 1u));  // appended in key order
        cs[pos] = s;
        cj[pos] = static_cast<int>(j);
      }
      cnt += __popc(m);
    }
    if (i >= Nq) continue;

    const int64_t row = bh * Nq + i;
    int32_t* I = idx + row * kk;  // [kk]
    T* P = probs + row * kk;      // [kk]
    T* O = out + row * Dv;        // [Dv]
    sort_candidates(cs, cj, cnt);
    const int sel = min(kk, cnt);
    // softmax over the best sel, max-subtracted (the max is the first: NaN if any, as NaN ranks first)
    const T mx = sel > 0 ? cs[0] : T(0);
    __syncwarp();  // every lane has read cs[0] before lane 0 overwrites it
    T sum = 0;
    for (int t = lane; t < sel; t += 32) {
      const T e = mx == ninf ? T(0) : dev_exp(cs[t] - mx);  // picks all scored -inf: probability 0
      cs[t] = e;
      sum += e;
    }
    sum = warp_sum(sum);
    // the logsumexp of the kept scores: +inf when none is kept or all score -inf (sum 0)
    if (lse && lane == 0) lse[row] = sum == T(0) ? static_cast<T>(INFINITY) : mx + dev_log(sum);
    // the picks in ascending key order (the rest sorts last)
    const int n_sel = pow2_at_least(sel);
    for (int t = lane; t < n_sel; t += 32) {
      if (t < sel) cs[t] = sum == T(0) ? T(0) : cs[t] / sum;
      else cs[t] = T(0), cj[t] = kNoKey;
    }
    warp_bitonic_sort(cs, cj, n_sel, true);
    for (int t = lane; t < kk; t += 32) {
      I[t] = t < sel ? cj[t] : -1;
      P[t] = t < sel ? cs[t] : T(0);
    }
    // out = sum_t p_t v[idx_t], in key order as on the CPU
    const T* vh = v + b * vl.sb + (h / mk.G) * vl.sh;  // [Nk, Dv]
    for (int64_t d = lane; d < Dv; d += 32) {
      T acc = 0;
      for (int t = 0; t < sel; ++t) acc += cs[t] * vh[cj[t] * vl.sr + d];
      O[d] = acc;
    }
    __syncwarp();  // every lane is done with cs, cj before the next group
  }
}

template <class T>
__global__ void __launch_bounds__(256)
    topk_fused_bwd_kernel(const T* __restrict__ q, HeadLayout ql, const T* __restrict__ k, HeadLayout kl,
                          const T* __restrict__ v, HeadLayout vl, const int32_t* __restrict__ idx,
                          const T* __restrict__ probs, const T* __restrict__ dO, T* dq, T* dk, T* dv, int64_t BH,
                          int64_t H, int64_t G, int64_t Nq, int64_t Nk, int64_t D, int64_t Dv, int kk, T scale) {
  extern __shared__ __align__(16) unsigned char fused_smem[];
  const int R = blockDim.x / 32, w = threadIdx.x / 32, lane = threadIdx.x & 31;
  T* dps = reinterpret_cast<T*>(fused_smem) + static_cast<int64_t>(w) * (kk + D);  // dp_t of the row [kk]
  T* dqs = dps + kk;                                                                // its dQ row [D]
  const int64_t rows = BH * Nq;
  for (int64_t g = static_cast<int64_t>(blockIdx.x) * R + w; g < rows; g += static_cast<int64_t>(gridDim.x) * R) {
    const int64_t bh = g / Nq, i = g % Nq, b = bh / H, h = bh % H;
    const T* Qi = q + b * ql.sb + h * ql.sh + i * ql.sr;  // [D]
    const int64_t bhk = b * (H / G) + h / G;              // the key/value head of query head h
    const T* K = k + b * kl.sb + (h / G) * kl.sh;         // [Nk, D]
    const T* V = v + b * vl.sb + (h / G) * vl.sh;         // [Nk, Dv]
    const int32_t* I = idx + g * kk;
    const T* Pr = probs + g * kk;
    const T* dOi = dO + g * Dv;
    T* dK = dk + bhk * Nk * D;  // shared by the group's G heads too: atomics below
    T* dV = dv + bhk * Nk * Dv;
    // dp_t = dO . v[idx_t] (once per pick), pdp = sum_t p_t dp_t; every lane holds the same sums
    T pdp = 0;
    for (int t = 0; t < kk; ++t) {
      const int64_t j = I[t];
      T dp = 0;
      if (j >= 0) {
        T s = 0;
        for (int64_t d = lane; d < Dv; d += 32) s += dOi[d] * V[j * vl.sr + d];
        dp = warp_sum(s);
      }
      if (lane == 0) dps[t] = dp;
      pdp += Pr[t] * dp;
    }
    for (int64_t d = lane; d < D; d += 32) dqs[d] = T(0);
    __syncwarp();  // dps visible to every lane
    // ds_t = p_t (dp_t - pdp); dQ += scale ds_t k[idx_t], dK[idx_t] += scale ds_t q, dV[idx_t] += p_t dO
    for (int t = 0; t < kk; ++t) {
      const int64_t j = I[t];
      if (j < 0) continue;
      const T pt = Pr[t];
      const T a = scale * (pt * (dps[t] - pdp));
      for (int64_t d = lane; d < D; d += 32) {
        dqs[d] += a * K[j * kl.sr + d];  // each lane owns its d
        atomicAdd(dK + j * D + d, a * Qi[d]);
      }
      for (int64_t d = lane; d < Dv; d += 32) atomicAdd(dV + j * Dv + d, pt * dOi[d]);
    }
    for (int64_t d = lane; d < D; d += 32) dq[g * D + d] += dqs[d];
    __syncwarp();  // every lane is done with dps before the next row
  }
}

// Blocks of a grid-stride loop over n units: at most 2^20.
unsigned fused_blocks(int64_t n) { return static_cast<unsigned>(n < (int64_t{1} << 20) ? n : (int64_t{1} << 20)); }

}  // namespace

template <class T>
void launch_topk_fused_forward(const T* q, HeadLayout ql, const T* k, HeadLayout kl, const T* v, HeadLayout vl,
                               const AttnMask& mk, int64_t BH, int64_t D, int64_t Dv, int64_t kk, double scale,
                               int rows, T* out, int32_t* idx, T* probs, T* lse) {
  const int64_t groups = BH * ((mk.Nq + rows - 1) / rows);
  if (groups <= 0 || rows <= 0) return;
  const int64_t smem = topk_fused_fwd_smem(rows, D, kk, sizeof(T));
  topk_fused_fwd_kernel<T><<<fused_blocks(groups), 32 * rows, smem>>>(
      q, ql, k, kl, v, vl, mk, BH, D, Dv, static_cast<int>(kk), topk_fused_capacity(kk), static_cast<T>(scale), out,
      idx, probs, lse);
}

template <class T>
void launch_topk_fused_backward(const T* q, HeadLayout ql, const T* k, HeadLayout kl, const T* v, HeadLayout vl,
                                const int32_t* idx, const T* probs, const T* dO, T* dq, T* dk, T* dv, int64_t BH,
                                int64_t H, int64_t G, int64_t Nq, int64_t Nk, int64_t D, int64_t Dv, int64_t kk,
                                double scale, int rows) {
  const int64_t n = BH * Nq;
  if (n <= 0 || rows <= 0) return;
  const int64_t smem = topk_fused_bwd_smem(rows, D, kk, sizeof(T));
  topk_fused_bwd_kernel<T><<<fused_blocks((n + rows - 1) / rows), 32 * rows, smem>>>(
      q, ql, k, kl, v, vl, idx, probs, dO, dq, dk, dv, BH, H, G, Nq, Nk, D, Dv, static_cast<int>(kk),
      static_cast<T>(scale));
}

#define MG_INSTANTIATE(T)                                                                                            \
  template void launch_topk_fused_forward<T>(const T*, HeadLayout, const T*, HeadLayout, const T*, HeadLayout,       \
                                             const AttnMask&, int64_t, int64_t, int64_t, int64_t, double, int, T*,  \
                                             int32_t*, T*, T*);                                                      \
  template void launch_topk_fused_backward<T>(const T*, HeadLayout, const T*, HeadLayout, const T*, HeadLayout,      \
                                              const int32_t*, const T*, const T*, T*, T*, T*, int64_t, int64_t,     \
                                              int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, double, int);
MG_INSTANTIATE(float)
MG_INSTANTIATE(double)
#undef MG_INSTANTIATE

}  // namespace memgrad::cuda
