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

// Times work on a device: CUDA events recorded on the stream for a GPU (the kernels' own time, no
// host round trip in between), the steady clock for the CPU. start() ... stop() returns seconds.
class DeviceTimer {
 public:
  explicit DeviceTimer(Device d = Device::cpu());
  ~DeviceTimer();
  DeviceTimer(const DeviceTimer&) = delete;
  DeviceTimer& operator=(const DeviceTimer&) = delete;
  void start();
  double stop();  // waits for the work issued since start() on a GPU

 private:
  Device device_;
  void* events_[2] = {nullptr, nullptr};  // cudaEvent_t
  double t0_ = 0;
};

}  // namespace memgrad
