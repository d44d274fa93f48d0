// Whether a GPU can be used: always false in a CPU-only build.
#include "core/device.h"

#ifdef MEMGRAD_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace memgrad {

int cuda_device_count() {
#ifdef MEMGRAD_HAVE_CUDA
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
#else
  return 0;
#endif
}

bool cuda_available() { return cuda_device_count() > 0; }

}  // namespace memgrad
