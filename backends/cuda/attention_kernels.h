#pragma once
// Launchers of the attention kernels (cuda_attention_chunked.cu, cuda_attention_topk.cu,
// cuda_attention_blocks.cu) and the host helpers the two attention .cpp files share. Plain C++: both
// nvcc and the C++ compiler include it. Launchers enqueue on the default stream and do not check
// errors; the caller calls check_launch(op) after each one.
#include <cstdint>

#include "backends/attention_scores.h"
#include "backends/attention_visibility.h"

namespace memgrad {
class Tensor;  // core/tensor.h (host only)
}

namespace memgrad::cuda {

// Element strides of a [B, H, N, D] view with unit stride in the last dim: element (b, h, n, d)
// is at b * sb + h * sh + n * sr + d.
struct HeadLayout {
  int64_t sb = 0, sh = 0, sr = 0;
};

// A row-major matrix operand of a batched product over (b, h): matrix (b, h) starts at
// p + b * sb + h * sh (elements), rows ld elements apart.
struct GemmOperand {
  const void* p = nullptr;
  int64_t ld = 0, sb = 0, sh = 0;
};

// What decides whether query i (of Nq) may attend key j (of Nk) for the fused top-k kernels:
// key_valid [B, Nk] (true = attend, null = all) and the visibility rule (causal, window). Query
// head h of H reads key/value head h / G.
struct AttnMask {
  const bool* valid = nullptr;
  int64_t H = 1, Nq = 0, Nk = 0;
  Visibility vis;
  int64_t G = 1;
};

// Everything the block-wise kernels need to decide a pair (bh, i, j) of one launch: whether it is
// visible and what its score adds (the rules: backends/attention_visibility.h and
// backends/attention_scores.h; this only applies them). i and j index the whole row; each launch
// covers pairs of one segment `seg` (the whole row without packing), whose rule `vis` takes local
// indices. bh = b * H + h over query heads; query head h reads key/value head h / G.
template <class T>
struct AttnRule {
  int64_t H = 1, G = 1, Nq = 0, Nk = 0;  // query heads, query heads per kv head, row lengths
  Segment seg;                           // the launch's sequence (whole-row indices)
  Visibility vis;                        // its visibility rule (local indices)
  ScoreMods<T> mods;                     // per-pair masks and terms (device pointers)
  DropoutRule drop;                      // attention dropout (off: keep everything)

  // Whether query i sees key j (both inside seg): visibility, key padding, attn_mask.
  MG_VISIBILITY bool visible(int64_t bh, int64_t i, int64_t j) const {
    return vis.sees(i - seg.q0, j - seg.k0) && mods.allowed(bh / H, bh % H, i, j);
  }
  // The additive terms of pair (bh, i, j): bias, ALiBi, relative table (0 when none is given).
  MG_VISIBILITY T term(int64_t bh, int64_t i, int64_t j) const {
    if (!mods.any_term()) return T(0);
    return mods.term(bh / H, bh % H, i, j, rel(i, j));
  }
  // The segment-local relative position of pair (i, j): j - (i + offset).
  MG_VISIBILITY int64_t rel(int64_t i, int64_t j) const { return (j - seg.k0) - (i - seg.q0 + vis.offset()); }
  // The dropout factor of pair (bh, i, j): keep_scale when kept, 0 when dropped, 1 without dropout.
  MG_VISIBILITY T drop_factor(int64_t bh, int64_t i, int64_t j) const {
    if (!drop.on) return T(1);
    return drop.keep(bh, i, j) ? static_cast<T>(drop.keep_scale) : T(0);
  }
};

// The gradients of the per-pair inputs (AttentionModGrads), accumulated with atomicAdd by the
// kernels that compute dS (many pairs share an entry: broadcast dims of the bias, one table entry
// per relative bucket). Null when not wanted.
template <class T>
struct AttnModGrads {
  T* dbias = nullptr;                 // the 4-d shape of the bias, contiguous
  int64_t dbias_s[4] = {0, 0, 0, 0};  // element strides, 0 along broadcast dims
  T* drel_table = nullptr;            // [H, buckets] contiguous

  MG_VISIBILITY bool any() const { return dbias || drel_table; }
};

// One block of a block-wise pass: query rows i0 .. i0 + nq - 1 against keys j0 .. j0 + nk - 1
// (whole-row indices) of segment `seg`, whose visibility rule is `vis` (local indices; what
// with_segment (attention_host.h) gives). Plain data: the host copies lists of them to the device.
struct AttnBlock {
  Segment seg;
  Visibility vis;
  int64_t i0 = 0, nq = 0, j0 = 0, nk = 0;
};

// ---- which keys of a block any pair sees (cuda_attention_blocks.cu) ----

// For each of the n blocks (a device array), over every query head bh of BH and every row of the
// block, the pairs that rule.visible passes with the block's segment and rule (the band, key
// padding, attn_mask): span[2 blk] = max over them of width - c and span[2 blk + 1] = max of c + 1,
// c the pair's block-local key column (width >= every block's nk). Both stay 0 when no pair of the
// block is visible. span [2 n] int32 comes zeroed (so no initialisation kernel is needed).
template <class T>
void launch_attn_block_spans(const AttnBlock* blocks, int64_t n, int64_t width, int64_t BH, const AttnRule<T>& rule,
                             int32_t* span);

// ---- chunked attention (cuda_attention_chunked.cu) ----

// m[r] = -inf, l[r] = 0 for r < rows.
template <class T>
void launch_attn_fwd_init(T* m, T* l, int64_t rows);
// One key chunk of the online softmax. S [BH, nq, nk] holds scale * Q K^T for queries i0.. and
// keys j0..; per row: masks it, updates the running max m and sum l ([BH, Nq]), rescales the
// accumulator rows O ([BH, Nq, Dv]) and overwrites S with P = exp(S - m_new) (0 where masked).
// The score of a visible pair is S + rule.term; dropout scales P (the running sum l is over the
// undropped P, so out comes out dropped once divided by l).
template <class T>
void launch_attn_fwd_update(T* S, int64_t BH, int64_t nq, int64_t nk, int64_t i0, int64_t j0, const AttnRule<T>& rule,
                            T* m, T* l, T* O, int64_t Dv);
// O = O / l and lse = m + log(l) per row (lse holds m on entry); O = 0, lse = +inf where l = 0.
template <class T>
void launch_attn_fwd_finish(T* O, T* lse, const T* l, int64_t rows, int64_t Dv);
// out[r] = sum_d a[r, d] * b[r, d] for dense [rows, n] a and b.
template <class T>
void launch_attn_row_dot(const T* a, const T* b, T* out, int64_t rows, int64_t n);
// S [BH, nq, nk] (scale * Q K^T) becomes P = exp(S + term - lse[row]) (before dropout), 0 where
// masked; lse [BH, Nq].
template <class T>
void launch_attn_bwd_probs(T* S, int64_t BH, int64_t nq, int64_t nk, int64_t i0, int64_t j0, const AttnRule<T>& rule,
                           const T* lse);
// dS [BH, nq, nk] holds dP on entry; becomes P * (keep * dP - delta[row]), 0 where masked (keep:
// the dropout factor); P becomes P * keep, what dV needs; delta [BH, Nq]. dS is added into the
// defined members of g (atomically).
template <class T>
void launch_attn_bwd_dscores(T* dS, T* P, int64_t BH, int64_t nq, int64_t nk, int64_t i0, int64_t j0,
                             const AttnRule<T>& rule, const T* delta, const AttnModGrads<T>& g);

// The products of a block over its visible pairs only (for inputs that are not all finite, where
// cuBLAS would add 0 * NaN for masked pairs). Operands are GemmOperands whose row 0 is the
// block's first row (query rows i0.., key rows j0..); O, dQ are dense [BH, Nq, *], dK, dV dense
// [B * Hkv, Nk, *] (K, V, dK, dV: key/value heads, rule.G query heads each).
// O rows i0.. += P V.
template <class T>
void launch_attn_visible_pv(const T* P, const GemmOperand& V, T* O, int64_t BH, int64_t nq, int64_t nk, int64_t i0,
                            int64_t j0, const AttnRule<T>& rule, int64_t Dv);
// dV rows j0.. += P^T dO, dK rows j0.. += scale dS^T Q, dQ rows i0.. += scale dS K.
template <class T>
void launch_attn_visible_grads(const T* P, const T* dS, const GemmOperand& Q, const GemmOperand& K,
                               const GemmOperand& dO, T* dQ, T* dK, T* dV, int64_t BH, int64_t nq, int64_t nk,
                               int64_t i0, int64_t j0, const AttnRule<T>& rule, int64_t D, int64_t Dv, double scale);
// Sets *flag = 1 when an element of the [B, H, N, C] view x (layout xl) is not finite.
template <class T>
void launch_attn_flag_nonfinite(const T* x, const HeadLayout& xl, int64_t BH, int64_t H, int64_t N, int64_t C,
                                int32_t* flag);

// ---- top-k attention (cuda_attention_topk.cu) ----

// For the query rows i0.. i0 + nq - 1 of every (b, h) (inside rule.seg): S [BH, nq, ld] holds
// scale * Q K^T for keys jb .. jb + ld - 1 (every key a row of the block may see); the kernel adds
// rule's terms to it in place. Selects each row's top kk visible keys (ties to the earlier key),
// writes them in ascending key order to idx (-1 after the last), their softmax to probs (0 after
// the last; before dropout), lse (when not null) and out = sum_t probs_t keep_t v[idx_t] (0 when no
// key is left; keep_t the dropout factor). v is the [B, Hkv, Nk, Dv] view at `v`; out [BH, Nq, Dv],
// idx and probs [BH, Nq, kk], lse [BH, Nq] are dense.
template <class T>
void launch_topk_select(T* S, int64_t BH, int64_t nq, int64_t ld, int64_t i0, int64_t jb, const AttnRule<T>& rule,
                        const T* v, HeadLayout vl, int64_t Dv, int64_t kk, T* out, int32_t* idx, T* probs, T* lse);
// Backward of top-k attention over the query rows i0 .. i0 + nq - 1 (inside rule.seg) of every
// (b, h): dq += scale sum_t ds_t k[idx_t], dk[idx_t] += scale ds_t q, dv[idx_t] += p_t keep_t dO
// (atomic: the G query heads of a group share dk, dv), with ds_t = p_t (keep_t dO . v[idx_t] -
// sum_u p_u keep_u dO . v[idx_u]); ds_t is added into the defined members of g (atomic).
// dO, dq [BH, Nq, *], dk, dv [B * Hkv, Nk, *], idx, probs [BH, Nq, kk] dense.
template <class T>
void launch_topk_backward(const T* q, HeadLayout ql, const T* k, HeadLayout kl, const T* v, HeadLayout vl,
                          const int32_t* idx, const T* probs, const T* dO, T* dq, T* dk, T* dv, int64_t BH, int64_t i0,
                          int64_t nq, const AttnRule<T>& rule, const AttnModGrads<T>& g, int64_t D, int64_t Dv,
                          int64_t kk, double scale);

// ---- host helpers shared by the two attention .cpp files (defined in cuda_attention_chunked.cpp) ----

// Row-major C = alpha op(A) op(B) + beta C ([m, n], op(A) [m, k], op(B) [k, n]) for each of the
// B x H matrices, with cuBLAS strided-batched calls (one over B * H when the (b, h) strides
// merge, else one per b). k = 0 gives C = beta C.
template <class T>
void attn_gemm(const char* op, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
               const GemmOperand& a, const GemmOperand& b, double beta, const GemmOperand& c, int64_t B, int64_t H);
// q, k and v come through attention_input (backend.h: the attention input layout, shared with
// the CPU), which copies a view cuBLAS cannot address. Their layout:
HeadLayout head_layout(const Tensor& t);
// A GemmOperand for the rows n0.. of a [B, H, N, D] view in that layout (ld: attention_row_ld).
GemmOperand head_operand(const Tensor& t, int64_t n0);

}  // namespace memgrad::cuda
