// Fakes of what the GPU build links (the CUDA runtime, cuBLAS, backends/cuda/cuda_context.cpp),
// shared by the emulator's test programs; see fake_cuda.h.
#include "fake_cuda.h"

#include <cstdint>
#include <cstring>
#include <string>

#include "backends/cpu/cpu_backend.h"
#include "backends/cuda/cuda_check.h"
#include "core/error.h"

using namespace memgrad;

// ---- CUDA runtime: host memory stands for device memory; the stream is ignored ----
extern "C" {
cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind) {
  std::memcpy(dst, src, n);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t) {
  std::memset(p, v, n);
  return cudaSuccess;
}
}

// ---- cuBLAS: a naive column-major gemm (plain loops, float accumulation for float) ----
namespace {
template <class T>
void fake_gemm(cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n, int64_t k, const T* alpha,
               const T* A, int64_t lda, int64_t sa, const T* B, int64_t ldb, int64_t sb, const T* beta, T* C,
               int64_t ldc, int64_t sc, int64_t batch) {
  // C[m, n] = alpha op(A) op(B) + beta C per batch entry; beta == 0 ignores C (it may hold NaN)
  for (int64_t bt = 0; bt < batch; ++bt) {
    const T* a = A + bt * sa;
    const T* b = B + bt * sb;
    T* c = C + bt * sc;
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < m; ++i) {
        T acc = 0;
        for (int64_t l = 0; l < k; ++l) {
          const T x = ta == CUBLAS_OP_N ? a[i + l * lda] : a[l + i * lda];
          const T y = tb == CUBLAS_OP_N ? b[l + j * ldb] : b[j + l * ldb];
          acc += x * y;
        }
        T& out = c[i + j * ldc];
        out = *beta == T(0) ? *alpha * acc : *alpha * acc + *beta * out;
      }
  }
}
}  // namespace

extern "C" {
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const float* alpha, const float* A, int lda, long long sa,
                                         const float* B, int ldb, long long sb, const float* beta, float* C, int ldc,
                                         long long sc, int batch) {
  fake_gemm(ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDgemmStridedBatched(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const double* alpha, const double* A, int lda, long long sa,
                                         const double* B, int ldb, long long sb, const double* beta, double* C,
                                         int ldc, long long sc, int batch) {
  fake_gemm(ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSgemmStridedBatched_64(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int64_t m,
                                            int64_t n, int64_t k, const float* alpha, const float* A, int64_t lda,
                                            long long sa, const float* B, int64_t ldb, long long sb,
                                            const float* beta, float* C, int64_t ldc, long long sc, int64_t batch) {
  fake_gemm(ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDgemmStridedBatched_64(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int64_t m,
                                            int64_t n, int64_t k, const double* alpha, const double* A, int64_t lda,
                                            long long sa, const double* B, int64_t ldb, long long sb,
                                            const double* beta, double* C, int64_t ldc, long long sc, int64_t batch) {
  fake_gemm(ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch);
  return CUBLAS_STATUS_SUCCESS;
}
}

// ---- backends/cuda/cuda_context.cpp ----
namespace memgrad::cuda {

namespace {
cpu::CpuBackend& host_backend() {
  static cpu::CpuBackend b;
  return b;
}
Backend* copy_backend = nullptr;
}  // namespace

CudaBackend& emu_backend() {
  static CudaBackend b;
  return b;
}
void set_contiguous_copy_backend(Backend* backend) { copy_backend = backend; }

void check_cuda(cudaError_t e, const char* op, const char* call) {
  if (e != cudaSuccess) throw RuntimeError(std::string("[") + op + "] CUDA error in " + call + ": " + std::to_string(e));
}
void check_cublas(cublasStatus_t s, const char* op, const char* call) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw RuntimeError(std::string("[") + op + "] cuBLAS error in " + call + ": " + std::to_string(s));
}
void check_launch(const char*) {}  // the emulator throws at the launch itself
cublasHandle_t cublas() { return nullptr; }
Backend* backend_if_available() { return &emu_backend(); }

Tensor contiguous_copy(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  (copy_backend ? *copy_backend : host_backend()).copy(x, out);
  return out;
}

// ---- CudaBackend methods of the .cpp files a test program does not link ----
// Weak: the real definition wins where the test links its object file. A method added to
// CudaBackend needs a line here (else: "undefined reference to CudaBackend::..." at link time).
#define MG_EMU_STUB(ret, name, ...)                                                               \
  __attribute__((weak)) ret CudaBackend::name(__VA_ARGS__) {                                      \
    throw RuntimeError("emu: CudaBackend::" #name " is not linked into this test (fake_cuda.cpp)"); \
  }
MG_EMU_STUB(void, fill, Tensor&, double)
MG_EMU_STUB(void, arange, Tensor&, double, double)
MG_EMU_STUB(void, random, Tensor&, RandomKind, double, double, uint64_t, uint64_t)
MG_EMU_STUB(void, copy, const Tensor&, Tensor&)
MG_EMU_STUB(void, copy_across, const Tensor&, Tensor&)
MG_EMU_STUB(void, unary, UnaryOp, const Tensor&, Tensor&, double)
MG_EMU_STUB(void, unary_backward, UnaryOp, const Tensor&, const Tensor&, const Tensor&, Tensor&, double)
MG_EMU_STUB(void, binary, BinaryOp, const Tensor&, const Tensor&, Tensor&)
MG_EMU_STUB(void, where, const Tensor&, const Tensor&, const Tensor&, Tensor&)
MG_EMU_STUB(bool, all_finite, const Tensor&)
MG_EMU_STUB(void, linear_epilogue, Activation, Tensor&, const Tensor&, Tensor&)
MG_EMU_STUB(void, linear_epilogue_backward, Activation, const Tensor&, const Tensor&, Tensor&, Tensor&, Tensor&)
MG_EMU_STUB(void, reduce, ReduceOp, const Tensor&, const std::vector<int64_t>&, Tensor&)
MG_EMU_STUB(void, arg_reduce, ReduceOp, const Tensor&, int64_t, Tensor&, Tensor&)
MG_EMU_STUB(void, matmul, const Tensor&, const Tensor&, Tensor&, bool)
MG_EMU_STUB(void, softmax, const Tensor&, Tensor&, bool)
MG_EMU_STUB(void, softmax_backward, const Tensor&, const Tensor&, Tensor&, bool)
MG_EMU_STUB(void, layer_norm, const Tensor&, const Tensor&, const Tensor&, double, Tensor&, Tensor&, Tensor&)
MG_EMU_STUB(void, layer_norm_backward, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
            Tensor&, Tensor&, Tensor&)
MG_EMU_STUB(void, index_select, const Tensor&, int64_t, const Tensor&, Tensor&)
MG_EMU_STUB(void, index_add, Tensor&, int64_t, const Tensor&, const Tensor&)
MG_EMU_STUB(void, gather, const Tensor&, int64_t, const Tensor&, Tensor&)
MG_EMU_STUB(void, scatter_add, Tensor&, int64_t, const Tensor&, const Tensor&)
MG_EMU_STUB(void, cross_entropy, const Tensor&, const Tensor&, int64_t, double, Tensor&, Tensor&)
MG_EMU_STUB(void, cross_entropy_backward, const Tensor&, const Tensor&, const Tensor&, const Tensor&, int64_t, double,
            Tensor&)
MG_EMU_STUB(void, attention_chunked_forward, const Tensor&, const Tensor&, const Tensor&, const AttentionMods&,
            const AttentionParams&, Tensor&, Tensor&)
MG_EMU_STUB(void, attention_chunked_backward, const Tensor&, const Tensor&, const Tensor&, const AttentionMods&,
            const Tensor&, const Tensor&, const Tensor&, const AttentionParams&, Tensor&, Tensor&, Tensor&,
            AttentionModGrads&)
MG_EMU_STUB(void, attention_topk_forward, const Tensor&, const Tensor&, const Tensor&, const AttentionMods&,
            const AttentionParams&, Tensor&, Tensor&, Tensor&, Tensor&)
MG_EMU_STUB(void, attention_topk_backward, const Tensor&, const Tensor&, const Tensor&, const AttentionMods&,
            const Tensor&, const Tensor&, const Tensor&, const AttentionParams&, Tensor&, Tensor&, Tensor&,
            AttentionModGrads&)
MG_EMU_STUB(void, row_topk, Tensor&, const Tensor&, Tensor&, Tensor&)
MG_EMU_STUB(void, gather_rows_sum, const Tensor&, const Tensor&, const Tensor&, Tensor&)
MG_EMU_STUB(void, gather_rows_dot, const Tensor&, const Tensor&, const Tensor&, Tensor&)
MG_EMU_STUB(void, scatter_rows_add, Tensor&, const Tensor&, const Tensor&, const Tensor&)
MG_EMU_STUB(void, sgd_step, Tensor&, const Tensor&, Tensor&, double, double, double, double, bool, bool)
MG_EMU_STUB(void, adam_step, Tensor&, const Tensor&, Tensor&, Tensor&, double, double, double, double, double, bool,
            int64_t)
#undef MG_EMU_STUB

}  // namespace memgrad::cuda
