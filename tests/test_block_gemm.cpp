// backends/cpu/block_gemm.h, the register-tiled products of the CPU attention kernels, against a
// double-precision loop: every operand layout the kernels use, row counts around the tile height,
// column counts around the panel width (the scalar-stored tail), beta 0 over NaN-filled C (never
// read) and beta 1, float and double, on random inputs.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "backends/cpu/block_gemm.h"

using namespace memgrad::cpu;

namespace {

template <class T>
void check_case(int64_t m, int64_t n, int64_t k, bool a_transposed, bool b_transposed, T alpha, T beta,
                std::mt19937& gen) {
  std::normal_distribution<double> nd;
  const int64_t lda = (a_transposed ? m : k) + 3, ldb = (b_transposed ? k : n) + 5, ldc = n + 2;
  std::vector<T> A((a_transposed ? k : m) * lda), B((b_transposed ? n : k) * ldb), C(m * ldc);
  for (T& x : A) x = static_cast<T>(nd(gen));
  for (T& x : B) x = static_cast<T>(nd(gen));
  for (T& x : C) x = beta == T(0) ? std::numeric_limits<T>::quiet_NaN() : static_cast<T>(nd(gen));
  const std::vector<T> C0 = C;
  const int64_t a_rs = a_transposed ? 1 : lda, a_cs = a_transposed ? lda : 1;
  const int64_t b_rs = b_transposed ? 1 : ldb, b_cs = b_transposed ? ldb : 1;
  std::vector<T> Bp(static_cast<size_t>(block_gemm_packed_size<T>(k, n)));
  pack_b(B.data(), k, n, b_rs, b_cs, Bp.data());
  block_gemm(m, n, k, alpha, A.data(), a_rs, a_cs, Bp.data(), beta, C.data(), ldc);
  const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-13;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double s = 0, mag = 0;
      for (int64_t kk = 0; kk < k; ++kk) {
        const double p = double(A[i * a_rs + kk * a_cs]) * double(B[kk * b_rs + j * b_cs]);
        s += p;
        mag += std::fabs(p);
      }
      const double want = alpha * s + (beta == T(0) ? 0.0 : beta * double(C0[i * ldc + j]));
      const double scale = std::fabs(alpha) * mag + (beta == T(0) ? 0.0 : std::fabs(double(beta) * double(C0[i * ldc + j]))) + 1e-30;
      REQUIRE_MESSAGE(std::fabs(double(C[i * ldc + j]) - want) <= tol * scale,
                      "m=" << m << " n=" << n << " k=" << k << " at (" << i << ", " << j << ")");
    }
    for (int64_t j = n; j < ldc; ++j) REQUIRE(std::isnan(C[i * ldc + j]) == std::isnan(C0[i * ldc + j]));  // padding untouched
  }
}

template <class T>
void check_all() {
  std::mt19937 gen(7);
  const int64_t P = block_gemm_panel<T>();
  for (int64_t m : {1, 5, 6, 7, 13})
    for (int64_t n : {int64_t{1}, P / 2 + 1, P, P + 3, 2 * P + 1})
      for (int64_t k : {1, 9, 64})
        for (bool at : {false, true})
          for (bool bt : {false, true}) {
            check_case<T>(m, n, k, at, bt, T(0.375), T(0), gen);
            check_case<T>(m, n, k, at, bt, T(1), T(1), gen);
          }
}

}  // namespace

TEST_CASE("block_gemm equals the double loop for every operand layout and edge (float)") { check_all<float>(); }
TEST_CASE("block_gemm equals the double loop for every operand layout and edge (double)") { check_all<double>(); }

TEST_CASE("block_gemm: zero-sized products leave C as it was") {
  std::vector<float> C(6, 2.0f), A(6, 1.0f), Bp(64, 1.0f);
  block_gemm<float>(2, 3, 0, 1.0f, A.data(), 3, 1, Bp.data(), 1.0f, C.data(), 3);  // k = 0, beta 1: C unchanged
  for (float c : C) CHECK(c == 2.0f);
  block_gemm<float>(0, 3, 2, 1.0f, A.data(), 3, 1, Bp.data(), 0.0f, C.data(), 3);  // no rows
  block_gemm<float>(2, 0, 2, 1.0f, A.data(), 3, 1, Bp.data(), 0.0f, C.data(), 3);  // no columns
  for (float c : C) CHECK(c == 2.0f);
}

TEST_CASE("block_gemm: a vector epilogue gets each register with its row and first column, tails included") {
  std::mt19937 gen(11);
  std::normal_distribution<float> nd;
  constexpr int64_t W = BlockVec<float>::W;
  for (int64_t n : {int64_t{3}, W, W + 5, 2 * block_gemm_panel<float>() + 1})
    for (float beta : {0.0f, 1.0f}) {
      const int64_t m = 7, k = 5, ldc = n + 1;
      std::vector<float> A(m * k), B(k * n), C(m * ldc);
      for (float& x : A) x = nd(gen);
      for (float& x : B) x = nd(gen);
      for (float& x : C) x = nd(gen);
      const std::vector<float> C0 = C;
      std::vector<float> Bp(static_cast<size_t>(block_gemm_packed_size<float>(k, n)));
      pack_b(B.data(), k, n, n, 1, Bp.data());
      block_gemm(m, n, k, 1.0f, A.data(), k, 1, Bp.data(), beta, C.data(), ldc,
                 vec_epilogue([](int64_t i, int64_t j, auto v) { return v * 2.0f + static_cast<float>(i * 1000 + j); }));
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < ldc; ++j) {
          if (j >= n) {
            CHECK(C[i * ldc + j] == C0[i * ldc + j]);  // past n: untouched
            continue;
          }
          double s = beta * C0[i * ldc + j];
          for (int64_t kk = 0; kk < k; ++kk) s += double(A[i * k + kk]) * B[kk * n + j];
          const double want = 2 * s + double(i * 1000 + j / W * W);
          CHECK(std::fabs(C[i * ldc + j] - want) <= 1e-4 * (1 + std::fabs(want)));
        }
    }
}
