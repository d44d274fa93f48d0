// Row kernels of chunked attention (the products are cuBLAS calls in cuda_attention_chunked.cpp):
// the online-softmax update of one key chunk, the final normalisation, and the backward's
// probability recomputation and dS = P * (keep * dP - delta). One warp per score row. Whether a
// pair is visible, its additive terms and its dropout factor come from AttnRule
// (attention_kernels.h: the rule headers applied); dS also feeds dbias and drel_table, with
// atomicAdd (many pairs share an entry; on the GPU the order of additions, and so the last bits,
// may vary).
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
#include "backends/cuda/device_math.cuh"
#include "backends/cuda/kernel_args.h"
#include "backends/scalar_math.h"

namespace memgrad::cuda {
namespace {

constexpr int kWarpsPerBlock = kThreads / 32;

template <class T>
__global__ void fwd_init_kernel(T* m, T* l, int64_t rows) {
  for (int64_t r = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; r < rows; r += int64_t{gridDim.x} * blockDim.x) {
    m[r] = -static_cast<T>(INFINITY);
    l[r] = T(0);
  }
}

template <class T>
__global__ void fwd_update_kernel(T* S, int64_t BH, int64_t nq, int64_t nk, int64_t i0, int64_t j0, AttnRule<T> rule,
                                  T* m, T* l, T* O, int64_t Dv) {
  const int lane = threadIdx.x & 31;
  const T ninf = -static_cast<T>(INFINITY);
  const int64_t rows = BH * nq;
  for (int64_t row = blockIdx.x * int64_t{kWarpsPerBlock} + threadIdx.x / 32; row < rows;
       row += int64_t{gridDim.x} * kWarpsPerBlock) {
    const int64_t bh = row / nq, i = i0 + row % nq;
    const int64_t g = bh * rule.Nq + i;  // global query row
    T* s = S + row * nk;                 // [nk]
    T mx = ninf;
    for (int64_t c = lane; c < nk; c += 32) {
      const int64_t j = j0 + c;
      if (!rule.visible(bh, i, j)) continue;
      s[c] += rule.term(bh, i, j);  // the score: scale q.k + bias + position terms
      mx = nan_max(mx, s[c]);
    }
    mx = warp_max(mx);
    const T m_old = m[g];
    const T m_new = nan_max(m_old, mx);  // NaN: the row's output is NaN
    if (m_new == ninf) {  // every key so far masked (or scored -inf) for this row: P = 0, nothing to rescale
      for (int64_t c = lane; c < nk; c += 32) s[c] = T(0);
      continue;
    }
    T sum = 0;
    for (int64_t c = lane; c < nk; c += 32) {
      const int64_t j = j0 + c;
      const T e = rule.visible(bh, i, j) ? dev_exp(s[c] - m_new) : T(0);
      sum += e;                                             // l sums P before dropout
      s[c] = e == T(0) ? e : e * rule.drop_factor(bh, i, j);  // what multiplies V: P after dropout
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
__global__ void bwd_probs_kernel(T* S, int64_t BH, int64_t nq, int64_t nk, int64_t i0, int64_t j0, AttnRule<T> rule,
                                 const T* lse) {
  const int lane = threadIdx.x & 31;
  const int64_t rows = BH * nq;
  for (int64_t row = blockIdx.x * int64_t{kWarpsPerBlock} + threadIdx.x / 32; row < rows;
       row += int64_t{gridDim.x} * kWarpsPerBlock) {
    const int64_t bh = row / nq, i = i0 + row % nq;
    const T L = lse[bh * rule.Nq + i];  // +inf for a row with no valid key: every P = 0
    T* s = S + row * nk;
    for (int64_t c = lane; c < nk; c += 32) {
      const int64_t j = j0 + c;
      s[c] = rule.visible(bh, i, j) ? dev_exp(s[c] + rule.term(bh, i, j) - L) : T(0);
    }
  }
}

template <class T>
__global__ void bwd_dscores_kernel(T* dS, T* P, int64_t BH, int64_t nq, int64_t nk, int64_t i0, int64_t j0,
                                   AttnRule<T> rule, const T* delta, AttnModGrads<T> gr) {
  const int lane = threadIdx.x & 31;
  const int64_t rows = BH * nq;
  for (int64_t row = blockIdx.x * int64_t{kWarpsPerBlock} + threadIdx.x / 32; row < rows;
       row += int64_t{gridDim.x} * kWarpsPerBlock) {
    const int64_t bh = row / nq, i = i0 + row % nq, b = bh / rule.H, h = bh % rule.H;
    const T dr = delta[bh * rule.Nq + i];
    T* ds = dS + row * nk;
    T* p = P + row * nk;
    for (int64_t c = lane; c < nk; c += 32) {
      const int64_t j = j0 + c;
      if (!rule.visible(bh, i, j)) {  // masked pairs: 0 exactly, whatever dP and delta hold
        ds[c] = T(0);
        continue;  // P is 0 already
      }
      // dS = P * (keep * dP - delta): Delta = dO . O holds with dropout (O is the dropped output)
      const T keep = rule.drop_factor(bh, i, j);
      const T d = p[c] * (keep * ds[c] - dr);
      ds[c] = d;
      p[c] *= keep;
      // The per-pair inputs' gradients: atomics, as many pairs share an entry (see AttnModGrads).
      if (gr.dbias) atomicAdd(gr.dbias + b * gr.dbias_s[0] + h * gr.dbias_s[1] + i * gr.dbias_s[2] + j * gr.dbias_s[3], d);
      if (gr.drel_table) atomicAdd(gr.drel_table + h * rule.mods.rel_buckets + rule.mods.bucket_index(rule.rel(i, j)), d);
    }
  }
}

// Element (n, e) of head `head` (b * heads + h over the operand's own heads) of a GemmOperand
// whose row 0 is the block's first row.
template <class T>
__device__ __forceinline__ T operand_at(const GemmOperand& x, int64_t heads, int64_t head, int64_t n, int64_t e) {
  return static_cast<const T*>(x.p)[(head / heads) * x.sb + (head % heads) * x.sh + n * x.ld + e];
}
// The key/value head (b * Hkv + h / G) query head bh reads.
template <class T>
__device__ __forceinline__ int64_t kv_head(const AttnRule<T>& rule, int64_t bh) {
  return (bh / rule.H) * (rule.H / rule.G) + (bh % rule.H) / rule.G;
}

// O [BH, Nq, Dv] rows i0.. += P [BH, nq, nk] V (rows j0..) over visible pairs; a thread per (bh, r, e).
template <class T>
__global__ void visible_pv_kernel(const T* P, GemmOperand V, T* O, int64_t BH, int64_t nq, int64_t nk, int64_t i0,
                                  int64_t j0, AttnRule<T> rule, int64_t Dv) {
  const int64_t n = BH * nq * Dv, Hkv = rule.H / rule.G;
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n; t += int64_t{gridDim.x} * blockDim.x) {
    const int64_t e = t % Dv, r = (t / Dv) % nq, bh = t / (Dv * nq), i = i0 + r, kvh = kv_head(rule, bh);
    const T* pr = P + (bh * nq + r) * nk;
    T acc = 0;
    for (int64_t c = 0; c < nk; ++c)
      if (rule.visible(bh, i, j0 + c)) acc += pr[c] * operand_at<T>(V, Hkv, kvh, c, e);
    O[(bh * rule.Nq + i) * Dv + e] += acc;
  }
}

// For the keys j0.. of one block, over visible pairs: dV [B * Hkv, Nk, Dv] += P^T dO and
// dK [B * Hkv, Nk, D] += scale dS^T Q (Q, dO: the block's query rows i0..), summed over the G query
// heads of each key/value head; a thread per (kv head, c, e).
template <class T>
__global__ void visible_key_grads_kernel(const T* P, const T* dS, GemmOperand Q, GemmOperand dO, T* dK, T* dV,
                                         int64_t BH, int64_t nq, int64_t nk, int64_t i0, int64_t j0, AttnRule<T> rule,
                                         int64_t D, int64_t Dv, T scale) {
  const int64_t G = rule.G, BHkv = BH / G, E = D > Dv ? D : Dv, n = BHkv * nk * E;
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n; t += int64_t{gridDim.x} * blockDim.x) {
    const int64_t e = t % E, c = (t / E) % nk, kvh = t / (E * nk), j = j0 + c;
    T gk = 0, gv = 0;
    for (int64_t gi = 0; gi < G; ++gi) {
      const int64_t bh = kvh * G + gi;  // b * H + h with h / G = kvh % Hkv
      for (int64_t r = 0; r < nq; ++r) {
        if (!rule.visible(bh, i0 + r, j)) continue;
        const int64_t pc = (bh * nq + r) * nk + c;
        if (e < D) gk += dS[pc] * operand_at<T>(Q, rule.H, bh, r, e);
        if (e < Dv) gv += P[pc] * operand_at<T>(dO, rule.H, bh, r, e);
      }
    }
    if (e < D) dK[(kvh * rule.Nk + j) * D + e] += scale * gk;
    if (e < Dv) dV[(kvh * rule.Nk + j) * Dv + e] += gv;
  }
}

// dQ [BH, Nq, D] rows i0.. += scale dS K (rows j0..) over visible pairs; a thread per (bh, r, e).
template <class T>
__global__ void visible_query_grads_kernel(const T* dS, GemmOperand K, T* dQ, int64_t BH, int64_t nq, int64_t nk,
                                           int64_t i0, int64_t j0, AttnRule<T> rule, int64_t D, T scale) {
  const int64_t n = BH * nq * D, Hkv = rule.H / rule.G;
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n; t += int64_t{gridDim.x} * blockDim.x) {
    const int64_t e = t % D, r = (t / D) % nq, bh = t / (D * nq), i = i0 + r, kvh = kv_head(rule, bh);
    const T* ds = dS + (bh * nq + r) * nk;
    T acc = 0;
    for (int64_t c = 0; c < nk; ++c)
      if (rule.visible(bh, i, j0 + c)) acc += ds[c] * operand_at<T>(K, Hkv, kvh, c, e);
    dQ[(bh * rule.Nq + i) * D + e] += scale * acc;
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
void launch_attn_fwd_update(T* S, int64_t BH, int64_t nq, int64_t nk, int64_t i0, int64_t j0, const AttnRule<T>& rule,
                            T* m, T* l, T* O, int64_t Dv) {
  if (BH * nq <= 0) return;
  fwd_update_kernel<T><<<warp_blocks(BH * nq), kThreads>>>(S, BH, nq, nk, i0, j0, rule, m, l, O, Dv);
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
void launch_attn_bwd_probs(T* S, int64_t BH, int64_t nq, int64_t nk, int64_t i0, int64_t j0, const AttnRule<T>& rule,
                           const T* lse) {
  if (BH * nq <= 0) return;
  bwd_probs_kernel<T><<<warp_blocks(BH * nq), kThreads>>>(S, BH, nq, nk, i0, j0, rule, lse);
}

template <class T>
void launch_attn_bwd_dscores(T* dS, T* P, int64_t BH, int64_t nq, int64_t nk, int64_t i0, int64_t j0,
                             const AttnRule<T>& rule, const T* delta, const AttnModGrads<T>& g) {
  if (BH * nq <= 0) return;
  bwd_dscores_kernel<T><<<warp_blocks(BH * nq), kThreads>>>(dS, P, BH, nq, nk, i0, j0, rule, delta, g);
}

template <class T>
void launch_attn_visible_pv(const T* P, const GemmOperand& V, T* O, int64_t BH, int64_t nq, int64_t nk, int64_t i0,
                            int64_t j0, const AttnRule<T>& rule, int64_t Dv) {
  if (BH * nq * Dv <= 0) return;
  visible_pv_kernel<T><<<blocks_for(BH * nq * Dv), kThreads>>>(P, V, O, BH, nq, nk, i0, j0, rule, Dv);
}

template <class T>
void launch_attn_visible_grads(const T* P, const T* dS, const GemmOperand& Q, const GemmOperand& K,
                               const GemmOperand& dO, T* dQ, T* dK, T* dV, int64_t BH, int64_t nq, int64_t nk,
                               int64_t i0, int64_t j0, const AttnRule<T>& rule, int64_t D, int64_t Dv, double scale) {
  const int64_t E = D > Dv ? D : Dv, BHkv = BH / rule.G;
  if (BHkv * nk * E > 0)
    visible_key_grads_kernel<T><<<blocks_for(BHkv * nk * E), kThreads>>>(P, dS, Q, dO, dK, dV, BH, nq, nk, i0, j0,
                                                                          rule, D, Dv, static_cast<T>(scale));
  if (BH * nq * D > 0)
    visible_query_grads_kernel<T><<<blocks_for(BH * nq * D), kThreads>>>(dS, K, dQ, BH, nq, nk, i0, j0, rule, D,
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
  template void launch_attn_fwd_update<T>(T*, int64_t, int64_t, int64_t, int64_t, int64_t, const AttnRule<T>&,  \
                                          T*, T*, T*, int64_t);                                                  \
  template void launch_attn_fwd_finish<T>(T*, T*, const T*, int64_t, int64_t);                                   \
  template void launch_attn_row_dot<T>(const T*, const T*, T*, int64_t, int64_t);                                \
  template void launch_attn_bwd_probs<T>(T*, int64_t, int64_t, int64_t, int64_t, int64_t, const AttnRule<T>&,   \
                                         const T*);                                                              \
  template void launch_attn_bwd_dscores<T>(T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t,                   \
                                           const AttnRule<T>&, const T*, const AttnModGrads<T>&);                \
  template void launch_attn_visible_pv<T>(const T*, const GemmOperand&, T*, int64_t, int64_t, int64_t, int64_t,  \
                                          int64_t, const AttnRule<T>&, int64_t);                                 \
  template void launch_attn_visible_grads<T>(const T*, const T*, const GemmOperand&, const GemmOperand&,          \
                                             const GemmOperand&, T*, T*, T*, int64_t, int64_t, int64_t, int64_t, \
                                             int64_t, const AttnRule<T>&, int64_t, int64_t, double);             \
  template void launch_attn_flag_nonfinite<T>(const T*, const HeadLayout&, int64_t, int64_t, int64_t, int64_t,   \
                                              int32_t*);
MG_INSTANTIATE(float)
MG_INSTANTIATE(double)
#undef MG_INSTANTIATE

}  // namespace memgrad::cuda
