// Whether a GPU can be used: always false in a CPU-only build.
#include "core/device.h"
#include "core/error.h"

#ifdef MEMGRAD_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace memgrad {

int cuda_device_count() {
#ifdef MEMGRAD_HAVE_CUDA
  static const int n = [] {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
      cudaGetLastError();  // no driver or no GPU: clear the error, report none
      return 0;
    }
    return count;
  }();
  return n;
#else
  return 0;
#endif
}

bool cuda_available() { return cuda_device_count() > 0; }

void synchronize(Device d) {
  if (d.is_cpu()) return;
#ifdef MEMGRAD_HAVE_CUDA
  MG_CHECK(cuda_available(), "synchronize", "device {} is not available: no GPU was found at run time", d.str());
  const cudaError_t e = cudaDeviceSynchronize();
  MG_CHECK(e == cudaSuccess, "synchronize", "a kernel on {} failed: {} ({})", d.str(), cudaGetErrorName(e),
           cudaGetErrorString(e));
#else
  fail("synchronize", "device {} is not available: memgrad was built without CUDA", d.str());
#endif
}

}  // namespace memgrad
