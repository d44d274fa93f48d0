// Chunked (memory-efficient) attention on the GPU: the CPU's algorithm (cpu_attention_chunked.cpp)
// with cuBLAS products over the B * H heads at once. Forward: online softmax over key chunks, the
// output accumulated in `out` itself. Backward: score blocks recomputed from lse (FlashAttention-2
// math). Score blocks are [B * H, rows, k_chunk]; nothing of size Nq x Nk is allocated.
// Every option of autograd/attention.h (kCudaAttentionFeatures): the row kernels apply the
// visibility rule, attn_mask, key padding, bias / ALiBi / relative terms and dropout through
// AttnRule (attention_kernels.h); grouped-query heads read K and V in place (gqa_gemm,
// attention_host.h); packed sequences run as tasks over their segments (host loop). Blocks are
// skipped in both passes when the causal / window band or the segment hides them entirely, and,
// with key padding or attn_mask, when no pair of theirs is visible for any (b, h) (one block
// serves all B * H heads; block_key_spans, cuda_attention_blocks.cu: one small launch and copy per
// call, only when either is given); partly hidden blocks are masked pair by pair by the row kernels.
// With AttentionParams::fused and shapes the fused kernels take, both methods hand over to them
// (cuda_flash_attention.cpp) when the inputs are all finite. Inputs with NaN or inf take the
// block-wise path with its products over visible pairs only (the NaN / inf contract of
// autograd/attention.h; cuda_attention_chunked.cu).
// Also defines attention_kernels.h's batched products (attn_gemm); the input layouts are in
// attention_layout.cpp.
#include <algorithm>
#include <climits>
#include <initializer_list>
#include <type_traits>
#include <vector>

#include "backends/attention_mods.h"
#include "backends/attention_visibility.h"
#include "backends/backend.h"
#include "backends/cuda/attention_host.h"
#include "backends/cuda/attention_kernels.h"
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/flash_attention_kernels.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/tensor.h"

namespace memgrad::cuda {

// ---- host helpers (attention_kernels.h) ----

namespace {

// One operand's stride over the merged (b, h) index, or -1 when b and h do not merge.
int64_t merged_stride(const GemmOperand& o, int64_t B, int64_t H) {
  if (H == 1) return o.sb;
  if (B == 1 || o.sb == H * o.sh) return o.sh;
  return -1;
}

template <class T>
void gemm_strided_batched(const char* op, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, T alpha,
                          const T* a, int lda, int64_t sa, const T* b, int ldb, int64_t sb, T beta, T* c, int ldc,
                          int64_t sc, int64_t batch) {
  // in chunks: large batch counts exceed some cuBLAS kernels' grid limits
  constexpr int64_t kMaxBatch = 65535;
  for (int64_t b0 = 0; b0 < batch; b0 += kMaxBatch) {
    const int nb = static_cast<int>(std::min(kMaxBatch, batch - b0));
    if constexpr (std::is_same_v<T, float>)
      MG_CUBLAS_CHECK(op, cublasSgemmStridedBatched(cublas(), ta, tb, m, n, k, &alpha, a + b0 * sa, lda, sa,
                                                    b + b0 * sb, ldb, sb, &beta, c + b0 * sc, ldc, sc, nb));
    else
      MG_CUBLAS_CHECK(op, cublasDgemmStridedBatched(cublas(), ta, tb, m, n, k, &alpha, a + b0 * sa, lda, sa,
                                                    b + b0 * sb, ldb, sb, &beta, c + b0 * sc, ldc, sc, nb));
  }
}

}  // namespace

template <class T>
void attn_gemm(const char* op, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
               const GemmOperand& a, const GemmOperand& b, double beta, const GemmOperand& c, int64_t B, int64_t H) {
  if (m <= 0 || n <= 0 || B <= 0 || H <= 0) return;
  T* cp = static_cast<T*>(const_cast<void*>(c.p));
  if (k <= 0) {  // an empty sum: C = beta C (only the cases attention needs)
    if (beta == 1) return;
    MG_CHECK(beta == 0 && c.ld == n && c.sh == m * n && (B == 1 || c.sb == H * c.sh), op,
             "internal: empty product into a strided or scaled block");
    MG_CUDA_CHECK(op, cudaMemsetAsync(cp, 0, static_cast<size_t>(B * H * m * n) * sizeof(T), 0));
    return;
  }
  // Row-major storage: A is [m, k] (or [k, m] when transposed), B [k, n] (or [n, k]), C [m, n].
  const int64_t a_cols = trans_a ? m : k, b_cols = trans_b ? k : n;
  MG_CHECK(a.ld >= a_cols && b.ld >= b_cols && c.ld >= n, op,
           "internal: leading dims {}, {}, {} below the row lengths {}, {}, {}", a.ld, b.ld, c.ld, a_cols, b_cols, n);
  for (int64_t x : {m, n, k, a.ld, b.ld, c.ld})
    MG_CHECK(x <= INT_MAX, op, "a matrix dim or row stride ({}) exceeds cuBLAS's int range", x);
  // cuBLAS is column-major: the row-major C = op(A) op(B) is the column-major C^T = op(B)^T op(A)^T.
  const cublasOperation_t ta = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, tb = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const T* ap = static_cast<const T*>(a.p);
  const T* bp = static_cast<const T*>(b.p);
  const T al = static_cast<T>(alpha), be = static_cast<T>(beta);
  const int64_t sa = merged_stride(a, B, H), sb = merged_stride(b, B, H), sc = merged_stride(c, B, H);
  if (sa >= 0 && sb >= 0 && sc >= 0) {
    gemm_strided_batched<T>(op, ta, tb, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), al, bp,
                            static_cast<int>(b.ld), sb, ap, static_cast<int>(a.ld), sa, be, cp,
                            static_cast<int>(c.ld), sc, B * H);
    return;
  }
  for (int64_t i = 0; i < B; ++i)  // (b, h) strides do not merge: one batch of H per b
    gemm_strided_batched<T>(op, ta, tb, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), al,
                            bp + i * b.sb, static_cast<int>(b.ld), b.sh, ap + i * a.sb, static_cast<int>(a.ld), a.sh,
                            be, cp + i * c.sb, static_cast<int>(c.ld), c.sh, H);
}

template void attn_gemm<float>(const char*, bool, bool, int64_t, int64_t, int64_t, double, const GemmOperand&,
                               const GemmOperand&, double, const GemmOperand&, int64_t, int64_t);
template void attn_gemm<double>(const char*, bool, bool, int64_t, int64_t, int64_t, double, const GemmOperand&,
                                const GemmOperand&, double, const GemmOperand&, int64_t, int64_t);

// ---- chunked attention ----

namespace {

// Score-block budget (elements) over all heads: query blocks grow past q_chunk rows while the
// block stays below it, so small problems take few launches. A constant: memory stays O(N).
constexpr int64_t kBlockElems = int64_t{1} << 22;

// Query rows per block: at least min(q_chunk, Nq), at most Nq.
int64_t rows_per_block(int64_t q_chunk, int64_t Nq, int64_t BH, int64_t cols) {
  const int64_t base = std::min(q_chunk, std::max<int64_t>(Nq, 1));
  const int64_t fit = kBlockElems / std::max<int64_t>(BH * cols, 1);
  return std::max<int64_t>(1, std::min(std::max(base, fit), std::max<int64_t>(Nq, 1)));
}

// A dense [B, H, N, cols] buffer's rows n0.. as a GemmOperand.
template <class T>
GemmOperand dense_rows(const T* p, int64_t H, int64_t N, int64_t cols, int64_t n0) {
  return {p + n0 * cols, std::max<int64_t>(cols, 1), H * N * cols, N * cols};
}

// Whether every element of the [B, H, N, *] tensors is finite (one flag, one wait for the GPU).
template <class T>
bool all_finite_inputs(std::initializer_list<const Tensor*> ts, const char* op) {
  int64_t elems = 0;
  for (const Tensor* t : ts) elems += t->numel();
  if (elems == 0) return true;
  const Tensor& first = **ts.begin();
  Tensor flag = empty({1}, DType::int32, first.device());
  MG_CUDA_CHECK(op, cudaMemsetAsync(flag.raw_data(), 0, sizeof(int32_t), 0));
  for (const Tensor* t : ts) {
    launch_attn_flag_nonfinite<T>(t->data<T>(), head_layout(*t), t->shape()[0] * t->shape()[1], t->shape()[1],
                                  t->shape()[2], t->shape()[3], flag.data<int32_t>());
    check_launch(op);
  }
  int32_t hit = 0;
  MG_CUDA_CHECK(op, cudaMemcpy(&hit, flag.raw_data(), sizeof(int32_t), cudaMemcpyDeviceToHost));
  return hit == 0;
}

// The blocks to run, segment by segment (packed sequences, or the whole row), key chunks outer:
// query rows i0 .. i0 + nq - 1 against keys j0 .. j0 + nk - 1 (whole-row indices). A block that
// the segment's band (causal, window) hides entirely is left out here, on the host; with key
// padding or attn_mask, a block in which no pair is visible for any (b, h) is left out too
// (block_key_spans: one launch and one copy back per call). One block covers all B * H heads (the
// batched products), so a block that one (b, h) sees runs for every head, masked pair by pair by
// the row kernels. A block left out contributes nothing in either pass: rows that see no key keep
// output 0 and lse +inf.
template <class T>
std::vector<AttnBlock> visible_blocks(const std::vector<Segment>& segs, const AttnRule<T>& rule,
                                      const AttentionParams& p, int64_t R, int64_t Ck, int64_t BH, const Tensor& like,
                                      const char* op) {
  std::vector<AttnBlock> band;
  for (const Segment& s : segs) {
    const Visibility vis = with_segment(rule, s, p).vis;
    for (int64_t j0 = s.k0; j0 < s.k0 + s.nk; j0 += Ck) {
      const int64_t nk = std::min(Ck, s.k0 + s.nk - j0);
      for (int64_t i0 = s.q0; i0 < s.q0 + s.nq; i0 += R) {
        const int64_t nq = std::min(R, s.q0 + s.nq - i0);
        // keys visible to the block's rows lie in first_key(first row) .. last_key(last row)
        if (vis.last_key(i0 + nq - 1 - s.q0) < j0 - s.k0 || vis.first_key(i0 - s.q0) > j0 + nk - 1 - s.k0) continue;
        band.push_back(AttnBlock{s, vis, i0, nq, j0, nk});
      }
    }
  }
  if (!rule.mods.any_pair_mask()) return band;
  const std::vector<KeySpan> spans = block_key_spans<T>(band, rule, BH, like, op);
  std::vector<AttnBlock> out;
  for (size_t b = 0; b < band.size(); ++b)
    if (!spans[b].empty()) out.push_back(band[b]);
  return out;
}

// The most queries (keys: keys) of one segment: what a score block must hold.
int64_t longest_segment(const std::vector<Segment>& segs, bool keys) {
  int64_t n = 0;
  for (const Segment& s : segs) n = std::max(n, keys ? s.nk : s.nq);
  return n;
}

}  // namespace

// Block-wise forward: per segment (packed sequence, or the whole row), per block with a visible
// pair (visible_blocks), S = scale Q K^T (cuBLAS, grouped-query heads read in place), then the row
// kernel adds the terms, masks, updates the online softmax and applies dropout to the P that
// multiplies V.
void CudaBackend::attention_chunked_forward(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in,
                                            const AttentionMods& mods, const AttentionParams& p, Tensor& out,
                                            Tensor& lse) {
  if (!out.is_contiguous()) {  // autograd's [B, Nq, H, Dv] storage: these kernels write [B, H, Nq, Dv], then a copy
    Tensor o = empty(out.shape(), out.dtype(), out.device());
    attention_chunked_forward(q_in, k_in, v_in, mods, p, o, lse);
    copy(o, out);
    return;
  }
  const Tensor q = attention_input(q_in), k = attention_input(k_in), v = attention_input(v_in);
  check_attention_supported(mods, p, q, k, kCudaAttentionFeatures, "the CUDA kernels", "attention");
  const int64_t B = q.shape()[0], H = q.shape()[1], Nq = q.shape()[2], D = q.shape()[3];
  const int64_t Hkv = k.shape()[1], Nk = k.shape()[2], Dv = v.shape()[3], BH = B * H;
  dispatch_float(q.dtype(), "attention", [&]<class T>() {
    if (BH == 0 || Nq == 0) return;
    const bool finite = all_finite_inputs<T>({&q, &k, &v}, "attention");
    if (finite && p.fused && flash_attention_supported(q, k, v, mods, p)) {  // one kernel (cuda_flash_attention.cu)
      flash_attention_forward(q, k, v, mods.key_valid, p, out, lse);
      return;
    }
    const std::vector<Segment> segs = attention_segments(mods, Nq, Nk);
    const int64_t Ck = std::min(p.k_chunk, std::max<int64_t>(longest_segment(segs, true), 1));
    const int64_t R = rows_per_block(p.q_chunk, longest_segment(segs, false), BH, Ck);
    const AttnRule<T> rule = attn_rule<T>(mods, p, H, Hkv, Nq, Nk);
    T* O = out.data<T>();  // [B, H, Nq, Dv], the unnormalised accumulator until the end
    T* m = lse.data<T>();  // [B, H, Nq], the running max until the end
    Tensor l_t = empty({B, H, Nq}, q.dtype(), q.device());  // running sums
    T* l = l_t.data<T>();
    if (out.numel() > 0) MG_CUDA_CHECK("attention", cudaMemsetAsync(O, 0, out.nbytes(), 0));
    launch_attn_fwd_init<T>(m, l, BH * Nq);
    check_launch("attention");
    Tensor S_t = attention_workspace({BH, std::min(R, Nq), Ck}, q.dtype(), q.device());  // scores, then P
    T* S = S_t.data<T>();
    for (const AttnBlock& blk : visible_blocks<T>(segs, rule, p, R, Ck, BH, q, "attention")) {
      const AttnRule<T> rs = with_segment(rule, blk.seg, p);
      const int64_t i0 = blk.i0, nq = blk.nq, j0 = blk.j0, nk = blk.nk;
      const GemmOperand Sb{S, nk, H * nq * nk, nq * nk};  // [BH, nq, nk]
      // S = scale * Q_i K_j^T
      gqa_gemm<T>("attention", false, true, nq, nk, D, p.scale, head_operand(q, i0), head_operand(k, j0), 0, Sb, B, H,
                  rule.G, {true, false, true});
      launch_attn_fwd_update<T>(S, BH, nq, nk, i0, j0, rs, m, l, O, Dv);
      check_launch("attention");
      // O_i += P V_j
      if (finite) {
        gqa_gemm<T>("attention", false, false, nq, Dv, nk, 1, Sb, head_operand(v, j0), 1, dense_rows(O, H, Nq, Dv, i0),
                    B, H, rule.G, {true, false, true});
      } else {  // over visible pairs only: masked P = 0 must not meet a NaN in V
        launch_attn_visible_pv<T>(S, head_operand(v, j0), O, BH, nq, nk, i0, j0, rs, Dv);
        check_launch("attention");
      }
    }
    launch_attn_fwd_finish<T>(O, m, l, BH * Nq, Dv);
    check_launch("attention");
  });
}

// Block-wise backward (FlashAttention-2 math): per block with a visible pair (visible_blocks, as
// forward), P recomputed from lse, dS = P * (keep * dP - delta) (dbias and drel_table accumulated
// from it by the row kernel), then dV += (P keep)^T dO, dK += scale dS^T Q (summed over each
// key/value head's query heads), dQ += scale dS K.
void CudaBackend::attention_chunked_backward(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in,
                                             const AttentionMods& mods, const Tensor& out_in, const Tensor& lse_in,
                                             const Tensor& grad_out_in, const AttentionParams& p, Tensor& dq,
                                             Tensor& dk, Tensor& dv, AttentionModGrads& g) {
  const Tensor q = attention_input(q_in), k = attention_input(k_in), v = attention_input(v_in);
  check_attention_supported(mods, p, q, k, kCudaAttentionFeatures, "the CUDA kernels", "attention_backward");
  const int64_t B = q.shape()[0], H = q.shape()[1], Nq = q.shape()[2], D = q.shape()[3];
  const int64_t Hkv = k.shape()[1], Nk = k.shape()[2], Dv = v.shape()[3], BH = B * H;
  dispatch_float(q.dtype(), "attention_backward", [&]<class T>() {
    if (BH == 0 || Nq == 0 || Nk == 0) return;  // no score: every gradient stays 0
    MG_CHECK(dq.is_contiguous() && dk.is_contiguous() && dv.is_contiguous(), "attention_backward",
             "dq, dk, dv must be contiguous");
    const Tensor grad_out = contiguous_copy(grad_out_in);  // [B, H, Nq, Dv]
    const bool finite = all_finite_inputs<T>({&q, &k, &v, &grad_out}, "attention_backward");
    const Tensor out = contiguous_copy(out_in), lse = contiguous_copy(lse_in);  // out: a view of [B, Nq, H, Dv]
    if (finite && p.fused && flash_attention_supported(q, k, v, mods, p)) {  // one kernel (cuda_flash_attention.cu)
      flash_attention_backward(q, k, v, mods.key_valid, out, lse, grad_out, p, dq, dk, dv);
      return;
    }
    const T* dO = grad_out.data<T>();  // [B, H, Nq, Dv]
    const T* L = lse.data<T>();        // [B, H, Nq]
    const std::vector<Segment> segs = attention_segments(mods, Nq, Nk);
    const int64_t Ck = std::min(p.k_chunk, std::max<int64_t>(longest_segment(segs, true), 1));
    const int64_t R = rows_per_block(p.q_chunk, longest_segment(segs, false), BH, 2 * Ck);
    const AttnRule<T> rule = attn_rule<T>(mods, p, H, Hkv, Nq, Nk);
    const AttnModGrads<T> gr = attn_mod_grads<T>(g);
    // delta_i = rowsum(dO_i * O_i)  [B, H, Nq]
    Tensor delta_t = empty({B, H, Nq}, q.dtype(), q.device());
    T* delta = delta_t.data<T>();
    launch_attn_row_dot<T>(dO, out.data<T>(), delta, BH * Nq, Dv);
    check_launch("attention_backward");
    Tensor P_t = attention_workspace({BH, std::min(R, Nq), Ck}, q.dtype(), q.device());   // P, recomputed, then P * keep
    Tensor dS_t = attention_workspace({BH, std::min(R, Nq), Ck}, q.dtype(), q.device());  // dP, then dS
    T* P = P_t.data<T>();
    T* dS = dS_t.data<T>();
    T* dQ = dq.data<T>();  // [B, H, Nq, D]
    T* dK = dk.data<T>();  // [B, Hkv, Nk, D]
    T* dV = dv.data<T>();  // [B, Hkv, Nk, Dv]
    const int64_t G = rule.G;
    for (const AttnBlock& blk : visible_blocks<T>(segs, rule, p, R, Ck, BH, q, "attention_backward")) {
      const AttnRule<T> rs = with_segment(rule, blk.seg, p);
      const int64_t i0 = blk.i0, nq = blk.nq, j0 = blk.j0, nk = blk.nk;
      const GemmOperand Kj = head_operand(k, j0), Vj = head_operand(v, j0);
      const GemmOperand Qi = head_operand(q, i0), dOi = dense_rows(dO, H, Nq, Dv, i0);
      const GemmOperand Pb{P, nk, H * nq * nk, nq * nk}, dSb{dS, nk, H * nq * nk, nq * nk};  // [BH, nq, nk]
      // P = exp(scale * Q_i K_j^T + terms - lse)
      gqa_gemm<T>("attention_backward", false, true, nq, nk, D, p.scale, Qi, Kj, 0, Pb, B, H, G, {true, false, true});
      launch_attn_bwd_probs<T>(P, BH, nq, nk, i0, j0, rs, L);
      check_launch("attention_backward");
      // dP = dO_i V_j^T; dS = P * (keep * dP - delta), 0 where masked; P *= keep
      gqa_gemm<T>("attention_backward", false, true, nq, nk, Dv, 1, dOi, Vj, 0, dSb, B, H, G, {true, false, true});
      launch_attn_bwd_dscores<T>(dS, P, BH, nq, nk, i0, j0, rs, delta, gr);
      check_launch("attention_backward");
      if (!finite) {  // over visible pairs only: masked P, dS = 0 must not meet a NaN in Q, K or dO
        launch_attn_visible_grads<T>(P, dS, Qi, Kj, dOi, dQ, dK, dV, BH, nq, nk, i0, j0, rs, D, Dv, p.scale);
        check_launch("attention_backward");
        continue;
      }
      // dV_j += (P keep)^T dO_i
      gqa_gemm<T>("attention_backward", true, false, nk, Dv, nq, 1, Pb, dOi, 1, dense_rows(dV, Hkv, Nk, Dv, j0), B, H,
                  G, {true, true, false});
      // dK_j += scale * dS^T Q_i
      gqa_gemm<T>("attention_backward", true, false, nk, D, nq, p.scale, dSb, Qi, 1, dense_rows(dK, Hkv, Nk, D, j0), B,
                  H, G, {true, true, false});
      // dQ_i += scale * dS K_j
      gqa_gemm<T>("attention_backward", false, false, nq, D, nk, p.scale, dSb, Kj, 1, dense_rows(dQ, H, Nq, D, i0), B,
                  H, G, {true, false, true});
    }
  });
}

}  // namespace memgrad::cuda
