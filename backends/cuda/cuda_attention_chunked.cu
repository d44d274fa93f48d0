// Row kernels of chunked attention (the products are cuBLAS calls in cuda_attention_chunked.cpp):
// the online-softmax update of one key chunk, the final normalisation, and the backward's
// probability recomputation and dS = P * (dP - delta). One warp per score row.
//
// NaN / inf (the contract in autograd/attention.h), as the CPU's cpu_attention_chunked.cpp: the
// running max propagates NaN; P and dS of masked pairs are 0 exactly. When q, k, v or the output
// gradient hold a non-finite value, the host multiplies pair by pair over visible pairs only
// (the visible_* kernels below) instead of through cuBLAS, where 0 * NaN from masked pairs would
// leak; it finds out with the flag kernel.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "backends/attention_visibility.h"
#include "backends/cuda/attention_kernels.h"
#include "backends/cuda/kernel_args.h"
#include "backends/scalar_math.h"

namespace memgrad::cuda {
namespace {

constexpr int kWarpsPerBlock = kThreads / 32;

__device__ __forceinline__ float dev_exp(float x) { return expf(x); }
__device__ __forceinline__ double dev_exp(double x) { return exp(x); }
__device__ __forceinline__ float dev_log(float x) { return logf(x); }
__device__ __forceinline__ double dev_log(double x) { return log(x); }

template <class T>
__device__ __forceinline__ T warp_max(T x) {
  for (int o = 16; o > 0; o >>= 1) {
    x = nan_max(x, __shfl_xor_sync(0xffffffffu, x, o));
  }
  return x;
}
template <class T>
__device__ __forceinline__ T warp_sum(T x) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

// The last key query i may see.
__device__ __forceinline__ int64_t last_key(const AttnMask& mk, int64_t i) {
  return Visibility{mk.Nq, mk.Nk, mk.causal, mk.causal_align}.last_key(i);  // the rule: backends/attention_visibility.h
}

// Key j0 + c is masked for a row whose last visible key is `last` (vb: that batch's key_valid row).
__device__ __forceinline__ bool masked(const bool* vb, int64_t j0, int64_t c, int64_t last) {
  const int64_t j = j0 + c;
  return j > last || (vb && !vb[j]);
}

template <class T>
__global__ void fwd_init_kernel(T* m, T* l, int64_t rows) {
  for (int64_t r = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; r < rows; r += int64_t{gridDim.x} * blockDim.x) {
    m[r] = -static_cast<T>(INFINITY);
    l[r] = T(0);
  }
}

template <class T>
__global__ void fwd_update_kernel(T* S, int64_t BH, int64_t nq, int64_t nk, int64_t i0, int64_t j0, AttnMask mk, T* m,
                                  T* l, T* O, int64_t Dv) {
  const int lane = threadIdx.x & 31;
  const T ninf = -static_cast<T>(INFINITY);
  const int64_t rows = BH * nq;
  for (int64_t row = blockIdx.x * int64_t{kWarpsPerBlock} + threadIdx.x / 32; row < rows;
       row += int64_t{gridDim.x} * kWarpsPerBlock) {
    const int64_t bh = row / nq, i = i0 + row % nq;
    const int64_t g = bh * mk.Nq + i;  // global query row
    const int64_t last = last_key(mk, i);
    const bool* vb = mk.valid ? mk.valid + (bh / mk.H) * mk.Nk : nullptr;
    T* s = S + row * nk;  // [nk]
    T mx = ninf;
    for (int64_t c = lane; c < nk; c += 32)
      if (!masked(vb, j0, c, last)) mx = nan_max(mx, s[c]);
    mx = warp_max(mx);
    const T m_old = m[g];
    const T m_new = nan_max(m_old, mx);  // NaN: the row's output is NaN
    if (m_new == ninf) {  // every key so far masked (or scored -inf) for this row: P = 0, nothing to rescale
      for (int64_t c = lane; c < nk; c += 32) s[c] = T(0);
      continue;
    }
    T sum = 0;
    for (int64_t c = lane; c < nk; c += 32) {
      const T e = masked(vb, j0, c, last) ? T(0) : dev_exp(s[c] - m_new);
      s[c] = e;
      sum += e;
    }
    sum = warp_sum(sum);
    const T alpha = dev_exp(m_old - m_new);  // rescales what was summed under the old max (0 at first)
    if (alpha != T(1)) {
      T* o = O + g * Dv;
      for (int64_t d = lane; d < Dv; d += 32) o[d] *= alpha;
    }
    __syncwarp();  // every lane has read m[g], l[g] before lane 0 writes them
    if (lane == 0) {
      l[g] = l[g] * alpha + sum;
      m[g] = m_new;
    }
  }
}

template <class T>
__global__ void fwd_finish_kernel(T* O, T* lse, const T* l, int64_t rows, int64_t Dv) {
  const int lane = threadIdx.x & 31;
  for (int64_t r = blockIdx.x * int64_t{kWarpsPerBlock} + threadIdx.x / 32; r < rows;
       r += int64_t{gridDim.x} * kWarpsPerBlock) {
    T* o = O + r * Dv;
    const T lr = l[r];
    const T m = lse[r];
    __syncwarp();  // every lane has read lse[r] before lane 0 overwrites it
    if (lr == T(0)) {  // no visible key, or all scored -inf: lse = +inf makes every P = 0 in backward
      // o keeps the sum of 0 * v over the visible keys: 0, or NaN where one of their v is not finite
      if (lane == 0) lse[r] = static_cast<T>(INFINITY);
      continue;
    }
    const T inv = T(1) / lr;
    for (int64_t d = lane; d < Dv; d += 32) o[d] *= inv;
    if (lane == 0) lse[r] = m + dev_log(lr);
  }
}

template <class T>
__global__ void row_dot_kernel(const T* a, const T* b, T* out, int64_t rows, int64_t n) {
  const int lane = threadIdx.x & 31;
  for (int64_t r = blockIdx.x * int64_t{kWarpsPerBlock} + threadIdx.x / 32; r < rows;
       r += int64_t{gridDim.x} * kWarpsPerBlock) {
    T s = 0;
    for (int64_t d = lane; d < n; d += 32) s += a[r * n + d] * b[r * n + d];
    s = warp_sum(s);
    if (lane == 0) out[r] = s;
  }
}

template <class T>
__global__ void bwd_probs_kernel(T* S, int64_t BH, int64_t nq, int64_t nk, int64_t i0, int64_t j0, AttnMask mk,
                                 const T* lse) {
  const int lane = threadIdx.x & 31;
  const int64_t rows = BH * nq;
  for (int64_t row = blockIdx.x * int64_t{kWarpsPerBlock} + threadIdx.x / 32; row < rows;
       row += int64_t{gridDim.x} * kWarpsPerBlock) {
    const int64_t bh = row / nq, i = i0 + row % nq;
    const int64_t last = last_key(mk, i);
    const bool* vb = mk.valid ? mk.valid + (bh / mk.H) * mk.Nk : nullptr;
    const T L = lse[bh * mk.Nq + i];  // +inf for a row with no valid key: every P = 0
    T* s = S + row * nk;
    for (int64_t c = lane; c < nk; c += 32) s[c] = masked(vb, j0, c, last) ? T(0) : dev_exp(s[c] - L);
  }
}

template <class T>
__global__ void bwd_dscores_kernel(T* dS, const T* P, int64_t BH, int64_t nq, int64_t nk, int64_t i0, int64_t j0,
                                   AttnMask mk, const T* delta) {
  const int lane = threadIdx.x & 31;
  const int64_t rows = BH * nq;
  for (int64_t row = blockIdx.x * int64_t{kWarpsPerBlock} + threadIdx.x / 32; row < rows;
       row += int64_t{gridDim.x} * kWarpsPerBlock) {
    const int64_t bh = row / nq, i = i0 + row % nq;
    const int64_t last = last_key(mk, i);
    const bool* vb = mk.valid ? mk.valid + (bh / mk.H) * mk.Nk : nullptr;
    const T dr = delta[bh * mk.Nq + i];
    T* ds = dS + row * nk;
    const T* p = P + row * nk;
    // masked pairs: 0 exactly, whatever dP and delta hold
    for (int64_t c = lane; c < nk; c += 32) ds[c] = masked(vb, j0, c, last) ? T(0) : p[c] * (ds[c] - dr);
  }
}

// Element (bh, n, e) of a GemmOperand whose row 0 is the block's first row.
template <class T>
__device__ __forceinline__ T operand_at(const GemmOperand& x, int64_t H, int64_t bh, int64_t n, int64_t e) {
  return static_cast<const T*>(x.p)[(bh / H) * x.sb + (bh % H) * x.sh + n * x.ld + e];
}

// O [BH, Nq, Dv] rows i0.. += P [BH, nq, nk] V (rows j0..) over visible pairs; a thread per (bh, r, e).
template <class T>
__global__ void visible_pv_kernel(const T* P, GemmOperand V, T* O, int64_t BH, int64_t nq, int64_t nk, int64_t i0,
                                  int64_t j0, AttnMask mk, int64_t Dv) {
  const int64_t n = BH * nq * Dv;
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n; t += int64_t{gridDim.x} * blockDim.x) {
    const int64_t e = t % Dv, r = (t / Dv) % nq, bh = t / (Dv * nq), i = i0 + r;
    const int64_t last = last_key(mk, i);
    const bool* vb = mk.valid ? mk.valid + (bh / mk.H) * mk.Nk : nullptr;
    const T* pr = P + (bh * nq + r) * nk;
    T acc = 0;
    for (int64_t c = 0; c < nk; ++c)
      if (!masked(vb, j0, c, last)) acc += pr[c] * operand_at<T>(V, mk.H, bh, c, e);
    O[(bh * mk.Nq + i) * Dv + e] += acc;
  }
}

// For the keys j0.. of one block, over visible pairs: dV [BH, Nk, Dv] += P^T dO and
// dK [BH, Nk, D] += scale dS^T Q (Q, dO: the block's query rows i0..); a thread per (bh, c, e).
template <class T>
__global__ void visible_key_grads_kernel(const T* P, const T* dS, GemmOperand Q, GemmOperand dO, T* dK, T* dV,
                                         int64_t BH, int64_t nq, int64_t nk, int64_t i0, int64_t j0, AttnMask mk,
                                         int64_t D, int64_t Dv, T scale) {
  const int64_t E = D > Dv ? D : Dv, n = BH * nk * E;
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n; t += int64_t{gridDim.x} * blockDim.x) {
    const int64_t e = t % E, c = (t / E) % nk, bh = t / (E * nk), j = j0 + c;
    const bool* vb = mk.valid ? mk.valid + (bh / mk.H) * mk.Nk : nullptr;
    T gk = 0, gv = 0;
    for (int64_t r = 0; r < nq; ++r) {
      if (masked(vb, j0, c, last_key(mk, i0 + r))) continue;
      const int64_t pc = (bh * nq + r) * nk + c;
      if (e < D) gk += dS[pc] * operand_at<T>(Q, mk.H, bh, r, e);
      if (e < Dv) gv += P[pc] * operand_at<T>(dO, mk.H, bh, r, e);
    }
    if (e < D) dK[(bh * mk.Nk + j) * D + e] += scale * gk;
    if (e < Dv) dV[(bh * mk.Nk + j) * Dv + e] += gv;
  }
}

// dQ [BH, Nq, D] rows i0.. += scale dS K (rows j0..) over visible pairs; a thread per (bh, r, e).
template <class T>
__global__ void visible_query_grads_kernel(const T* dS, GemmOperand K, T* dQ, int64_t BH, int64_t nq, int64_t nk,
                                           int64_t i0, int64_t j0, AttnMask mk, int64_t D, T scale) {
  const int64_t n = BH * nq * D;
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n; t += int64_t{gridDim.x} * blockDim.x) {
    const int64_t e = t % D, r = (t / D) % nq, bh = t / (D * nq), i = i0 + r;
    const int64_t last = last_key(mk, i);
    const bool* vb = mk.valid ? mk.valid + (bh / mk.H) * mk.Nk : nullptr;
    const T* ds = dS + (bh * nq + r) * nk;
    T acc = 0;
    for (int64_t c = 0; c < nk; ++c)
      if (!masked(vb, j0, c, last)) acc += ds[c] * operand_at<T>(K, mk.H, bh, c, e);
    dQ[(bh * mk.Nq + i) * D + e] += scale * acc;
  }
}

// Sets *flag = 1 when an element of the [B, H, N, C] view x (strides sb, sh, sr, unit last) is
// not finite.
template <class T>
__global__ void flag_nonfinite_kernel(const T* x, HeadLayout xl, int64_t H, int64_t N, int64_t C, int64_t n,
                                      int32_t* flag) {
  bool hit = false;
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n; t += int64_t{gridDim.x} * blockDim.x) {
    const int64_t e = t % C, row = (t / C) % N, bh = t / (C * N);
    const T v = x[(bh / H) * xl.sb + (bh % H) * xl.sh + row * xl.sr + e];
    hit |= !(v - v == T(0));
  }
  if (hit) *flag = 1;
}

// Blocks for one warp per row.
unsigned warp_blocks(int64_t rows) { return blocks_for(rows, kWarpsPerBlock); }

}  // namespace

template <class T>
void launch_attn_fwd_init(T* m, T* l, int64_t rows) {
  if (rows <= 0) return;
  fwd_init_kernel<T><<<blocks_for(rows), kThreads>>>(m, l, rows);
}

template <class T>
void launch_attn_fwd_update(T* S, int64_t BH, int64_t nq, int64_t nk, int64_t i0, int64_t j0, const AttnMask& mk,
                            T* m, T* l, T* O, int64_t Dv) {
  if (BH * nq <= 0) return;
  fwd_update_kernel<T><<<warp_blocks(BH * nq), kThreads>>>(S, BH, nq, nk, i0, j0, mk, m, l, O, Dv);
}

template <class T>
void launch_attn_fwd_finish(T* O, T* lse, const T* l, int64_t rows, int64_t Dv) {
  if (rows <= 0) return;
  fwd_finish_kernel<T><<<warp_blocks(rows), kThreads>>>(O, lse, l, rows, Dv);
}

template <class T>
void launch_attn_row_dot(const T* a, const T* b, T* out, int64_t rows, int64_t n) {
  if (rows <= 0) return;
  row_dot_kernel<T><<<warp_blocks(rows), kThreads>>>(a, b, out, rows, n);
}

template <class T>
void launch_attn_bwd_probs(T* S, int64_t BH, int64_t nq, int64_t nk, int64_t i0, int64_t j0, const AttnMask& mk,
                           const T* lse) {
  if (BH * nq <= 0) return;
  bwd_probs_kernel<T><<<warp_blocks(BH * nq), kThreads>>>(S, BH, nq, nk, i0, j0, mk, lse);
}

template <class T>
void launch_attn_bwd_dscores(T* dS, const T* P, int64_t BH, int64_t nq, int64_t nk, int64_t i0, int64_t j0,
                             const AttnMask& mk, const T* delta) {
  if (BH * nq <= 0) return;
  bwd_dscores_kernel<T><<<warp_blocks(BH * nq), kThreads>>>(dS, P, BH, nq, nk, i0, j0, mk, delta);
}

template <class T>
void launch_attn_visible_pv(const T* P, const GemmOperand& V, T* O, int64_t BH, int64_t nq, int64_t nk, int64_t i0,
                            int64_t j0, const AttnMask& mk, int64_t Dv) {
  if (BH * nq * Dv <= 0) return;
  visible_pv_kernel<T><<<blocks_for(BH * nq * Dv), kThreads>>>(P, V, O, BH, nq, nk, i0, j0, mk, Dv);
}

template <class T>
void launch_attn_visible_grads(const T* P, const T* dS, const GemmOperand& Q, const GemmOperand& K,
                               const GemmOperand& dO, T* dQ, T* dK, T* dV, int64_t BH, int64_t nq, int64_t nk,
                               int64_t i0, int64_t j0, const AttnMask& mk, int64_t D, int64_t Dv, double scale) {
  const int64_t E = D > Dv ? D : Dv;
  if (BH * nk * E > 0)
    visible_key_grads_kernel<T><<<blocks_for(BH * nk * E), kThreads>>>(P, dS, Q, dO, dK, dV, BH, nq, nk, i0, j0, mk,
                                                                        D, Dv, static_cast<T>(scale));
  if (BH * nq * D > 0)
    visible_query_grads_kernel<T><<<blocks_for(BH * nq * D), kThreads>>>(dS, K, dQ, BH, nq, nk, i0, j0, mk, D,
                                                                          static_cast<T>(scale));
}

template <class T>
void launch_attn_flag_nonfinite(const T* x, const HeadLayout& xl, int64_t BH, int64_t H, int64_t N, int64_t C,
                                int32_t* flag) {
  const int64_t n = BH * N * C;
  if (n <= 0) return;
  flag_nonfinite_kernel<T><<<blocks_for(n), kThreads>>>(x, xl, H, N, C, n, flag);
}

#define MG_INSTANTIATE(T)                                                                                        \
  template void launch_attn_fwd_init<T>(T*, T*, int64_t);                                                        \
  template void launch_attn_fwd_update<T>(T*, int64_t, int64_t, int64_t, int64_t, int64_t, const AttnMask&, T*, \
                                          T*, T*, int64_t);                                                      \
  template void launch_attn_fwd_finish<T>(T*, T*, const T*, int64_t, int64_t);                                   \
  template void launch_attn_row_dot<T>(const T*, const T*, T*, int64_t, int64_t);                                \
  template void launch_attn_bwd_probs<T>(T*, int64_t, int64_t, int64_t, int64_t, int64_t, const AttnMask&,       \
                                         const T*);                                                              \
  template void launch_attn_bwd_dscores<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t,             \
                                           const AttnMask&, const T*);                                           \
  template void launch_attn_visible_pv<T>(const T*, const GemmOperand&, T*, int64_t, int64_t, int64_t, int64_t,  \
                                          int64_t, const AttnMask&, int64_t);                                    \
  template void launch_attn_visible_grads<T>(const T*, const T*, const GemmOperand&, const GemmOperand&,          \
                                             const GemmOperand&, T*, T*, T*, int64_t, int64_t, int64_t, int64_t, \
                                             int64_t, const AttnMask&, int64_t, int64_t, double);                \
  template void launch_attn_flag_nonfinite<T>(const T*, const HeadLayout&, int64_t, int64_t, int64_t, int64_t,   \
                                              int32_t*);
MG_INSTANTIATE(float)
MG_INSTANTIATE(double)
#undef MG_INSTANTIATE

}  // namespace memgrad::cuda
