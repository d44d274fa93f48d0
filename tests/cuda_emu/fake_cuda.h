#pragma once
// What the emulator's test programs link instead of the CUDA runtime, cuBLAS and
// backends/cuda/cuda_context.cpp (fake_cuda.cpp): every "device" pointer is a host pointer, so
// tensors on the CPU device are passed straight to CudaBackend, whose kernels run in the emulator.
// Host-side code: compiled against the real CUDA headers, never against include/cuda_runtime.h.
#include "backends/cuda/cuda_backend.h"
#include "include/emu_control.h"

namespace memgrad::cuda {

// The CudaBackend under test. Its methods whose .cpp a test program does not link are weak stubs
// in fake_cuda.cpp that throw RuntimeError("... not linked into this test").
CudaBackend& emu_backend();

// contiguous_copy (used by the backend for non-contiguous inputs) copies with CpuBackend, unless a
// test that links the emulated copy kernel (cuda_elementwise) sets this to emu_backend().
void set_contiguous_copy_backend(Backend* backend);

}  // namespace memgrad::cuda
