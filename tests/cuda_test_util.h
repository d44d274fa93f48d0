#pragma once
// Shared by the CUDA test suites: the skip rule and CPU-vs-GPU comparison helpers.
#include <doctest/doctest.h>

#include <cstdlib>

#include "ops_test_util.h"

namespace memgrad::cudatest {

// True (with a message saying why) when there is no GPU: the CUDA tests then check nothing else.
inline bool skip_without_gpu() {
  if (cuda_available()) return false;
#ifdef MEMGRAD_HAVE_CUDA
  MESSAGE("no GPU found at run time: CUDA test skipped (the CUDA backend was compiled and linked)");
#else
  MESSAGE("memgrad was built without CUDA: CUDA test skipped");
#endif
  return true;
}

inline const Device kGpu = Device::cuda(0);

// MEMGRAD_CUDA_TESTS_ON_CPU=1 on a machine without a GPU runs the CPU-vs-GPU suites with the CPU
// standing in for the GPU: it checks the test code itself (every case runs and compares), not CUDA.
inline bool dry_run_on_cpu() {
  static const bool on = [] {
    const char* v = std::getenv("MEMGRAD_CUDA_TESTS_ON_CPU");
    return !cuda_available() && v && *v && *v != '0';
  }();
  return on;
}
// The device the comparison suites run on: cuda:0, or the CPU in a dry run.
inline Device test_device() { return dry_run_on_cpu() ? Device::cpu() : kGpu; }
// Like skip_without_gpu, but lets a dry run through.
inline bool skip_without_test_device() {
  if (dry_run_on_cpu()) {
    MESSAGE("MEMGRAD_CUDA_TESTS_ON_CPU: dry run, the CPU stands in for the GPU");
    return false;
  }
  return skip_without_gpu();
}

// Float32 results of the GPU may differ from the CPU's by rounding (other summation orders).
inline double rtol_of(DType t) { return t == DType::float64 ? 1e-10 : 1e-5; }
inline double atol_of(DType t) { return t == DType::float64 ? 1e-12 : 1e-5; }

// Checks that the GPU tensor equals the CPU tensor (shape, dtype, values within tolerance).
inline void check_same(const Tensor& gpu, const Tensor& cpu, const std::string& what, double scale = 1) {
  INFO(what);
  REQUIRE(gpu.device() == test_device());
  REQUIRE(cpu.device().is_cpu());
  CHECK(gpu.shape() == cpu.shape());
  CHECK(gpu.dtype() == cpu.dtype());
  const std::string m = optest::mismatch(optest::vals(gpu), optest::vals(cpu), scale * rtol_of(cpu.dtype()),
                                         scale * atol_of(cpu.dtype()));
  CHECK_MESSAGE(m.empty(), what << ": " << m);
}

}  // namespace memgrad::cudatest
