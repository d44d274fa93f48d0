#pragma once
// Every CUDA API call, kernel launch and cuBLAS call is checked; a failure throws RuntimeError
// naming the op, the call and the CUDA error. Host code only (uses fmt).
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

namespace memgrad::cuda {

// Throws "[op] CUDA error in <call>: <name> (<description>)" unless e == cudaSuccess.
void check_cuda(cudaError_t e, const char* op, const char* call);
void check_cublas(cublasStatus_t s, const char* op, const char* call);
// After a kernel launch: catches launch errors (bad configuration, no kernel image for this GPU).
// With MEMGRAD_CUDA_SYNC=1 it also synchronises, so an error inside the kernel names this op.
void check_launch(const char* op);

}  // namespace memgrad::cuda

#define MG_CUDA_CHECK(op, call) ::memgrad::cuda::check_cuda((call), op, #call)
#define MG_CUBLAS_CHECK(op, call) ::memgrad::cuda::check_cublas((call), op, #call)
