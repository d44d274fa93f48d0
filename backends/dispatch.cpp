// The one dispatch point: a device's backend.
#include <array>

#include "backends/backend.h"
#include "backends/profiler.h"
#include "backends/profiling_backend.h"
#include "backends/cpu/cpu_backend.h"
#ifdef MEMGRAD_HAVE_CUDA
#include "backends/cuda/cuda_backend.h"
#endif

namespace memgrad {
namespace {

std::array<Backend*, 2>& registry() {
  static cpu::CpuBackend cpu_backend;
#ifdef MEMGRAD_HAVE_CUDA
  static std::array<Backend*, 2> r{&cpu_backend, cuda::backend_if_available()};
#else
  static std::array<Backend*, 2> r{&cpu_backend, nullptr};
#endif
  return r;
}

}  // namespace

Backend& backend_for(Device d) {
  Backend* b = registry()[static_cast<size_t>(d.type)];
  if (!b) {
#ifdef MEMGRAD_HAVE_CUDA
    fail("device", "device {} is not available: no GPU was found at run time", d.str());
#else
    fail("device", "device {} is not available: memgrad was built without CUDA", d.str());
#endif
  }
  if (profiler::enabled()) [[unlikely]] return profiling_backend(*b, d);  // backends/profiler.h
  return *b;
}

void register_backend(DeviceType type, Backend* b) { registry()[static_cast<size_t>(type)] = b; }

Backend& backend_of(const char* op, std::initializer_list<const Tensor*> tensors) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors) {
    if (!t->defined()) continue;
    if (!first) first = t;
    else
      MG_CHECK(t->device() == first->device(), op, "tensors are on different devices: {} {} and {} {}",
               str(first->shape()), first->device().str(), str(t->shape()), t->device().str());
  }
  MG_CHECK(first != nullptr, op, "no defined tensor given");
  return backend_for(first->device());
}

}  // namespace memgrad
