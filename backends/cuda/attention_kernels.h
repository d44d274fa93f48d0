#pragma once
// Launchers of the attention kernels (cuda_attention_chunked.cu, cuda_attention_topk.cu) and the
// host helpers the two attention .cpp files share. Plain C++: both nvcc and the C++ compiler
// include it. Launchers enqueue on the default stream and do not check errors; the caller calls
// check_launch(op) after each one.
#include "backends/attention_visibility.h"
#include <cstdint>

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

// What decides whether query i (of Nq) may attend key j (of Nk): key_valid [B, Nk] (true = attend,
// null = all) and causal masking with bottom-right alignment (j <= i + Nk - Nq). Rows of score
// blocks are laid out [B * H, rows, cols]; b = row_block / H.
struct AttnMask {
  const bool* valid = nullptr;
  int64_t H = 1, Nq = 0, Nk = 0;
  bool causal = false;
  CausalAlign causal_align = CausalAlign::bottom_right;
};

// ---- chunked attention (cuda_attention_chunked.cu) ----

// m[r] = -inf, l[r] = 0 for r < rows.
template <class T>
void launch_attn_fwd_init(T* m, T* l, int64_t rows);
// One key chunk of the online softmax. S [BH, nq, nk] holds scale * Q K^T for queries i0.. and
// keys j0..; per row: masks it, updates the running max m and sum l ([BH, Nq]), rescales the
// accumulator rows O ([BH, Nq, Dv]) and overwrites S with P = exp(S - m_new) (0 where masked).
template <class T>
void launch_attn_fwd_update(T* S, int64_t BH, int64_t nq, int64_t nk, int64_t i0, int64_t j0, const AttnMask& mk,
                            T* m, T* l, T* O, int64_t Dv);
// O = O / l and lse = m + log(l) per row (lse holds m on entry); O = 0, lse = +inf where l = 0.
template <class T>
void launch_attn_fwd_finish(T* O, T* lse, const T* l, int64_t rows, int64_t Dv);
// out[r] = sum_d a[r, d] * b[r, d] for dense [rows, n] a and b.
template <class T>
void launch_attn_row_dot(const T* a, const T* b, T* out, int64_t rows, int64_t n);
// S [BH, nq, nk] (scale * Q K^T) becomes P = exp(S - lse[row]), 0 where masked; lse [BH, Nq].
template <class T>
void launch_attn_bwd_probs(T* S, int64_t BH, int64_t nq, int64_t nk, int64_t i0, int64_t j0, const AttnMask& mk,
                           const T* lse);
// dS [BH, nq, nk] holds dP on entry; becomes P * (dP - delta[row]), 0 where masked; delta [BH, Nq].
template <class T>
void launch_attn_bwd_dscores(T* dS, const T* P, int64_t BH, int64_t nq, int64_t nk, int64_t i0, int64_t j0,
                             const AttnMask& mk, const T* delta);

// The products of a block over its visible pairs only (for inputs that are not all finite, where
// cuBLAS would add 0 * NaN for masked pairs). Operands are GemmOperands whose row 0 is the
// block's first row (query rows i0.., key rows j0..); O, dQ, dK, dV are dense [BH, N, *].
// O rows i0.. += P V.
template <class T>
void launch_attn_visible_pv(const T* P, const GemmOperand& V, T* O, int64_t BH, int64_t nq, int64_t nk, int64_t i0,
                            int64_t j0, const AttnMask& mk, int64_t Dv);
// dV rows j0.. += P^T dO, dK rows j0.. += scale dS^T Q, dQ rows i0.. += scale dS K.
template <class T>
void launch_attn_visible_grads(const T* P, const T* dS, const GemmOperand& Q, const GemmOperand& K,
                               const GemmOperand& dO, T* dQ, T* dK, T* dV, int64_t BH, int64_t nq, int64_t nk,
                               int64_t i0, int64_t j0, const AttnMask& mk, int64_t D, int64_t Dv, double scale);
// Sets *flag = 1 when an element of the [B, H, N, C] view x (layout xl) is not finite.
template <class T>
void launch_attn_flag_nonfinite(const T* x, const HeadLayout& xl, int64_t BH, int64_t H, int64_t N, int64_t C,
                                int32_t* flag);

// ---- top-k attention (cuda_attention_topk.cu) ----

// For the query rows i0.. i0 + nq - 1 of every (b, h): S [BH, nq, ld] holds scale * Q K^T for keys
// 0.. ld - 1 (ld >= each row's last unmasked key + 1). Selects each row's top kk unmasked keys
// (ties to the earlier key), writes them in ascending key order to idx (-1 after the last), their
// softmax to probs (0 after the last) and out = sum_t probs_t v[idx_t] (0 when no key is left).
// v is the [B, H, Nk, Dv] view at `v`; out [BH, Nq, Dv], idx and probs [BH, Nq, kk] are dense.
template <class T>
void launch_topk_select(const T* S, int64_t BH, int64_t nq, int64_t ld, int64_t i0, const AttnMask& mk, const T* v,
                        HeadLayout vl, int64_t Dv, int64_t kk, T* out, int32_t* idx, T* probs);
// Backward of top-k attention over all BH * Nq rows: dq += scale sum_t ds_t k[idx_t],
// dk[idx_t] += scale ds_t q, dv[idx_t] += p_t dO (atomic), with ds_t = p_t (dO . v[idx_t] - sum_u p_u dO . v[idx_u]).
// dO, dq [BH, Nq, *], dk, dv [BH, Nk, *], idx, probs [BH, Nq, kk] dense.
template <class T>
void launch_topk_backward(const T* q, HeadLayout ql, const T* k, HeadLayout kl, const T* v, HeadLayout vl,
                          const int32_t* idx, const T* probs, const T* dO, T* dq, T* dk, T* dv, int64_t BH, int64_t H,
                          int64_t Nq, int64_t Nk, int64_t D, int64_t Dv, int64_t kk, double scale);

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
