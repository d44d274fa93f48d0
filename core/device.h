#pragma once
// Where a tensor's storage lives.
#include <string>
#include <string_view>

namespace memgrad {

enum class DeviceType : unsigned char { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  static constexpr Device cpu() { return {DeviceType::cpu, 0}; }
  static constexpr Device cuda(int i = 0) { return {DeviceType::cuda, i}; }
  // Parses "cpu", "cuda", "cuda:1".
  static Device parse(std::string_view s);

  bool is_cpu() const { return type == DeviceType::cpu; }
  bool is_cuda() const { return type == DeviceType::cuda; }
  std::string str() const;
  friend bool operator==(const Device&, const Device&) = default;
};

// True when this build has the CUDA backend and a GPU is present.
bool cuda_available();
int cuda_device_count();
// Waits until every kernel queued on the device has finished (a no-op for the CPU); for timing.
void synchronize(Device d = Device::cpu());

}  // namespace memgrad
