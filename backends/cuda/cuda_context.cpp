// The CUDA backend's shared pieces: error checks, the cuBLAS handle, the backend instance.
#include <cstdlib>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_check.h"
#include "core/error.h"

namespace memgrad::cuda {

void check_cuda(cudaError_t e, const char* op, const char* call) {
  if (e == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so later calls can go on
  throw RuntimeError(fmt::format("[{}] CUDA error in {}: {} ({})", op, call, cudaGetErrorName(e), cudaGetErrorString(e)));
}

void check_cublas(cublasStatus_t s, const char* op, const char* call) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  throw RuntimeError(fmt::format("[{}] cuBLAS error in {}: {} ({})", op, call, cublasGetStatusName(s),
                                 cublasGetStatusString(s)));
}

void check_launch(const char* op) {
  static const bool sync = [] {
    const char* v = std::getenv("MEMGRAD_CUDA_SYNC");
    return v && *v && *v != '0';
  }();
  check_cuda(cudaGetLastError(), op, "kernel launch");
  if (sync) check_cuda(cudaDeviceSynchronize(), op, "kernel (MEMGRAD_CUDA_SYNC=1)");
}

cublasHandle_t cublas() {
  static cublasHandle_t handle = [] {
    cublasHandle_t h = nullptr;
    MG_CUBLAS_CHECK("cublas", cublasCreate(&h));
    // float32 stays float32: no TF32 tensor-core rounding unless a caller asks for it
    MG_CUBLAS_CHECK("cublas", cublasSetMathMode(h, CUBLAS_PEDANTIC_MATH));
    return h;
  }();  // never destroyed: the driver may be gone by the time static destructors run
  return handle;
}

Backend* backend_if_available() {
  if (cuda_device_count() == 0) return nullptr;
  static auto* b = new CudaBackend();
  return b;
}

Tensor contiguous_copy(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  backend_for(x.device()).copy(x, out);
  return out;
}

}  // namespace memgrad::cuda
