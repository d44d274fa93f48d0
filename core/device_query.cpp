// Whether a GPU can be used: always false in a CPU-only build.
#include "core/device.h"

#include <chrono>
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

namespace {
double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

DeviceTimer::DeviceTimer(Device d) : device_(d) {
  if (d.is_cpu()) return;
#ifdef MEMGRAD_HAVE_CUDA
  MG_CHECK(cuda_available(), "DeviceTimer", "device {} is not available: no GPU was found at run time", d.str());
  for (void*& e : events_) {
    cudaEvent_t ev = nullptr;
    const cudaError_t r = cudaEventCreate(&ev);
    MG_CHECK(r == cudaSuccess, "DeviceTimer", "cudaEventCreate failed: {}", cudaGetErrorName(r));
    e = ev;
  }
#else
  fail("DeviceTimer", "device {} is not available: memgrad was built without CUDA", d.str());
#endif
}

DeviceTimer::~DeviceTimer() {
#ifdef MEMGRAD_HAVE_CUDA
  for (void* e : events_)
    if (e) cudaEventDestroy(static_cast<cudaEvent_t>(e));
#endif
}

void DeviceTimer::start() {
  if (device_.is_cpu()) {
    t0_ = now_seconds();
    return;
  }
#ifdef MEMGRAD_HAVE_CUDA
  const cudaError_t r = cudaEventRecord(static_cast<cudaEvent_t>(events_[0]), 0);
  MG_CHECK(r == cudaSuccess, "DeviceTimer", "cudaEventRecord failed: {}", cudaGetErrorName(r));
#endif
}

double DeviceTimer::stop() {
  if (device_.is_cpu()) return now_seconds() - t0_;
#ifdef MEMGRAD_HAVE_CUDA
  auto* a = static_cast<cudaEvent_t>(events_[0]);
  auto* b = static_cast<cudaEvent_t>(events_[1]);
  cudaError_t r = cudaEventRecord(b, 0);
  if (r == cudaSuccess) r = cudaEventSynchronize(b);
  float ms = 0;
  if (r == cudaSuccess) r = cudaEventElapsedTime(&ms, a, b);
  MG_CHECK(r == cudaSuccess, "DeviceTimer", "timing with CUDA events failed: {} ({})", cudaGetErrorName(r),
           cudaGetErrorString(r));
  return ms * 1e-3;
#else
  return 0;
#endif
}

}  // namespace memgrad
