// Kernels of top-k attention (the score blocks are cuBLAS products in cuda_attention_topk.cpp).
// Forward: one block per query row finds the row's top kk unmasked scores by radix select on
// order-preserving integer keys (8 bits a pass), compacts the chosen keys in ascending order with
// a block scan (ties at the threshold go to the earlier keys, as on the CPU), then softmaxes them
// and gathers V. Backward: one warp per query row, scatter-adding into dK and dV atomically.
//
// NaN / inf (autograd/attention.h), as the CPU's cpu_attention_topk.cpp: every visible key is a
// candidate (one scored -inf too); NaN ranks above +inf (its radix key is the largest); the
// softmax over the picks propagates NaN and gives 0 to picks that all score -inf.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "backends/attention_visibility.h"
#include "backends/cuda/attention_kernels.h"
#include "backends/cuda/device_math.cuh"
#include "backends/cuda/kernel_args.h"
#include "backends/cuda/radix_select.cuh"
#include "backends/scalar_math.h"

namespace memgrad::cuda {
namespace {

constexpr int kWarpsPerBlock = kThreads / 32;

template <class T>
__global__ void __launch_bounds__(kThreads)
    topk_select_kernel(T* S, int64_t BH, int64_t nq, int64_t ld, int64_t i0, int64_t jb, AttnRule<T> rule, const T* v,
                       HeadLayout vl, int64_t Dv, int64_t kk, T* out, int32_t* idx, T* probs, T* lse) {
  using K = KeyT<T>;
  constexpr int kBits = 8 * sizeof(K);
  __shared__ int hist[256];
  __shared__ int2 scan_tot[33];
  __shared__ T red[32];
  __shared__ int s_sel, s_mode, s_digit, s_rem;  // mode: 0 none, 1 all visible keys, 2 radix select
  const int tid = threadIdx.x, nthreads = blockDim.x;
  const T ninf = -static_cast<T>(INFINITY);
  const int64_t rows = BH * nq;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t bh = row / nq, i = i0 + row % nq;
    const int64_t g = bh * rule.Nq + i;  // global query row
    const int64_t b = bh / rule.H, h = bh % rule.H;
    const int n = static_cast<int>(ld);  // columns: keys jb .. jb + ld - 1
    T* s = S + row * ld;                 // [n]
    int32_t* I = idx + g * kk;
    T* P = probs + g * kk;
    T* O = out + g * Dv;
    auto finite = [&](int j) { return rule.visible(bh, i, jb + j); };  // a candidate: visible
    // the scores: scale q.k (from cuBLAS) + bias + position terms, for the visible keys
    if (rule.mods.any_term())
      for (int j = tid; j < n; j += nthreads)
        if (finite(j)) s[j] += rule.term(bh, i, jb + j);
    __syncthreads();  // every score is final before the selection reads it

    // Radix select of the sel-th largest key: the first pass also counts the visible keys.
    K prefix = 0, mask = 0;
    int sel = 0, mode = 0, need = 0;
    for (int shift = kBits - 8; shift >= 0; shift -= 8) {
      for (int t = tid; t < 256; t += nthreads) hist[t] = 0;
      __syncthreads();
      for (int j = tid; j < n; j += nthreads)
        if (finite(j)) {
          const K key = radix_key(s[j]);
          if ((key & mask) == prefix) atomicAdd(&hist[static_cast<int>((key >> shift) & 255)], 1);
        }
      __syncthreads();
      if (tid < 32) {
        const bool first = shift == kBits - 8;
        int rem = need;  // the rank left, from the previous pass (a register: warp 0 rewrites s_rem)
        bool search = !first;
        if (first) {
          // the total is needed before the search: count with search off, then search
          const int total = search_digit(hist, 0, false, nullptr, nullptr);
          const int sl = static_cast<int>(min(kk, static_cast<int64_t>(total)));
          const int md = sl == 0 ? 0 : (sl == total ? 1 : 2);
          if (tid == 0) s_sel = sl, s_mode = md;
          rem = sl;
          search = md == 2;
        }
        if (search) search_digit(hist, rem, true, &s_digit, &s_rem);
      }
      __syncthreads();
      sel = s_sel, mode = s_mode;
      if (mode != 2) break;
      prefix |= static_cast<K>(s_digit) << shift;
      mask |= static_cast<K>(255) << shift;
      need = s_rem;  // keys equal to the threshold that are taken (the earliest)
    }

    if (mode == 0) {  // every key masked: output 0, lse +inf
      for (int64_t t = tid; t < kk; t += nthreads) I[t] = -1, P[t] = T(0);
      for (int64_t d = tid; d < Dv; d += nthreads) O[d] = T(0);
      if (lse && tid == 0) lse[g] = static_cast<T>(INFINITY);
      __syncthreads();
      continue;
    }

    // Compaction in key order: keys above the threshold, and the first `need` equal to it.
    const bool all = mode == 1;
    int run_gt = 0, run_eq = 0;
    for (int base = 0; base < n; base += nthreads) {
      const int j = base + tid;
      const bool f = j < n && finite(j);
      const K key = f ? radix_key(s[j]) : K(0);
      const bool gt = f && (all || key > prefix), eq = f && !all && key == prefix;
      int2 total;
      const int2 before = block_exclusive_scan(make_int2(gt, eq), scan_tot, total);
      const int gb = run_gt + before.x, eb = run_eq + before.y;
      if (gt || (eq && eb < need)) I[gb + min(eb, need)] = static_cast<int32_t>(jb + j);
      run_gt += total.x, run_eq += total.y;
      if (run_gt + (all ? 0 : min(run_eq, need)) >= sel) break;  // block-uniform
    }
    __syncthreads();  // the picks in I are visible to the whole block

    // Softmax over the picked scores.
    T mx = ninf;
    for (int t = tid; t < sel; t += nthreads) mx = nan_max(mx, s[I[t] - jb]);
    mx = block_reduce(mx, MaxOp{}, ninf, red);  // NaN: every probability NaN
    T sum = 0;
    for (int t = tid; t < sel; t += nthreads) {
      const T e = mx == ninf ? T(0) : dev_exp(s[I[t] - jb] - mx);  // picks all scored -inf: probability 0
      P[t] = e;
      sum += e;
    }
    sum = block_reduce(sum, SumOp{}, T(0), red);
    for (int t = tid; t < sel; t += nthreads) P[t] = sum == T(0) ? T(0) : P[t] / sum;
    // the logsumexp of the kept scores (+inf when they all score -inf, as a row with none)
    if (lse && tid == 0) lse[g] = sum == T(0) ? static_cast<T>(INFINITY) : mx + dev_log(sum);
    for (int64_t t = sel + tid; t < kk; t += nthreads) I[t] = -1, P[t] = T(0);
    __syncthreads();  // every probability is written

    // out = sum_t p_t keep_t v[idx_t] (keep_t: the dropout factor; probs stay before dropout)
    const T* vh = v + b * vl.sb + (h / rule.G) * vl.sh;  // the key/value head of query head h
    for (int64_t d = tid; d < Dv; d += nthreads) {
      T acc = 0;
      for (int t = 0; t < sel; ++t) acc += P[t] * rule.drop_factor(bh, i, I[t]) * vh[I[t] * vl.sr + d];
      O[d] = acc;
    }
    __syncthreads();  // before the next row reuses the shared state
  }
}

template <class T>
__global__ void topk_backward_kernel(const T* q, HeadLayout ql, const T* k, HeadLayout kl, const T* v, HeadLayout vl,
                                     const int32_t* idx, const T* probs, const T* dO, T* dq, T* dk, T* dv, int64_t BH,
                                     int64_t i0, int64_t nq, AttnRule<T> rule, AttnModGrads<T> gr, int64_t D,
                                     int64_t Dv, int64_t kk, T scale) {
  const int lane = threadIdx.x & 31;
  const int64_t rows = BH * nq, Nq = rule.Nq, Nk = rule.Nk, G = rule.G, Hkv = rule.H / G;
  for (int64_t r = blockIdx.x * int64_t{kWarpsPerBlock} + threadIdx.x / 32; r < rows;
       r += int64_t{gridDim.x} * kWarpsPerBlock) {
    const int64_t bh = r / nq, i = i0 + r % nq, b = bh / rule.H, h = bh % rule.H, g = bh * Nq + i;
    const int64_t kvh = b * Hkv + h / G;                  // the key/value head query head h reads
    const T* Qi = q + b * ql.sb + h * ql.sh + i * ql.sr;  // [D]
    const T* K = k + b * kl.sb + (h / G) * kl.sh;         // [Nk, D]
    const T* V = v + b * vl.sb + (h / G) * vl.sh;         // [Nk, Dv]
    const int32_t* I = idx + g * kk;
    const T* Pr = probs + g * kk;
    const T* dOi = dO + g * Dv;
    T* dQi = dq + g * D;
    T* dK = dk + kvh * Nk * D;  // shared by the G query heads of the group: atomics
    T* dV = dv + kvh * Nk * Dv;
    auto dot_v = [&](int64_t j) {  // dO . V[j], on every lane
      T s = 0;
      for (int64_t d = lane; d < Dv; d += 32) s += dOi[d] * V[j * vl.sr + d];
      return warp_sum(s);
    };
    // pdp = sum_t p_t keep_t dp_t = dO . O, dp_t = dO . V[idx_t] (keep_t: the dropout factor)
    T pdp = 0;
    for (int64_t t = 0; t < kk; ++t) {
      const int64_t j = I[t];
      if (j >= 0) pdp += Pr[t] * rule.drop_factor(bh, i, j) * dot_v(j);
    }
    for (int64_t t = 0; t < kk; ++t) {
      const int64_t j = I[t];
      if (j < 0) continue;
      const T pt = Pr[t], keep = rule.drop_factor(bh, i, j);
      const T ds = pt * (keep * dot_v(j) - pdp);
      const T a = scale * ds;
      for (int64_t d = lane; d < D; d += 32) {
        dQi[d] += a * K[j * kl.sr + d];  // this warp owns the row of dQ
        atomicAdd(dK + j * D + d, a * Qi[d]);
      }
      for (int64_t d = lane; d < Dv; d += 32) atomicAdd(dV + j * Dv + d, pt * keep * dOi[d]);
      // the per-pair inputs' gradients (atomics: entries are shared, see AttnModGrads)
      if (lane == 0 && gr.dbias)
        atomicAdd(gr.dbias + b * gr.dbias_s[0] + h * gr.dbias_s[1] + i * gr.dbias_s[2] + j * gr.dbias_s[3], ds);
      if (lane == 0 && gr.drel_table)
        atomicAdd(gr.drel_table + h * rule.mods.rel_buckets + rule.mods.bucket_index(rule.rel(i, j)), ds);
    }
  }
}

}  // namespace

template <class T>
void launch_topk_select(T* S, int64_t BH, int64_t nq, int64_t ld, int64_t i0, int64_t jb, const AttnRule<T>& rule,
                        const T* v, HeadLayout vl, int64_t Dv, int64_t kk, T* out, int32_t* idx, T* probs, T* lse) {
  const int64_t rows = BH * nq;
  if (rows <= 0) return;
  const unsigned blocks = static_cast<unsigned>(rows < (int64_t{1} << 20) ? rows : (int64_t{1} << 20));
  topk_select_kernel<T><<<blocks, kThreads>>>(S, BH, nq, ld, i0, jb, rule, v, vl, Dv, kk, out, idx, probs, lse);
}

template <class T>
void launch_topk_backward(const T* q, HeadLayout ql, const T* k, HeadLayout kl, const T* v, HeadLayout vl,
                          const int32_t* idx, const T* probs, const T* dO, T* dq, T* dk, T* dv, int64_t BH, int64_t i0,
                          int64_t nq, const AttnRule<T>& rule, const AttnModGrads<T>& g, int64_t D, int64_t Dv,
                          int64_t kk, double scale) {
  const int64_t rows = BH * nq;
  if (rows <= 0) return;
  topk_backward_kernel<T><<<blocks_for(rows, kWarpsPerBlock), kThreads>>>(
      q, ql, k, kl, v, vl, idx, probs, dO, dq, dk, dv, BH, i0, nq, rule, g, D, Dv, kk, static_cast<T>(scale));
}

#define MG_INSTANTIATE(T)                                                                                           \
  template void launch_topk_select<T>(T*, int64_t, int64_t, int64_t, int64_t, int64_t, const AttnRule<T>&,          \
                                      const T*, HeadLayout, int64_t, int64_t, T*, int32_t*, T*, T*);                 \
  template void launch_topk_backward<T>(const T*, HeadLayout, const T*, HeadLayout, const T*, HeadLayout,           \
                                        const int32_t*, const T*, const T*, T*, T*, T*, int64_t, int64_t, int64_t, \
                                        const AttnRule<T>&, const AttnModGrads<T>&, int64_t, int64_t, int64_t,     \
                                        double);
MG_INSTANTIATE(float)
MG_INSTANTIATE(double)
#undef MG_INSTANTIATE

}  // namespace memgrad::cuda
