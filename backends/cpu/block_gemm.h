#pragma once
// Register-tiled products for the attention kernels' blocks (a few hundred rows, inner sizes of a
// head dim or a key block), where a cblas call pays for packing both operands on every call and
// for a micro-kernel tuned for large inner sizes: at head dims 32 and 64 that was a fifth of the
// chunked kernels' time (the packing copies, beta's memset, C tiles reloaded every 32 or 64 steps).
//
//   block_gemm:      C [m, n] = alpha * A(m x k) B [k, n] + beta * C
//                    A(i, kk) = A[i * a_rs + kk * a_cs]: row-major A (a_rs = lda, a_cs = 1) or a
//                    transposed one (a_rs = 1, a_cs = lda) are read in place; B row-major (ldb).
//   pack_b:          B's panels packed contiguously, from B or from Bᵀ read in place (so that
//                    products with Bᵀ, S = Q Kᵀ, run as block_gemm), into a buffer the caller
//                    packs once and reuses (a key block against every query block in backward).
//
// An epilogue (block_gemm's last argument) turns C's values as they are made, instead of a pass
// over the block afterwards (the attention kernels' exp and softmax gradient). Two forms:
//  - a row epilogue, any callable epi(i, j0, c, cols): called once on each finished row piece
//    of C, c = &C[i, j0], cols <= block_gemm_panel() elements, after it is stored (still in L1);
//  - a vector epilogue, VecEpilogue{f}: f(i, j, v) returns what is stored at C[i, j .. j + W)
//    for v = alpha * A Bp (+ beta * C) in a register (BlockVec<T>, W lanes). In the last panel
//    the lanes past column n are computed and dropped, so f may be called for j + W > n and must
//    be able to read its own operands there (to the panel's end, a multiple of the panel width). No store and reload, and no call per row piece: at head
//    dim 32 the row form's exp cost twice the exp itself.
//
// Contract: no operand aliases C; beta == 0 never reads C (it may hold NaN or garbage). Results
// equal the plain sum to the rounding of a different summation order (FMA, k in order per element),
// the same as a BLAS call; float and double alike (tests compare with the double reference loop).
// The tile is MR rows by NV vectors of the widest float vector the target compiles for (AVX-512:
// 16 floats, AVX2: 8, SSE and others: 4); a column tail narrower than a vector runs scalar.
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

namespace memgrad::cpu {

namespace block_gemm_detail {

#if defined(__AVX512F__)
inline constexpr int kVecBytes = 64;
#elif defined(__AVX__)
inline constexpr int kVecBytes = 32;
#else
inline constexpr int kVecBytes = 16;
#endif

template <class T>
struct Vec {
  static constexpr int W = kVecBytes / static_cast<int>(sizeof(T));  // lanes
  typedef T type __attribute__((vector_size(kVecBytes)));
  static type load(const T* p) {
    type v;
    std::memcpy(&v, p, sizeof v);  // an unaligned vector load
    return v;
  }
  static void store(T* p, type v) { std::memcpy(p, &v, sizeof v); }
};

// A vector epilogue (header comment).
template <class F>
struct VecEpilogue {
  F f;
};
template <class E>
inline constexpr bool kIsVecEpilogueType = false;
template <class F>
inline constexpr bool kIsVecEpilogueType<VecEpilogue<F>> = true;
template <class E>
inline constexpr bool kIsVecEpilogue = kIsVecEpilogueType<std::remove_cvref_t<E>>;

inline constexpr int MR = 6;  // rows per tile: 6 x 2 accumulators + 2 B vectors + 1 broadcast fit 16 registers
inline constexpr int NV = 2;  // vectors per tile row

// One tile of ROWS (<= MR) rows by NV vectors: acc = A(ROWS x k) Bp, where Bp is one packed panel
// ([k][NV * W], contiguous); then C = alpha * acc + beta * C over the first `cols` columns, through
// a vector epilogue's f when Epi is one (the tile's first element is C[i0, j0]).
template <class T, int ROWS, class Epi>
inline void tile(int64_t k, T alpha, const T* A, int64_t a_rs, int64_t a_cs, const T* Bp, T beta, T* C, int64_t ldc,
                 int64_t cols, int64_t i0, int64_t j0, Epi& epi) {
  using V = Vec<T>;
  typename V::type acc[ROWS][NV];
  for (int r = 0; r < ROWS; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = typename V::type{};
  for (int64_t kk = 0; kk < k; ++kk) {
    typename V::type b[NV];
    for (int v = 0; v < NV; ++v) b[v] = V::load(Bp + (kk * NV + v) * V::W);
    const T* a = A + kk * a_cs;
    for (int r = 0; r < ROWS; ++r) {
      const T ar = a[r * a_rs];
      for (int v = 0; v < NV; ++v) acc[r][v] += ar * b[v];
    }
  }
  if (cols == NV * V::W) {
    for (int r = 0; r < ROWS; ++r)
      for (int v = 0; v < NV; ++v) {
        T* c = C + r * ldc + v * V::W;
        typename V::type out = alpha * acc[r][v];
        if (beta != T(0)) out += beta * V::load(c);
        if constexpr (kIsVecEpilogue<Epi>) out = epi.f(i0 + r, j0 + v * V::W, out);
        V::store(c, out);
      }
    return;
  }
  for (int r = 0; r < ROWS; ++r) {  // a panel's last columns: through a buffer
    T buf[NV * V::W];
    T* c = C + r * ldc;
    for (int64_t j = 0; j < NV * V::W; ++j) buf[j] = j < cols && beta != T(0) ? beta * c[j] : T(0);
    for (int v = 0; v < NV; ++v) {
      typename V::type out = alpha * acc[r][v] + V::load(buf + v * V::W);
      if constexpr (kIsVecEpilogue<Epi>) out = epi.f(i0 + r, j0 + v * V::W, out);
      V::store(buf + v * V::W, out);
    }
    for (int64_t j = 0; j < cols; ++j) c[j] = buf[j];
  }
}

}  // namespace block_gemm_detail

using block_gemm_detail::VecEpilogue;
template <class F>
VecEpilogue<F> vec_epilogue(F f) {  // (no aggregate deduction: clang 14 builds the fuzz targets)
  return VecEpilogue<F>{std::move(f)};
}

// The register vector of T that vector epilogues take and return, W = BlockVec<T>::W lanes; load
// and store are unaligned.
template <class T>
using BlockVec = block_gemm_detail::Vec<T>;

// Columns per packed panel of B.
template <class T>
constexpr int64_t block_gemm_panel() {
  return block_gemm_detail::NV * block_gemm_detail::Vec<T>::W;
}
// Elements of the packed form of a k x n operand (n rounded up to whole panels).
template <class T>
constexpr int64_t block_gemm_packed_size(int64_t k, int64_t n) {
  return k * ((n + block_gemm_panel<T>() - 1) / block_gemm_panel<T>() * block_gemm_panel<T>());
}

// Packs B(kk, j) = B[kk * b_rs + j * b_cs], k x n, into panels of block_gemm_panel() columns,
// Bp[(j / P) * k * P + kk * P + j % P], the last panel zero-padded. B row-major: b_rs = ldb,
// b_cs = 1; Bᵀ of a row-major [n, k] matrix: b_rs = 1, b_cs = ld.
template <class T>
void pack_b(const T* B, int64_t k, int64_t n, int64_t b_rs, int64_t b_cs, T* Bp) {
  constexpr int64_t P = block_gemm_panel<T>();
  for (int64_t j0 = 0; j0 < n; j0 += P) {
    T* panel = Bp + j0 * k;
    const int64_t w = n - j0 < P ? n - j0 : P;
    if (b_cs == 1) {
      for (int64_t kk = 0; kk < k; ++kk) {
        const T* src = B + kk * b_rs + j0;
        T* dst = panel + kk * P;
        for (int64_t j = 0; j < w; ++j) dst[j] = src[j];
        for (int64_t j = w; j < P; ++j) dst[j] = T(0);
      }
    } else {
      for (int64_t j = 0; j < P; ++j) {
        const T* src = B + (j0 + j) * b_cs;
        for (int64_t kk = 0; kk < k; ++kk) panel[kk * P + j] = j < w ? src[kk * b_rs] : T(0);
      }
    }
  }
}

// The default epilogue: none.
struct NoEpilogue {
  template <class T>
  void operator()(int64_t, int64_t, T*, int64_t) const {}
};

// C [m, n] = alpha * A Bp + beta * C, Bp packed by pack_b, then epi on each row piece (header
// comment). Panels outermost, so one panel (k x P) stays in cache while every row tile passes
// over it.
template <class T, class Epilogue = NoEpilogue>
void block_gemm(int64_t m, int64_t n, int64_t k, T alpha, const T* A, int64_t a_rs, int64_t a_cs, const T* Bp, T beta,
                T* C, int64_t ldc, Epilogue&& epi = {}) {
  using namespace block_gemm_detail;
  constexpr int64_t P = block_gemm_panel<T>();
  constexpr bool kVec = kIsVecEpilogue<Epilogue>;
  for (int64_t j0 = 0; j0 < n; j0 += P) {
    const T* panel = Bp + j0 * k;
    const int64_t cols = n - j0 < P ? n - j0 : P;
    int64_t i = 0;
    for (; i + MR <= m; i += MR) {
      tile<T, MR>(k, alpha, A + i * a_rs, a_rs, a_cs, panel, beta, C + i * ldc + j0, ldc, cols, i, j0, epi);
      if constexpr (!kVec)
        for (int64_t r = i; r < i + MR; ++r) epi(r, j0, C + r * ldc + j0, cols);
    }
    const T* Ai = A + i * a_rs;
    T* Ci = C + i * ldc + j0;
    switch (m - i) {
      case 5: tile<T, 5>(k, alpha, Ai, a_rs, a_cs, panel, beta, Ci, ldc, cols, i, j0, epi); break;
      case 4: tile<T, 4>(k, alpha, Ai, a_rs, a_cs, panel, beta, Ci, ldc, cols, i, j0, epi); break;
      case 3: tile<T, 3>(k, alpha, Ai, a_rs, a_cs, panel, beta, Ci, ldc, cols, i, j0, epi); break;
      case 2: tile<T, 2>(k, alpha, Ai, a_rs, a_cs, panel, beta, Ci, ldc, cols, i, j0, epi); break;
      case 1: tile<T, 1>(k, alpha, Ai, a_rs, a_cs, panel, beta, Ci, ldc, cols, i, j0, epi); break;
      default: break;
    }
    if constexpr (!kVec)
      for (int64_t r = i; r < m; ++r) epi(r, j0, C + r * ldc + j0, cols);
  }
}

}  // namespace memgrad::cpu
